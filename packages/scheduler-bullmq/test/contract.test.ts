import type { Outbox } from '@cartkit/core';
import { createBullmqScheduler } from '@cartkit/scheduler-bullmq';
import { schedulerContractSuite } from '@cartkit/testing';
import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { describeEngines, requireEngines } from '../../../scripts/vitest/engines.js';
import { openStorage } from '../../storage-postgres/test/support.js';
import { freshQueue } from './support.js';

// Schedulers made for one test share its outbox, so they share a queue too.
const queues = new WeakMap<Outbox, string>();
const queueFor = (outbox: Outbox) => {
  let name = queues.get(outbox);
  if (name === undefined) {
    name = freshQueue();
    queues.set(outbox, name);
  }
  return name;
};

describeEngines('BullMQ scheduler contracts', () => {
  schedulerContractSuite(
    { describe, it, beforeEach, afterEach },
    'BullMQ on PostgreSQL',
    ({ outbox, retry, concurrency, leaseMs, pollIntervalMs }) =>
      createBullmqScheduler({
        outbox,
        url: requireEngines().redisUrl,
        queueName: queueFor(outbox),
        retry,
        concurrency,
        relayLeaseMs: leaseMs,
        pollIntervalMs,
        lockDurationMs: 5_000,
      }),
    {
      storage: () => openStorage(),
      fakeClock: false,
      relayed: {
        // What BullMQ still holds for this test's queue, read with a queue of its own.
        pending: async (outbox) => {
          const queue = new Queue(queueFor(outbox), {
            connection: { url: requireEngines().redisUrl },
            prefix: 'cartkit',
          });
          try {
            const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
            return Object.values(counts).reduce((a, b) => a + b, 0);
          } finally {
            await queue.close();
          }
        },
      },
    },
  );
});
