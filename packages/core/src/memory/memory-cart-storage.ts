import type { Cart } from '../domain/cart.js';
import { freezeCart } from '../domain/freeze.js';
import type { ReservationTask } from '../domain/task.js';
import { ConflictError, ErrorCode, StorageError } from '../errors/index.js';
import type { SaveCartOptions } from '../ports/cart-store.js';
import { type Clock, systemClock } from '../ports/clock.js';
import type { ClaimedTask, ClaimOptions } from '../ports/outbox.js';
import type { CartStorage } from '../ports/storage.js';
import { MemoryIdempotencyStore } from './memory-idempotency-store.js';

/** An outbox entry: the task and its delivery state. */
interface OutboxEntry {
  readonly task: ReservationTask;
  availableAt: number;
  attempts: number;
  leaseOwner: string | null;
  leaseUntil: number;
}

/** Options of {@link MemoryCartStorage}. */
export interface MemoryCartStorageOptions {
  /** Clock of due times, leases and idempotency record expiry. Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * The reference {@link CartStorage}: carts, their outbox and idempotency records in
 * process memory, lost on exit. Honours the whole contract (compare-and-set, atomic
 * cart + tasks + completed idempotency record, leased claims, a copy taken on save), so it is what unit tests of apps
 * and the contract suites start from. One process only. A saved cart is kept as a
 * frozen copy ({@link freezeCart}) and every read returns that same object: nothing
 * can change it, and reads cost no copy (an HTTP layer may cache what it derives
 * from a cart object, as `@cartkit/express` does).
 */
export class MemoryCartStorage implements CartStorage {
  readonly #carts = new Map<string, Cart>();
  readonly #outbox = new Map<string, OutboxEntry>();
  readonly #clock: Clock;
  /** The idempotency records, completed atomically with cart saves. */
  readonly idempotency: MemoryIdempotencyStore;
  #closed = false;

  constructor(options: MemoryCartStorageOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.idempotency = new MemoryIdempotencyStore({ clock: this.#clock });
  }

  async getCart(cartId: string): Promise<Cart | undefined> {
    this.#open();
    return this.#carts.get(cartId);
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
    const tasks = options.tasks ?? [];
    for (const task of tasks) {
      if (this.#outbox.has(task.id))
        throw ConflictError.versionConflict(`task "${task.id}"`, 'existing', 'new');
    }
    const completeRecords = this.idempotency.prepareCompletions(options.idempotency ?? []);
    this.#carts.set(cart.id, freezeCart(structuredClone(cart)));
    this.#add(tasks);
    completeRecords();
  }

  async enqueueTasks(tasks: readonly ReservationTask[]): Promise<void> {
    this.#open();
    this.#add(tasks.filter((task) => !this.#outbox.has(task.id)));
  }

  async claim(options: ClaimOptions): Promise<ClaimedTask[]> {
    this.#open();
    const now = this.#clock.now();
    const dueAt = (entry: OutboxEntry) => Math.max(entry.availableAt, entry.leaseUntil);
    const due = [...this.#outbox.values()]
      .filter((entry) => dueAt(entry) <= now)
      .sort((a, b) => dueAt(a) - dueAt(b) || a.task.createdAt - b.task.createdAt)
      .slice(0, Math.max(0, Math.trunc(options.limit)))
      .sort((a, b) => a.task.createdAt - b.task.createdAt);
    return due.map((entry) => {
      entry.attempts += 1;
      entry.leaseOwner = options.owner;
      entry.leaseUntil = now + options.leaseMs;
      return {
        task: structuredClone(entry.task),
        attempt: entry.attempts,
        leaseUntil: entry.leaseUntil,
      };
    });
  }

  async complete(taskId: string, owner: string): Promise<boolean> {
    this.#open();
    if (this.#held(taskId, owner) === undefined) return false;
    this.#outbox.delete(taskId);
    return true;
  }

  async release(taskId: string, owner: string, availableAt: number): Promise<boolean> {
    this.#open();
    const entry = this.#held(taskId, owner);
    if (entry === undefined) return false;
    entry.availableAt = availableAt;
    entry.leaseOwner = null;
    entry.leaseUntil = 0;
    return true;
  }

  async nextDueAt(): Promise<number | undefined> {
    this.#open();
    let next: number | undefined;
    for (const entry of this.#outbox.values()) {
      const at = Math.max(entry.availableAt, entry.leaseUntil);
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  /**
   * The tasks in the outbox, oldest first, with their delivery state: for tests and
   * debugging (a snapshot; changing it changes nothing).
   */
  outboxTasks(): Array<{ task: ReservationTask; attempts: number; leased: boolean }> {
    const now = this.#clock.now();
    return [...this.#outbox.values()]
      .sort((a, b) => a.task.createdAt - b.task.createdAt)
      .map((entry) => ({
        task: structuredClone(entry.task),
        attempts: entry.attempts,
        leased: entry.leaseOwner !== null && entry.leaseUntil > now,
      }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.idempotency.close();
  }

  #add(tasks: readonly ReservationTask[]): void {
    for (const task of tasks) {
      this.#outbox.set(task.id, {
        task: structuredClone(task),
        availableAt: this.#clock.now(),
        attempts: 0,
        leaseOwner: null,
        leaseUntil: 0,
      });
    }
  }

  /** The entry `owner` holds a live lease on (an expired lease may have been taken over). */
  #held(taskId: string, owner: string): OutboxEntry | undefined {
    const entry = this.#outbox.get(taskId);
    if (entry === undefined || entry.leaseOwner !== owner) return undefined;
    return entry;
  }

  #open(): void {
    if (this.#closed) throw new StorageError(ErrorCode.CLOSED, 'Storage is closed.');
  }
}
