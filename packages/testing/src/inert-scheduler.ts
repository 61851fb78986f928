import type { Scheduler } from '@cartkit/core';

/**
 * A {@link Scheduler} that accepts jobs and runs none (they stay persisted). For
 * tests and benchmarks of storage or of the cart rules in isolation.
 */
export const inertScheduler: Scheduler = Object.freeze({
  start: async () => {},
  enqueue: () => {},
  whenIdle: async () => {},
  stop: async () => {},
});
