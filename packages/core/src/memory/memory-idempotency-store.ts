import { ConflictError, ErrorCode, StorageError } from '../errors/index.js';
import { type Clock, systemClock } from '../ports/clock.js';
import type {
  CompletedIdempotencyRecord,
  IdempotencyClaim,
  IdempotencyRecord,
  IdempotencyStore,
} from '../ports/idempotency.js';

/** Options of {@link MemoryIdempotencyStore}. */
export interface MemoryIdempotencyStoreOptions {
  /** Clock of leases and expiry. Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * The reference {@link IdempotencyStore}: records in process memory, lost on exit.
 * A {@link MemoryCartStorage} has one (`storage.idempotency`) and completes its
 * records in the same synchronous step as a cart save.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #records = new Map<string, IdempotencyRecord>();
  readonly #clock: Clock;
  #closed = false;

  constructor(options: MemoryIdempotencyStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async claim(record: IdempotencyRecord): Promise<IdempotencyClaim> {
    this.#open();
    const existing = this.#live(record.key);
    if (existing !== undefined && !canTakeOverClaim(existing, record, this.#clock.now())) {
      return { claimed: false, existing: structuredClone(existing) };
    }
    this.#records.set(record.key, structuredClone(record));
    return { claimed: true };
  }

  async complete(record: CompletedIdempotencyRecord): Promise<void> {
    this.#open();
    if (this.#live(record.key)?.status === 'completed') return;
    this.#records.set(record.key, structuredClone(record));
  }

  async release(key: string, fingerprint: string): Promise<void> {
    this.#open();
    const existing = this.#live(key);
    if (existing?.status === 'in-progress' && existing.fingerprint === fingerprint) {
      this.#records.delete(key);
    }
  }

  async get(key: string): Promise<IdempotencyRecord | undefined> {
    this.#open();
    const record = this.#live(key);
    return record === undefined ? undefined : structuredClone(record);
  }

  /**
   * For the cart storage that owns this store: checks that `records` may complete
   * their keys (none completed yet, no key twice) and returns the step that writes
   * them, to run in the same synchronous step as the cart save.
   * @throws ConflictError `IDEMPOTENCY_KEY_COMPLETED` when a key is already completed.
   * @internal
   */
  prepareCompletions(records: readonly CompletedIdempotencyRecord[]): () => void {
    this.#open();
    const seen = new Set<string>();
    for (const record of records) {
      if (seen.has(record.key) || this.#live(record.key)?.status === 'completed') {
        throw ConflictError.idempotencyKeyCompleted(record.key);
      }
      seen.add(record.key);
    }
    const copies = records.map((record) => structuredClone(record));
    return () => {
      for (const copy of copies) this.#records.set(copy.key, copy);
    };
  }

  /** Further calls fail with `CLOSED`. */
  close(): void {
    this.#closed = true;
  }

  #live(key: string): IdempotencyRecord | undefined {
    const record = this.#records.get(key);
    if (record === undefined) return undefined;
    if (record.expiresAt <= this.#clock.now()) {
      this.#records.delete(key);
      return undefined;
    }
    return record;
  }

  #open(): void {
    if (this.#closed) throw new StorageError(ErrorCode.CLOSED, 'Storage is closed.');
  }
}

/**
 * Whether a claim `record` may take over the live `existing` one: an in-progress
 * claim of the same request whose lease has passed (its request died or overran;
 * a claim with no lease, written before leases existed, counts as lapsed).
 * Shared by adapters so every store decides alike.
 */
export function canTakeOverClaim(
  existing: IdempotencyRecord,
  record: IdempotencyRecord,
  now: number,
): boolean {
  return (
    existing.status === 'in-progress' &&
    existing.fingerprint === record.fingerprint &&
    (existing.leaseUntil ?? Number.NEGATIVE_INFINITY) <= now
  );
}
