/** What a reservation task does at the external service. */
export type ReservationTaskKind = 'reserve' | 'release';

/**
 * A unit of background work, written to the outbox in the same atomic write as the
 * cart change that caused it: reserve a line's quantity, or release a reservation
 * that is no longer wanted. Its outcome is recorded on the cart line.
 *
 * A task carries no delivery state: attempts, due times, leases and the last error
 * belong to the outbox and the scheduler that deliver it (the line shows the
 * attempts and last error its user needs).
 */
export interface ReservationTask {
  /** Unique id: the line's `reservation.jobId` and a queue's de-duplication id. */
  readonly id: string;
  /**
   * The `Idempotency-Key` sent on every attempt. Usually the task id; a task that
   * must recover what an earlier one may have reserved replays that task's key.
   */
  readonly idempotencyKey: string;
  /** `reserve` or `release`. */
  readonly kind: ReservationTaskKind;
  /** The cart the line belongs to. */
  readonly cartId: string;
  /** The line's item name. */
  readonly itemName: string;
  /** The quantity to reserve (or that the released reservation was for). */
  readonly quantity: number;
  /** For `release` tasks: the external reservation id to release (`null`: recover it by key first). */
  readonly reservationId: string | null;
  /** When the task was created, epoch milliseconds. */
  readonly createdAt: number;
}

/** Creates a task. `idempotencyKey` defaults to the id, `reservationId` to `null`. */
export function newTask(fields: {
  id: string;
  kind: ReservationTaskKind;
  cartId: string;
  itemName: string;
  quantity: number;
  reservationId?: string | null;
  idempotencyKey?: string;
  now: number;
}): ReservationTask {
  return {
    id: fields.id,
    idempotencyKey: fields.idempotencyKey ?? fields.id,
    kind: fields.kind,
    cartId: fields.cartId,
    itemName: fields.itemName,
    quantity: fields.quantity,
    reservationId: fields.reservationId ?? null,
    createdAt: fields.now,
  };
}
