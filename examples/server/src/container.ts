import {
  type CartService,
  type CartStorage,
  CartTokens,
  type Logger,
  type Scheduler,
  systemClock,
} from '@cartkit/core';
import { cartCoreModule, startCart } from '@cartkit/core/inversify';
import { httpReserverModule } from '@cartkit/reserver-http/inversify';
import { timerSchedulerModule } from '@cartkit/scheduler-timer/inversify';
import { sqliteStorageModule } from '@cartkit/storage-sqlite/inversify';
import { Container, ContainerModule } from 'inversify';

/** What the composition needs. */
export interface CompositionOptions {
  /** `memory`: core's in-memory storage (nothing persists); `sqlite`: the file at `databasePath`. */
  readonly storage?: 'sqlite' | 'memory';
  readonly databasePath: string;
  readonly reservationUrl: string;
  readonly logger: Logger;
}

/** The composed, started cart and the parts the server shuts down. */
export interface ComposedCart {
  readonly service: CartService;
  readonly storage: CartStorage;
  readonly scheduler: Scheduler;
  /** Stops the scheduler (bounded), then closes the reserver and the storage. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * Composes cartkit with inversify: each adapter package contributes a
 * `ContainerModule`; core's module binds the service and the reservation worker.
 * Everything is bound as values or factories — no decorators, no metadata.
 */
export async function composeCart(options: CompositionOptions): Promise<ComposedCart> {
  const container = new Container();
  const app = new ContainerModule(({ bind }) => {
    bind(CartTokens.Logger).toConstantValue(options.logger);
    bind(CartTokens.Clock).toConstantValue(systemClock);
  });
  await container.load(
    app,
    // Without a storage module, core's module binds its in-memory storage.
    ...(options.storage === 'memory' ? [] : [sqliteStorageModule({ path: options.databasePath })]),
    httpReserverModule({ url: options.reservationUrl }),
    timerSchedulerModule({ concurrency: 8 }),
    cartCoreModule(),
  );
  const service = await startCart(container);
  const storage = await container.getAsync<CartStorage>(CartTokens.Storage);
  const scheduler = await container.getAsync<Scheduler>(CartTokens.Scheduler);
  const reserver = await container.getAsync<{ close?: () => Promise<void> }>(CartTokens.Reserver);
  return {
    service,
    storage,
    scheduler,
    async close(timeoutMs) {
      await scheduler.stop({ timeoutMs });
      await reserver.close?.();
      await storage.close();
    },
  };
}
