import type { Cart } from '../domain/cart.js';
import type { ReservationJob } from '../domain/job.js';
import { ConflictError, ErrorCode, StorageError } from '../errors/index.js';
import { type Clock, systemClock } from '../ports/clock.js';
import type {
  CartStorage,
  IdempotencyRecord,
  ListJobsOptions,
  SaveCartOptions,
} from '../ports/storage.js';

/** Options of {@link MemoryCartStorage}. */
export interface MemoryCartStorageOptions {
  /** Clock used to expire idempotency records. Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * The reference {@link CartStorage}: everything in process memory, lost on exit.
 * Honours the whole contract (compare-and-set, atomic cart + jobs, copies in and
 * out), so it is what unit tests of apps and the contract suites start from.
 */
export class MemoryCartStorage implements CartStorage {
  readonly #carts = new Map<string, Cart>();
  readonly #jobs = new Map<string, ReservationJob>();
  readonly #records = new Map<string, IdempotencyRecord>();
  readonly #clock: Clock;
  #closed = false;

  constructor(options: MemoryCartStorageOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async getCart(cartId: string): Promise<Cart | undefined> {
    this.#open();
    const cart = this.#carts.get(cartId);
    return cart === undefined ? undefined : structuredClone(cart);
  }

  async saveCart(cart: Cart, options: SaveCartOptions): Promise<void> {
    this.#open();
    const storedVersion = this.#carts.get(cart.id)?.version ?? 0;
    if (storedVersion !== options.expectedVersion || cart.version !== options.expectedVersion + 1) {
      throw ConflictError.versionConflict(
        `cart "${cart.id}"`,
        storedVersion,
        options.expectedVersion,
      );
    }
    for (const job of options.jobs ?? []) {
      if (this.#jobs.has(job.id))
        throw ConflictError.versionConflict(`job "${job.id}"`, 'existing', 'new');
    }
    this.#carts.set(cart.id, structuredClone(cart));
    for (const job of options.jobs ?? []) this.#jobs.set(job.id, structuredClone(job));
  }

  async getJob(jobId: string): Promise<ReservationJob | undefined> {
    this.#open();
    const job = this.#jobs.get(jobId);
    return job === undefined ? undefined : structuredClone(job);
  }

  async updateJob(job: ReservationJob, expectedVersion: number): Promise<void> {
    this.#open();
    const stored = this.#jobs.get(job.id);
    if (
      stored === undefined ||
      stored.version !== expectedVersion ||
      job.version !== expectedVersion + 1
    ) {
      throw ConflictError.versionConflict(
        `job "${job.id}"`,
        stored?.version ?? 'missing',
        expectedVersion,
      );
    }
    this.#jobs.set(job.id, structuredClone(job));
  }

  async deleteJob(jobId: string, expectedVersion: number): Promise<void> {
    this.#open();
    const stored = this.#jobs.get(jobId);
    if (stored === undefined || stored.version !== expectedVersion) {
      throw ConflictError.versionConflict(
        `job "${jobId}"`,
        stored?.version ?? 'missing',
        expectedVersion,
      );
    }
    this.#jobs.delete(jobId);
  }

  async listJobs(options: ListJobsOptions = {}): Promise<ReservationJob[]> {
    this.#open();
    const due = options.dueBefore;
    const jobs = [...this.#jobs.values()]
      .filter((job) => due === undefined || job.runAt <= due)
      .sort((a, b) => a.runAt - b.runAt || a.createdAt - b.createdAt);
    return structuredClone(options.limit === undefined ? jobs : jobs.slice(0, options.limit));
  }

  async createIdempotencyRecord(record: IdempotencyRecord): Promise<boolean> {
    this.#open();
    if (this.#live(record.key) !== undefined) return false;
    this.#records.set(record.key, structuredClone(record));
    return true;
  }

  async getIdempotencyRecord(key: string): Promise<IdempotencyRecord | undefined> {
    this.#open();
    const record = this.#live(key);
    return record === undefined ? undefined : structuredClone(record);
  }

  async putIdempotencyRecord(record: IdempotencyRecord): Promise<void> {
    this.#open();
    this.#records.set(record.key, structuredClone(record));
  }

  async deleteIdempotencyRecord(key: string): Promise<void> {
    this.#open();
    this.#records.delete(key);
  }

  async close(): Promise<void> {
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
