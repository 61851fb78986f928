import { type Cart, type CartLine, emptyCart } from '../domain/cart.js';
import type { ReservationTask } from '../domain/task.js';
import { ConflictError, ErrorCode } from '../errors/index.js';
import type { CartStore } from '../ports/cart-store.js';
import type { CartChange, ChangeFeed } from '../ports/change-feed.js';
import type { Clock } from '../ports/clock.js';
import type { CompletedIdempotencyRecord } from '../ports/idempotency.js';
import type { Logger } from '../ports/logger.js';
import { KeyedMutex } from '../support/keyed-mutex.js';
import { describeChange } from './describe-change.js';

/** The outcome of a change function: new lines and tasks to save, or nothing to save. */
export type CartMutation<R> =
  | {
      readonly lines: readonly CartLine[];
      readonly tasks?: readonly ReservationTask[];
      readonly result: R;
    }
  | { readonly unchanged: true; readonly result: R };

/** What a mutation saved. */
export interface MutationResult<R> {
  /** The cart as saved (or as read, when unchanged). */
  readonly cart: Cart;
  /** The change function's result. */
  readonly result: R;
  /** Tasks saved with the cart (in its outbox). */
  readonly tasks: readonly ReservationTask[];
}

/** Options of {@link CartRepository.mutate}. */
export interface MutateOptions<R> {
  /** Fail with `VERSION_MISMATCH` unless the cart is at this version. */
  readonly expectedVersion?: number;
  /**
   * Builds the completed idempotency record answering this change, from the cart
   * about to be saved and the change function's result; it is saved in the same
   * atomic write (`SaveCartOptions.idempotency`). Called once per save attempt;
   * never called when the change saves nothing.
   */
  readonly idempotency?: (saved: Cart, result: R) => CompletedIdempotencyRecord;
}

/** Options of {@link CartRepository}. */
export interface CartRepositoryOptions {
  readonly storage: CartStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Compare-and-set attempts before giving up with `CONCURRENT_MODIFICATION`. */
  readonly maxSaveAttempts: number;
  /**
   * Where each committed change is announced, after its commit (in version order
   * per cart within this process). A failing feed never fails the write: it is
   * logged. Default: none.
   */
  readonly changeFeed?: ChangeFeed;
}

/**
 * Read-modify-write on carts that never loses an update.
 *
 * Within one process, changes to one cart are serialised (no wasted retries);
 * across processes sharing a storage, a save that loses the compare-and-set race
 * is recomputed from a fresh read and tried again, with jittered backoff.
 */
export class CartRepository {
  readonly #options: CartRepositoryOptions;
  readonly #mutex = new KeyedMutex();

  constructor(options: CartRepositoryOptions) {
    this.#options = options;
  }

  /** Reads a cart; `undefined` if it was never saved. */
  read(cartId: string): Promise<Cart | undefined> {
    return this.#options.storage.getCart(cartId);
  }

  /**
   * Adds tasks to the outbox without changing any cart (no version bump, so no
   * spurious change event or stale `ETag`), e.g. a cleanup release.
   */
  enqueueTasks(tasks: readonly ReservationTask[]): Promise<void> {
    return this.#options.storage.enqueueTasks(tasks);
  }

  /**
   * Applies `change` to the current cart (an empty version-0 cart if none) and saves
   * the result with compare-and-set, recomputing on conflict. Errors thrown by
   * `change` abort without writing. Each attempt reads the clock once: `change` gets
   * that instant (`now`, epoch ms) and the saved cart's `updatedAt` is the same, so
   * every timestamp one change writes agrees.
   *
   */
  mutate<R>(
    cartId: string,
    change: (cart: Cart, exists: boolean, now: number) => CartMutation<R>,
    options: MutateOptions<R> = {},
  ): Promise<MutationResult<R>> {
    return this.#mutex.run(cartId, () => this.#mutateLoop(cartId, change, options));
  }

  async #mutateLoop<R>(
    cartId: string,
    change: (cart: Cart, exists: boolean, now: number) => CartMutation<R>,
    options: MutateOptions<R>,
  ): Promise<MutationResult<R>> {
    const { expectedVersion } = options;
    const { storage, clock, maxSaveAttempts, logger } = this.#options;
    for (let attempt = 1; ; attempt++) {
      const stored = await storage.getCart(cartId);
      const nowMs = clock.now();
      const now = new Date(nowMs).toISOString();
      const current = stored ?? emptyCart(cartId, now);
      if (expectedVersion !== undefined && current.version !== expectedVersion) {
        throw new ConflictError(
          ErrorCode.VERSION_MISMATCH,
          `Cart is at version ${current.version}, not the expected ${expectedVersion}.`,
          { details: { currentVersion: current.version, expectedVersion } },
        );
      }
      const mutation = change(current, stored !== undefined, nowMs);
      if ('unchanged' in mutation) return { cart: current, result: mutation.result, tasks: [] };
      const next: Cart = {
        ...current,
        version: current.version + 1,
        lines: mutation.lines,
        createdAt: stored === undefined ? now : current.createdAt,
        updatedAt: now,
      };
      const tasks = mutation.tasks ?? [];
      try {
        const idempotency = options.idempotency?.(next, mutation.result);
        await storage.saveCart(next, {
          expectedVersion: current.version,
          tasks,
          ...(idempotency === undefined ? {} : { idempotency }),
        });
        this.#announce(current, next);
        return { cart: next, result: mutation.result, tasks };
      } catch (error) {
        if (!ConflictError.is(error) || error.code !== ErrorCode.VERSION_CONFLICT) throw error;
        if (attempt >= maxSaveAttempts) {
          throw new ConflictError(
            ErrorCode.CONCURRENT_MODIFICATION,
            `Cart "${cartId}" kept changing under ${attempt} save attempts; try again.`,
            { cause: error, details: { attempts: attempt } },
          );
        }
        logger.debug({ cartId, attempt }, 'cart save lost a compare-and-set race; retrying');
        await backoff(attempt);
      }
    }
  }

  /** Publishes a committed change; never throws (a failing feed is logged). */
  #announce(before: Cart, after: Cart): void {
    const { changeFeed, logger } = this.#options;
    if (changeFeed === undefined) return;
    const { kind, itemName } = describeChange(before, after);
    const change: CartChange = {
      cartId: after.id,
      version: after.version,
      kind,
      ...(itemName === undefined ? {} : { itemName }),
      at: after.updatedAt,
    };
    const failed = (error: unknown) =>
      logger.error(
        { err: error, cartId: change.cartId, version: change.version },
        'could not publish a cart change; subscribers will resync',
      );
    try {
      changeFeed.publish(change).catch(failed);
    } catch (error) {
      failed(error);
    }
  }
}

/** Short jittered pause between compare-and-set retries (real time: it spaces out racing processes). */
function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(50, 2 ** Math.min(attempt, 6));
  const delay = Math.random() * ceiling;
  return new Promise((resolve) => setTimeout(resolve, delay));
}
