import { MemoryCartStorage } from '../memory/memory-cart-storage.js';
import { MemoryChangeFeed } from '../memory/memory-change-feed.js';
import { MemoryReserver } from '../memory/memory-reserver.js';
import type { ChangeFeed } from '../ports/change-feed.js';
import { type Clock, systemClock } from '../ports/clock.js';
import { type Logger, silentLogger } from '../ports/logger.js';
import type { Outbox } from '../ports/outbox.js';
import type { Reserver } from '../ports/reserver.js';
import type { Scheduler, StopOptions } from '../ports/scheduler.js';
import type { CartStorage } from '../ports/storage.js';
import { InProcessScheduler } from '../scheduling/in-process-scheduler.js';
import { CartService } from '../service/cart-service.js';
import { ReservationWorker } from '../service/reservation-worker.js';
import type { CartSettings } from './tokens.js';

/** Options of {@link createCart}. Every port is optional and defaults to core's in-memory one. */
export interface CreateCartOptions extends CartSettings {
  /** Default: a new {@link MemoryCartStorage} (nothing survives the process). */
  readonly storage?: CartStorage;
  /** Default: a new {@link MemoryReserver}. */
  readonly reserver?: Reserver;
  /**
   * The scheduler, or a factory given the storage, its outbox (the same object),
   * the clock and the logger. Default: an {@link InProcessScheduler} on the storage's outbox.
   */
  readonly scheduler?:
    | Scheduler
    | ((deps: { storage: CartStorage; outbox: Outbox; clock: Clock; logger: Logger }) => Scheduler);
  /**
   * Where each committed cart change is announced (for live views such as SSE).
   * Default: a new {@link MemoryChangeFeed} (this process's changes only).
   */
  readonly changeFeed?: ChangeFeed;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Default: silent. */
  readonly logger?: Logger;
}

/** A composed, running cart: the service plus the parts it runs on. */
export interface CartRuntime extends AsyncDisposable {
  readonly service: CartService;
  readonly storage: CartStorage;
  readonly reserver: Reserver;
  readonly scheduler: Scheduler;
  readonly worker: ReservationWorker;
  /** Committed cart changes: `changeFeed.subscribe(cartId, listener, { afterVersion })`. */
  readonly changeFeed: ChangeFeed;
  /** Stops the scheduler (bounded), then closes the reserver, the change feed and the storage. */
  close(options?: StopOptions): Promise<void>;
}

/**
 * Composes a cart without a DI container: the service, the reservation worker and
 * the scheduler, started (tasks left in the outbox by earlier runs are delivered).
 *
 * @example
 * ```ts
 * const cart = await createCart({ storage: await createSqliteCartStorage({ path: 'cart.db' }) });
 * await cart.service.addItem('alice', { name: 'Product1', quantity: 2 });
 * await cart.close();
 * ```
 */
export async function createCart(options: CreateCartOptions = {}): Promise<CartRuntime> {
  const {
    storage: givenStorage,
    reserver: givenReserver,
    scheduler: givenScheduler,
    changeFeed: givenChangeFeed,
    clock: givenClock,
    logger: givenLogger,
    ...settings
  } = options;
  const clock = givenClock ?? systemClock;
  const logger = givenLogger ?? silentLogger;
  const storage = givenStorage ?? new MemoryCartStorage({ clock });
  const reserver: Reserver = givenReserver ?? new MemoryReserver();
  const changeFeed = givenChangeFeed ?? new MemoryChangeFeed({ clock, logger });
  const scheduler =
    typeof givenScheduler === 'function'
      ? givenScheduler({ storage, outbox: storage, clock, logger })
      : (givenScheduler ?? new InProcessScheduler({ outbox: storage, clock, logger }));
  const service = new CartService({ ...settings, storage, scheduler, changeFeed, clock, logger });
  const worker = new ReservationWorker({
    repository: service.repository,
    reserver,
    clock,
    logger,
    scheduler,
  });
  await scheduler.start(worker);
  let closed: Promise<void> | undefined;
  const close = (stopOptions?: StopOptions) => {
    closed ??= (async () => {
      await scheduler.stop(stopOptions);
      await reserver.close?.();
      await changeFeed.close();
      await storage.close();
    })();
    return closed;
  };
  return {
    service,
    storage,
    reserver,
    scheduler,
    worker,
    changeFeed,
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}
