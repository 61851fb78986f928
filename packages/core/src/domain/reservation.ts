import type { CartLine, LineReservation, ReservationFailure } from './cart.js';
import { newJob, type ReservationJob } from './job.js';

/** What changing a line's reservation produced: the new line and the jobs to persist with it. */
export interface ReservationChange {
  readonly line: CartLine;
  readonly jobs: readonly ReservationJob[];
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

/**
 * A release job for the line's current reservation, when it has an external id.
 * A pending reservation has none yet: its job notices it was superseded and
 * releases whatever it obtains.
 */
export function releaseJobFor(line: CartLine, ctx: TransitionContext): ReservationJob[] {
  const r = line.reservation;
  if (r === null || r.status !== 'reserved' || r.reservationId === null) return [];
  return [
    newJob({
      id: ctx.newId(),
      kind: 'release',
      cartId: ctx.cartId,
      itemName: line.name,
      quantity: r.quantity,
      reservationId: r.reservationId,
      now: ctx.now,
    }),
  ];
}

/** Starts a new reservation for the line's current quantity: line goes `pending`, one job. */
export function startReservation(line: CartLine, ctx: TransitionContext): ReservationChange {
  const job = newJob({
    id: ctx.newId(),
    kind: 'reserve',
    cartId: ctx.cartId,
    itemName: line.name,
    quantity: line.quantity,
    now: ctx.now,
  });
  const reservation: LineReservation = {
    status: 'pending',
    jobId: job.id,
    quantity: line.quantity,
    reservationId: null,
    attempts: 0,
    lastError: null,
    requestedAt: iso(ctx.now),
    updatedAt: iso(ctx.now),
  };
  return { line: { ...line, reservation, updatedAt: iso(ctx.now) }, jobs: [job] };
}

/**
 * An explicit reservation request. Pending: nothing new. Reserved for the current
 * quantity: nothing new. Otherwise (none, failed, or reserved for another quantity):
 * release what is held and start a new reservation.
 */
export function requestReservation(line: CartLine, ctx: TransitionContext): ReservationChange {
  const r = line.reservation;
  if (r !== null && r.status === 'pending' && r.quantity === line.quantity)
    return { line, jobs: [] };
  if (r !== null && r.status === 'reserved' && r.quantity === line.quantity)
    return { line, jobs: [] };
  const release = releaseJobFor(line, ctx);
  const started = startReservation(line, ctx);
  return { line: started.line, jobs: [...release, ...started.jobs] };
}

/**
 * Reconciles the reservation after the line's quantity changed from `before` to
 * `after.quantity`: the old reservation is released (or, if pending, superseded),
 * and a new one is started when the line had an active one or `autoReserve` is on.
 */
export function afterQuantityChange(
  before: CartLine,
  after: CartLine,
  autoReserve: boolean,
  ctx: TransitionContext,
): ReservationChange {
  const release = releaseJobFor(before, ctx);
  if (autoReserve || isActive(before.reservation)) {
    const started = startReservation(after, ctx);
    return { line: started.line, jobs: [...release, ...started.jobs] };
  }
  return { line: { ...after, reservation: null }, jobs: release };
}

/** Applies `patch` to the line's reservation (if it has one), stamping `updatedAt`. */
function patchReservation(line: CartLine, patch: Partial<LineReservation>, now: number): CartLine {
  const r = line.reservation;
  if (r === null) return line;
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

/** Marks the line's reservation `failed` with the last error. */
export function markFailed(
  line: CartLine,
  failure: ReservationFailure,
  attempts: number,
  now: number,
): CartLine {
  return patchReservation(line, { status: 'failed', attempts, lastError: failure }, now);
}
