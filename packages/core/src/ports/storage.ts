import type { CartStore } from './cart-store.js';
import type { Outbox } from './outbox.js';

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

/**
 * What a storage adapter provides: carts with their transactional outbox
 * ({@link CartStore}), the {@link Outbox} schedulers take tasks from, and the HTTP
 * layer's idempotency records. `createCart({ storage })` takes one of these.
 */
export interface CartStorage extends CartStore, Outbox {
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
}
