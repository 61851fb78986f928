/**
 * inversify composition for cartkit core. Import from `@cartkit/core/inversify`;
 * requires `inversify` ^8 (an optional peer dependency). No decorators, no
 * `reflect-metadata`: everything is bound with `toConstantValue` / `toResolvedValue`.
 * @packageDocumentation
 */
import { ContainerModule } from 'inversify';
import { type CartSettings, CartTokens } from '../composition/tokens.js';
import { MemoryCartStorage } from '../memory/memory-cart-storage.js';
import { MemoryChangeFeed } from '../memory/memory-change-feed.js';
import { MemoryReserver } from '../memory/memory-reserver.js';
import type { ChangeFeed } from '../ports/change-feed.js';
import { type Clock, systemClock } from '../ports/clock.js';
import { type Logger, silentLogger } from '../ports/logger.js';
import type { Reserver } from '../ports/reserver.js';
import type { Scheduler } from '../ports/scheduler.js';
import type { CartStorage } from '../ports/storage.js';
import { InProcessScheduler } from '../scheduling/in-process-scheduler.js';
import { CartService } from '../service/cart-service.js';
import { ReservationWorker } from '../service/reservation-worker.js';

/** Options of {@link cartCoreModule}. */
export interface CartCoreModuleOptions {
  /** Cart settings (limits, reserveOnAdd, ...). Default: none. */
  readonly settings?: CartSettings;
  /**
   * Bind core's defaults for ports that are not bound when this module loads:
   * system Clock, silent Logger, in-memory Storage, Reserver and ChangeFeed,
   * in-process Scheduler. Default `true`. Load adapter modules first so theirs win.
   */
  readonly defaults?: boolean;
}

/**
 * Binds {@link CartTokens.CartService} and {@link CartTokens.TaskHandler} (the
 * reservation worker) from the port tokens, as singletons. The scheduler is not
 * started by the container: resolve it and the handler and call
 * `scheduler.start(handler)` (see {@link startCart}).
 */
export function cartCoreModule(options: CartCoreModuleOptions = {}): ContainerModule {
  return new ContainerModule(({ bind, isBound }) => {
    const defaults = options.defaults ?? true;
    const unbound = (id: symbol) => defaults && !isBound(id);
    if (!isBound(CartTokens.Settings))
      bind(CartTokens.Settings).toConstantValue(options.settings ?? {});
    if (unbound(CartTokens.Clock)) bind(CartTokens.Clock).toConstantValue(systemClock);
    if (unbound(CartTokens.Logger)) bind(CartTokens.Logger).toConstantValue(silentLogger);
    if (unbound(CartTokens.Storage)) {
      bind(CartTokens.Storage)
        .toResolvedValue((clock: Clock) => new MemoryCartStorage({ clock }), [CartTokens.Clock])
        .inSingletonScope();
    }
    if (unbound(CartTokens.Reserver))
      bind(CartTokens.Reserver).toConstantValue(new MemoryReserver());
    if (unbound(CartTokens.ChangeFeed)) {
      bind<ChangeFeed>(CartTokens.ChangeFeed)
        .toResolvedValue(
          (clock: Clock, logger: Logger) => new MemoryChangeFeed({ clock, logger }),
          [CartTokens.Clock, CartTokens.Logger],
        )
        .inSingletonScope()
        .onDeactivation((feed) => feed.close());
    }
    if (unbound(CartTokens.Scheduler)) {
      bind(CartTokens.Scheduler)
        .toResolvedValue(
          (storage: CartStorage, clock: Clock, logger: Logger) =>
            new InProcessScheduler({ outbox: storage, clock, logger }),
          [CartTokens.Storage, CartTokens.Clock, CartTokens.Logger],
        )
        .inSingletonScope();
    }
    bind(CartTokens.CartService)
      .toResolvedValue(
        (
          storage: CartStorage,
          scheduler: Scheduler,
          clock: Clock,
          logger: Logger,
          settings: CartSettings,
          changeFeed: ChangeFeed | undefined,
        ) =>
          new CartService({
            ...settings,
            storage,
            scheduler,
            clock,
            logger,
            ...(changeFeed === undefined ? {} : { changeFeed }),
          }),
        [
          CartTokens.Storage,
          CartTokens.Scheduler,
          CartTokens.Clock,
          CartTokens.Logger,
          CartTokens.Settings,
          { serviceIdentifier: CartTokens.ChangeFeed, optional: true },
        ],
      )
      .inSingletonScope();
    bind(CartTokens.TaskHandler)
      .toResolvedValue(
        (
          service: CartService,
          reserver: Reserver,
          scheduler: Scheduler,
          clock: Clock,
          logger: Logger,
        ) =>
          new ReservationWorker({
            repository: service.repository,
            reserver,
            scheduler,
            clock,
            logger,
          }),
        [
          CartTokens.CartService,
          CartTokens.Reserver,
          CartTokens.Scheduler,
          CartTokens.Clock,
          CartTokens.Logger,
        ],
      )
      .inSingletonScope();
  });
}

/** The minimal container surface {@link startCart} needs (inversify's `Container` has it). */
export interface ServiceResolver {
  getAsync<T>(id: symbol): Promise<T>;
}

/** Resolves the cart service and starts the scheduler with the reservation worker. */
export async function startCart(container: ServiceResolver): Promise<CartService> {
  const scheduler = await container.getAsync<Scheduler>(CartTokens.Scheduler);
  const handler = await container.getAsync<ReservationWorker>(CartTokens.TaskHandler);
  const service = await container.getAsync<CartService>(CartTokens.CartService);
  await scheduler.start(handler);
  return service;
}

export { CartTokens };
