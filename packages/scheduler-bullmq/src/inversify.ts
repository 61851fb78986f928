/**
 * inversify composition for this adapter. Import from its `/inversify` subpath;
 * requires `inversify` ^8 (an optional peer dependency).
 * @packageDocumentation
 */
import { type CartStorage, CartTokens, type Logger } from '@cartkit/core';
import { ContainerModule } from 'inversify';
import { createBullmqScheduler } from './bullmq-scheduler.js';
import { type BullmqSchedulerOptions, resolveBullmqOptions } from './options.js';

/** Options of {@link bullmqSchedulerModule}: those of the scheduler, minus what the container supplies. */
export type BullmqSchedulerModuleOptions = Omit<BullmqSchedulerOptions, 'outbox' | 'logger'> & {
  readonly logger?: Logger;
};

/**
 * Binds `CartTokens.Scheduler` to a singleton {@link BullmqScheduler} relaying from the
 * container's Storage (its outbox), logging to its Logger unless `logger` is given.
 * Options are validated when the module is created. Start it with `startCart(container)`
 * from `@cartkit/core/inversify` (Redis is connected to then).
 */
export function bullmqSchedulerModule(options: BullmqSchedulerModuleOptions): ContainerModule {
  const probeOutbox = { claim: noop, complete: noop, release: noop, nextDueAt: noop };
  resolveBullmqOptions({ ...options, outbox: probeOutbox as never });
  return new ContainerModule(({ bind }) => {
    bind(CartTokens.Scheduler)
      .toResolvedValue(
        (storage: CartStorage, logger: Logger) =>
          createBullmqScheduler({ ...options, logger: options.logger ?? logger, outbox: storage }),
        [CartTokens.Storage, CartTokens.Logger],
      )
      .inSingletonScope();
  });
}

function noop(): never {
  throw new Error('unreachable');
}
