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
import type { RedisChangeFeed } from '@cartkit/scheduler-bullmq';
import { timerSchedulerModule } from '@cartkit/scheduler-timer/inversify';
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

// The adapters a configuration does not use are not loaded: pg, BullMQ and ioredis
// alone add ~7 MB to the live heap (and V8 lets the heap grow to a multiple of it
// under load), for nothing when the server runs on SQLite.

async function storageModules(options: CompositionOptions): Promise<ContainerModule[]> {
  switch (options.storage) {
    case 'memory':
      return [];
    case 'postgres': {
      const { postgresStorageModule } = await import('@cartkit/storage-postgres/inversify');
      return [postgresStorageModule({ url: options.postgresUrl ?? '' })];
    }
    default: {
      const { sqliteStorageModule } = await import('@cartkit/storage-sqlite/inversify');
      return [sqliteStorageModule({ path: options.databasePath })];
    }
  }
}

async function schedulerModule(options: CompositionOptions): Promise<ContainerModule> {
  if (options.redisUrl === undefined) return timerSchedulerModule({ concurrency: 8 });
  const { bullmqSchedulerModule } = await import('@cartkit/scheduler-bullmq/inversify');
  return bullmqSchedulerModule({
    url: options.redisUrl,
    concurrency: 8,
    ...(options.jobLockMs === undefined
      ? {}
      : { lockDurationMs: options.jobLockMs, relayLeaseMs: options.jobLockMs }),
  });
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
  const { createRedisChangeFeed } =
    redisUrl === undefined
      ? { createRedisChangeFeed: undefined }
      : await import('@cartkit/scheduler-bullmq');
  const app = new ContainerModule(({ bind }) => {
    bind(CartTokens.Logger).toConstantValue(options.logger);
    bind(CartTokens.Clock).toConstantValue(systemClock);
    if (redisUrl !== undefined && createRedisChangeFeed !== undefined) {
      bind<ChangeFeed>(CartTokens.ChangeFeed).toResolvedValue(() => {
        redisFeed = createRedisChangeFeed({ url: redisUrl, logger: options.logger });
        return redisFeed;
      });
    }
  });
  await container.load(
    app,
    // Without a storage module, core's module binds its in-memory storage.
    ...(await storageModules(options)),
    httpReserverModule({ url: options.reservationUrl }),
    await schedulerModule(options),
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
