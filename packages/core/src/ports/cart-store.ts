import type { Cart } from '../domain/cart.js';
import type { ReservationTask } from '../domain/task.js';
import type { CompletedIdempotencyRecord, IdempotencyStore } from './idempotency.js';

/** Options of {@link CartStore.saveCart}. */
export interface SaveCartOptions {
  /**
   * The version the caller read. The save succeeds only if the stored cart still
   * has this version (0: the cart must not exist yet); otherwise it throws a
   * `ConflictError` with code `VERSION_CONFLICT` and writes nothing.
   */
  readonly expectedVersion: number;
  /**
   * Tasks the change produced, added to the outbox in the same atomic write as the
   * cart (a transactional outbox). A task id already in the outbox is a
   * `VERSION_CONFLICT` and nothing is written.
   */
  readonly tasks?: readonly ReservationTask[];
  /**
   * The completed `Idempotency-Key` records answering the requests that made this
   * change (one per request; several when the cart repository combined several
   * requests' changes into this save), written into the store's
   * {@link CartStore.idempotency} in the same atomic write as the cart. If any of
   * their keys is already completed (another attempt of the same request committed
   * first), or two of them have the same key, nothing is written and the save
   * fails with `ConflictError` `IDEMPOTENCY_KEY_COMPLETED` (`details.key` names the
   * key).
   */
  readonly idempotency?: readonly CompletedIdempotencyRecord[];
}

/**
 * Port: durable storage of carts, with their transactional outbox of reservation
 * tasks (how tasks are taken out again is the {@link Outbox} port).
 *
 * Contract (checked by `storageContractSuite` in `@cartkit/testing`):
 * - `saveCart` is compare-and-set on `version`: a stale save fails with
 *   `VERSION_CONFLICT` and never overwrites; cart and tasks are written atomically,
 *   also across processes sharing the database; so are the completed idempotency
 *   records (`SaveCartOptions.idempotency`).
 * - `enqueueTasks` adds tasks without touching any cart (no version change).
 * - Values read back are equal to what was written (no shared mutable references: a
 *   read returns a copy, or an object that is deeply frozen — see `freezeCart` — which a
 *   store may hand to several reads).
 * - Errors are `StorageError`s (`STORAGE_FAILURE`, `STORAGE_CORRUPT_DATA`, `CLOSED`,
 *   ...) or `ConflictError`s; never raw driver errors.
 */
export interface CartStore {
  /** Reads a cart, or `undefined` if it was never saved. */
  getCart(cartId: string): Promise<Cart | undefined>;

  /**
   * Saves `cart` (whose `version` must be `expectedVersion + 1`) and `tasks`
   * atomically, if the stored version is still `expectedVersion`.
   * @throws ConflictError `VERSION_CONFLICT` when another writer got there first.
   */
  saveCart(cart: Cart, options: SaveCartOptions): Promise<void>;

  /**
   * Adds tasks to the outbox WITHOUT changing any cart (no version bump), e.g. the
   * cleanup release of a superseded reservation. Tasks whose id is already in the
   * outbox are left as they are (adding is idempotent). Atomic: all or none.
   */
  enqueueTasks(tasks: readonly ReservationTask[]): Promise<void>;

  /**
   * The HTTP layer's idempotency records kept next to the carts, which `saveCart`
   * completes atomically with a cart change (`SaveCartOptions.idempotency`).
   * Optional: a store without it cannot serve `@cartkit/express`'s `Idempotency-Key`.
   */
  readonly idempotency?: IdempotencyStore;

  /** Releases resources (connections, file handles). Further calls fail with `CLOSED`. */
  close(): Promise<void>;
}
