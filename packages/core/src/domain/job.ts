import type { ReservationFailure } from './cart.js';

/** What a reservation job does at the external service. */
export type ReservationJobKind = 'reserve' | 'release';

/** Who holds a job right now, and until when (epoch milliseconds). */
export interface JobLease {
  /** Identifies the scheduler instance (process) that claimed the job. */
  readonly owner: string;
  /** The claim expires at this time; another owner may then take the job over. */
  readonly until: number;
}

/**
 * A persisted unit of background work: reserve a line's quantity, or release a
 * reservation that is no longer wanted. A job is stored before the request that
 * caused it is answered and deleted once it has settled; its outcome is recorded on
 * the cart line.
 */
export interface ReservationJob {
  /** Unique id of the job record. */
  readonly id: string;
  /**
   * The `Idempotency-Key` sent on every attempt. Usually the job id; a job that
   * must recover what an earlier job may have reserved replays that job's key.
   */
  readonly idempotencyKey: string;
  /** `reserve` or `release`. */
  readonly kind: ReservationJobKind;
  /** The cart the line belongs to. */
  readonly cartId: string;
  /** The line's item name. */
  readonly itemName: string;
  /** The quantity to reserve (or that the released reservation was for). */
  readonly quantity: number;
  /** For `release` jobs: the external reservation id to release. */
  readonly reservationId: string | null;
  /** Attempts started so far (incremented when an attempt claims the job). */
  readonly attempts: number;
  /** Earliest time of the next attempt, epoch milliseconds. */
  readonly runAt: number;
  /** The current claim, or `null` when nobody is running the job. */
  readonly lease: JobLease | null;
  /** Why the previous attempt failed, if it did. */
  readonly lastError: ReservationFailure | null;
  /** When the job was created, epoch milliseconds. */
  readonly createdAt: number;
  /** Compare-and-set version of the job record; 1 when first stored. */
  readonly version: number;
}

/** Creates a new job record (version 1, due now, unclaimed). */
export function newJob(fields: {
  id: string;
  kind: ReservationJobKind;
  cartId: string;
  itemName: string;
  quantity: number;
  reservationId?: string | null;
  /** Default: the job id. */
  idempotencyKey?: string;
  now: number;
}): ReservationJob {
  return {
    id: fields.id,
    idempotencyKey: fields.idempotencyKey ?? fields.id,
    kind: fields.kind,
    cartId: fields.cartId,
    itemName: fields.itemName,
    quantity: fields.quantity,
    reservationId: fields.reservationId ?? null,
    attempts: 0,
    runAt: fields.now,
    lease: null,
    lastError: null,
    createdAt: fields.now,
    version: 1,
  };
}
