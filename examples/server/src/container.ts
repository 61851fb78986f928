import {
  type CartService,
  type CartStorage,
  CartTokens,
  type ChangeFeed,
  type Logger,
  type Scheduler,
  systemClock,
} from '@cartkit/core';
import { cartCoreModule, startCart } from '@cartkit/core/inversify';
import { httpReserverModule } from '@cartkit/reserver-http/inversify';
import { createRedisChangeFeed, type RedisChangeFeed } from '@cartkit/scheduler-bullmq';
import { bullmqSchedulerModule } from '@cartkit/scheduler-bullmq/inversify';
import { timerSchedulerModule } from '@cartkit/scheduler-timer/inversify';
import { postgresStorageModule } from '@cartkit/storage-postgres/inversify';
import { sqliteStorageModule } from '@cartkit/storage-sqlite/inversify';
import { Container, ContainerModule } from 'inversify';

/** What the composition needs. */
export interface CompositionOptions {
  /**
   * `memory`: core's in-memory storage (nothing persists); `sqlite`: the file at
   * `databasePath`; `postgres`: the database at `postgresUrl`.
   */
  readonly storage?: 'sqlite' | 'memory' | 'postgres';
  readonly databasePath: string;
  readonly postgresUrl?: string | undefined;
  /**
   * Deliver reservations with BullMQ on this Redis, and publish cart changes on it (so an
   * event stream on one instance sees changes made through another); unset: the timer
   * scheduler and the in-memory change feed.
   */
  readonly redisUrl?: string | undefined;
  /** BullMQ job lock (ms): a killed instance's jobs are taken over after about this long. */
  readonly jobLockMs?: number;
  readonly reservationUrl: string;
  readonly logger: Logger;
}

/** The composed, started cart and the parts the server shuts down. */
export interface ComposedCart {
  readonly service: CartService;
  readonly storage: CartStorage;
  readonly scheduler: Scheduler;
  /** Where committed changes are published (Redis with `redisUrl`, else process memory). */
  readonly changeFeed: ChangeFeed;
  /** Stops the scheduler (bounded), then closes the reserver, the change feed and the storage. */
  close(timeoutMs: number): Promise<void>;
}

/** A part the configuration names could not be started; the message names the variable. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  constructor(
    /** The environment variable that configures the failed part. */
    readonly variable: string,
    cause: unknown,
  ) {
    super(`${variable}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

function storageModules(options: CompositionOptions): ContainerModule[] {
  switch (options.storage) {
    case 'memory':
      return [];
    case 'postgres':
      return [postgresStorageModule({ url: options.postgresUrl ?? '' })];
    default:
      return [sqliteStorageModule({ path: options.databasePath })];
  }
}

/**
 * Composes cartkit with inversify: each adapter package contributes a
 * `ContainerModule`; core's module binds the service and the reservation worker.
 * Everything is bound as values or factories — no decorators, no metadata.
 */
export async function composeCart(options: CompositionOptions): Promise<ComposedCart> {
  const container = new Container();
  // With Redis, changes go through it: every instance's event streams see every change.
  // Without, core's module binds the in-memory feed (this process's changes only). Created
  // when the service is, so an unreachable Redis is first reported by the scheduler's check.
  let redisFeed: RedisChangeFeed | undefined;
  const redisUrl = options.redisUrl;
  const app = new ContainerModule(({ bind }) => {
    bind(CartTokens.Logger).toConstantValue(options.logger);
    bind(CartTokens.Clock).toConstantValue(systemClock);
    if (redisUrl !== undefined) {
      bind<ChangeFeed>(CartTokens.ChangeFeed).toResolvedValue(() => {
        redisFeed = createRedisChangeFeed({ url: redisUrl, logger: options.logger });
        return redisFeed;
      });
    }
  });
  await container.load(
    app,
    // Without a storage module, core's module binds its in-memory storage.
    ...storageModules(options),
    httpReserverModule({ url: options.reservationUrl }),
    options.redisUrl === undefined
      ? timerSchedulerModule({ concurrency: 8 })
      : bullmqSchedulerModule({
          url: options.redisUrl,
          concurrency: 8,
          ...(options.jobLockMs === undefined
            ? {}
            : { lockDurationMs: options.jobLockMs, relayLeaseMs: options.jobLockMs }),
        }),
    cartCoreModule(),
  );
  // Open the storage first, so a failure names the variable that configures it.
  try {
    await container.getAsync<CartStorage>(CartTokens.Storage);
  } catch (error) {
    throw new StartupError('DATABASE_URL', error);
  }
  let service: CartService;
  try {
    service = await startCart(container);
  } catch (error) {
    // Not awaited: a feed that never reached Redis would first wait out its retries.
    void redisFeed?.close();
    if (options.redisUrl === undefined) throw error;
    await (await container.getAsync<CartStorage>(CartTokens.Storage)).close();
    throw new StartupError('REDIS_URL', error);
  }
  const storage = await container.getAsync<CartStorage>(CartTokens.Storage);
  const scheduler = await container.getAsync<Scheduler>(CartTokens.Scheduler);
  try {
    await redisFeed?.ready();
  } catch (error) {
    await scheduler.stop({ timeoutMs: 0 });
    void redisFeed?.close();
    await storage.close();
    throw new StartupError('REDIS_URL', error);
  }
  const reserver = await container.getAsync<{ close?: () => Promise<void> }>(CartTokens.Reserver);
  const changeFeed = await container.getAsync<ChangeFeed>(CartTokens.ChangeFeed);
  return {
    service,
    storage,
    scheduler,
    changeFeed,
    async close(timeoutMs) {
      await scheduler.stop({ timeoutMs });
      await reserver.close?.();
      // After the scheduler: its last outcomes are still published.
      await changeFeed.close();
      await storage.close();
    },
  };
}
