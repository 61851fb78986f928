import type { CartLine, LineReservation, ReservationFailure } from './cart.js';
import { newTask, type ReservationTask } from './task.js';

/** What changing a line's reservation produced: the new line and the tasks to commit with it. */
export interface ReservationChange {
  readonly line: CartLine;
  readonly tasks: readonly ReservationTask[];
}

/** Inputs every transition needs: where the line lives, the time, and an id source. */
export interface TransitionContext {
  readonly cartId: string;
  readonly now: number;
  readonly newId: () => string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** True when the line holds (or is getting) a reservation at the external service. */
export function isActive(reservation: LineReservation | null): boolean {
  return reservation !== null && reservation.status !== 'failed';
}

/** Failure codes after which the service may hold a reservation we never heard of. */
const UNCERTAIN_FAILURES: ReadonlySet<string> = new Set([
  'RESERVATION_UNAVAILABLE',
  'RESERVATION_ABORTED',
  // The reserver was closed under a call in flight: the request may have reached the service.
  'CLOSED',
  // A 2xx the cart could not use: the service acted, but we have no id.
  'RESERVATION_BAD_RESPONSE',
]);

/**
 * True when attempts were sent and the last one ended without a usable verdict
 * (timeout, 5xx, network, a 2xx without a reservation id): an attempt may have
 * reserved and its answer was lost or unusable.
 */
export function mayFollowUncertainFailure(
  attempts: number,
  lastErrorCode: string | undefined,
): boolean {
  return attempts > 0 && lastErrorCode !== undefined && UNCERTAIN_FAILURES.has(lastErrorCode);
}

/**
 * True when a failed reservation may nonetheless exist at the service (see
 * {@link mayFollowUncertainFailure}). Its idempotency key can still recover it.
 */
export function mayBeHeld(reservation: LineReservation | null): boolean {
  return (
    reservation !== null &&
    reservation.status === 'failed' &&
    mayFollowUncertainFailure(reservation.attempts, reservation.lastError?.code)
  );
}

/**
 * The task that gives back what the line's reservation holds at the service:
 * - `reserved`: a release of its external id;
 * - `failed` but {@link mayBeHeld}: a release that first recovers the id by
 *   replaying the reservation's idempotency key;
 * - otherwise nothing. A `pending` reservation's task notices it was superseded and
 *   releases whatever it obtains.
 */
export function releaseTaskFor(line: CartLine, ctx: TransitionContext): ReservationTask[] {
  const r = line.reservation;
  if (r === null) return [];
  const release = (reservationId: string | null, idempotencyKey?: string) =>
    newTask({
      id: ctx.newId(),
      kind: 'release',
      cartId: ctx.cartId,
      itemName: line.name,
      quantity: r.quantity,
      reservationId,
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      now: ctx.now,
    });
  if (r.status === 'reserved' && r.reservationId !== null) return [release(r.reservationId)];
  if (mayBeHeld(r)) return [release(null, r.idempotencyKey)];
  return [];
}

/**
 * Starts a new reservation for the line's current quantity: line goes `pending`,
 * one task (with a new id). `idempotencyKey` defaults to the new task's id; pass an
 * earlier reservation's key to recover what it may hold instead of reserving anew.
 */
export function startReservation(
  line: CartLine,
  ctx: TransitionContext,
  idempotencyKey?: string,
): ReservationChange {
  const task = newTask({
    id: ctx.newId(),
    kind: 'reserve',
    cartId: ctx.cartId,
    itemName: line.name,
    quantity: line.quantity,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    now: ctx.now,
  });
  const reservation: LineReservation = {
    status: 'pending',
    jobId: task.id,
    idempotencyKey: task.idempotencyKey,
    quantity: line.quantity,
    reservationId: null,
    attempts: 0,
    lastError: null,
    requestedAt: iso(ctx.now),
    updatedAt: iso(ctx.now),
  };
  return { line: { ...line, reservation, updatedAt: iso(ctx.now) }, tasks: [task] };
}

/**
 * An explicit reservation request. Pending or reserved for the current quantity:
 * nothing new. Failed in a way that may have reserved after all, same quantity: a
 * new task replaying the *same* idempotency key, so the service answers with what it
 * may hold instead of reserving twice. Otherwise: release what is held and start anew.
 */
export function requestReservation(line: CartLine, ctx: TransitionContext): ReservationChange {
  const r = line.reservation;
  // Pending: its task settles the line's current quantity when it runs (see
  // afterQuantityChange), so asking again changes nothing.
  if (
    r !== null &&
    (r.status === 'pending' || (r.status === 'reserved' && r.quantity === line.quantity))
  ) {
    return { line, tasks: [] };
  }
  if (r !== null && mayBeHeld(r) && r.quantity === line.quantity)
    return startReservation(line, ctx, r.idempotencyKey);
  const release = releaseTaskFor(line, ctx);
  const started = startReservation(line, ctx);
  return { line: started.line, tasks: [...release, ...started.tasks] };
}

/**
 * Reconciles the reservation after the line's quantity changed from `before` to
 * `after.quantity`. A `pending` reservation is kept as it is, with no new task: its
 * task settles the line's quantity when it runs (it hands over to a task for the
 * new quantity if it has not reached the service yet, else adjusts once it has
 * reserved), so a burst of changes costs one adjustment, not one per change.
 * Otherwise the old reservation is released and a new one is started when the line
 * had an active one or `autoReserve` is on.
 */
export function afterQuantityChange(
  before: CartLine,
  after: CartLine,
  autoReserve: boolean,
  ctx: TransitionContext,
): ReservationChange {
  if (before.reservation?.status === 'pending') {
    return { line: { ...after, reservation: before.reservation }, tasks: [] };
  }
  const release = releaseTaskFor(before, ctx);
  if (autoReserve || isActive(before.reservation)) {
    const started = startReservation(after, ctx);
    return { line: started.line, tasks: [...release, ...started.tasks] };
  }
  return { line: { ...after, reservation: null }, tasks: release };
}

/**
 * Applies `patch` to the line's reservation, stamping `updatedAt`. A `reserved`
 * reservation is final for its task: late news of a failed or retried attempt of the
 * same task (a timed-out attempt whose success was recorded meanwhile) never
 * downgrades it.
 */
function patchReservation(
  line: CartLine,
  patch: Partial<LineReservation>,
  now: number,
  overReserved = false,
): CartLine {
  const r = line.reservation;
  if (r === null || (r.status === 'reserved' && !overReserved)) return line;
  return { ...line, reservation: { ...r, ...patch, updatedAt: iso(now) } };
}

/** Marks the line's reservation `reserved` with the external id. */
export function markReserved(
  line: CartLine,
  reservationId: string,
  attempts: number,
  now: number,
): CartLine {
  return patchReservation(
    line,
    { status: 'reserved', reservationId, attempts, lastError: null },
    now,
    true,
  );
}

/** Records a failed attempt that will be retried: stays `pending`, with attempts and last error. */
export function markRetrying(
  line: CartLine,
  failure: ReservationFailure,
  attempts: number,
  now: number,
): CartLine {
  return patchReservation(line, { attempts, lastError: failure }, now);
}

/** Marks the line's reservation `failed` with the last error (never a `reserved` one). */
export function markFailed(
  line: CartLine,
  failure: ReservationFailure,
  attempts: number,
  now: number,
): CartLine {
  return patchReservation(line, { status: 'failed', attempts, lastError: failure }, now);
}
