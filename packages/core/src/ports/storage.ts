import type { Cart } from '../domain/cart.js';
import type { ReservationJob } from '../domain/job.js';

/** Options of {@link CartStorage.saveCart}. */
export interface SaveCartOptions {
  /**
   * The version the caller read. The save succeeds only if the stored cart still
   * has this version (0: the cart must not exist yet); otherwise it throws a
   * `ConflictError` with code `VERSION_CONFLICT` and writes nothing.
   */
  readonly expectedVersion: number;
  /** New jobs to store in the same atomic write as the cart. */
  readonly jobs?: readonly ReservationJob[];
}

/** A response recorded for an idempotent HTTP request, replayed on retries. */
export interface StoredResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

/** The state of an idempotency key (IETF httpapi `Idempotency-Key` semantics). */
export interface IdempotencyRecord {
  /** The full key, already scoped by the caller (e.g. cart id + client key). */
  readonly key: string;
  /** Fingerprint of the first request; a retry with another fingerprint is refused. */
  readonly fingerprint: string;
  /** `in-progress` while the first request runs, then `completed` with its response. */
  readonly status: 'in-progress' | 'completed';
  /** The first request's response, once completed. */
  readonly response: StoredResponse | null;
  /** When the record expires, epoch milliseconds. Expired records are invisible. */
  readonly expiresAt: number;
}

/** Options of {@link CartStorage.listJobs}. */
export interface ListJobsOptions {
  /** Only jobs whose `runAt` is at or before this time (epoch ms). */
  readonly dueBefore?: number;
  /** At most this many jobs, earliest `runAt` first. */
  readonly limit?: number;
}

/**
 * Port: durable storage of carts, reservation jobs and idempotency records.
 *
 * Contract (checked by `storageContractSuite` in `@cartkit/testing`):
 * - `saveCart` is compare-and-set on `version`: a stale save fails with
 *   `VERSION_CONFLICT` and never overwrites; cart and jobs are written atomically.
 * - Jobs are stored until deleted; `updateJob` and `deleteJob` are compare-and-set
 *   on the job's `version`. Every stored job is unfinished: settled jobs are deleted.
 * - Values read back are equal to what was written (no shared mutable references).
 * - Errors are `StorageError`s (`STORAGE_FAILURE`, `STORAGE_CORRUPT_DATA`, ...) or
 *   `ConflictError`s; never raw driver errors.
 */
export interface CartStorage {
  /** Reads a cart, or `undefined` if it was never saved. */
  getCart(cartId: string): Promise<Cart | undefined>;

  /**
   * Saves `cart` (whose `version` must be `expectedVersion + 1`) and `jobs`
   * atomically, if the stored version is still `expectedVersion`.
   * @throws ConflictError `VERSION_CONFLICT` when another writer got there first.
   */
  saveCart(cart: Cart, options: SaveCartOptions): Promise<void>;

  /** Reads a job, or `undefined` if it does not exist (never stored or settled). */
  getJob(jobId: string): Promise<ReservationJob | undefined>;

  /**
   * Replaces a job if its stored version is `expectedVersion` (`job.version` must be
   * `expectedVersion + 1`). Used to claim a job and to record retries.
   * @throws ConflictError `VERSION_CONFLICT` if the job changed or is gone.
   */
  updateJob(job: ReservationJob, expectedVersion: number): Promise<void>;

  /**
   * Deletes a settled job if its stored version is `expectedVersion`.
   * @throws ConflictError `VERSION_CONFLICT` if the job changed or is gone.
   */
  deleteJob(jobId: string, expectedVersion: number): Promise<void>;

  /** Lists stored (unfinished) jobs, earliest `runAt` first, without scanning carts. */
  listJobs(options?: ListJobsOptions): Promise<ReservationJob[]>;

  /**
   * Stores `record` if no live (unexpired) record has its key.
   * @returns `true` if stored, `false` if a live record already exists.
   */
  createIdempotencyRecord(record: IdempotencyRecord): Promise<boolean>;

  /** Reads a live idempotency record, or `undefined` (absent or expired). */
  getIdempotencyRecord(key: string): Promise<IdempotencyRecord | undefined>;

  /** Replaces an idempotency record (e.g. to complete it with its response). */
  putIdempotencyRecord(record: IdempotencyRecord): Promise<void>;

  /** Deletes an idempotency record (e.g. when its first request failed). */
  deleteIdempotencyRecord(key: string): Promise<void>;

  /** Releases resources (connections, file handles). Further calls fail with `CLOSED`. */
  close(): Promise<void>;
}
