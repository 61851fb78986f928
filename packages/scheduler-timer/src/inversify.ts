/**
 * inversify composition for this adapter. Import from its `/inversify` subpath;
 * requires `inversify` ^8 (an optional peer dependency).
 * @packageDocumentation
 */
import { type CartStorage, CartTokens, type Clock, type Logger } from '@cartkit/core';
import { ContainerModule } from 'inversify';
import { createTimerScheduler, type TimerSchedulerOptions } from './timer-scheduler.js';

/** Options of {@link timerSchedulerModule}: those of the scheduler, minus what the container supplies. */
export type TimerSchedulerModuleOptions = Omit<
  TimerSchedulerOptions,
  'outbox' | 'clock' | 'logger'
>;

/**
 * Binds `CartTokens.Scheduler` to a singleton {@link TimerScheduler} delivering from
 * the container's Storage (its outbox), with its Clock and Logger. Start it with `startCart(container)`
 * from `@cartkit/core/inversify`.
 */
export function timerSchedulerModule(options: TimerSchedulerModuleOptions = {}): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(CartTokens.Scheduler)
      .toResolvedValue(
        (storage: CartStorage, clock: Clock, logger: Logger) =>
          createTimerScheduler({ ...options, outbox: storage, clock, logger }),
        [CartTokens.Storage, CartTokens.Clock, CartTokens.Logger],
      )
      .inSingletonScope();
  });
}
