import type { Scheduler } from '@cartkit/core';

/**
 * A {@link Scheduler} that delivers nothing (tasks stay in the outbox). For tests
 * and benchmarks of storage or of the cart rules in isolation.
 */
export const inertScheduler: Scheduler = Object.freeze({
  start: async () => {},
  notify: () => {},
  whenIdle: async () => {},
  stop: async () => {},
});
