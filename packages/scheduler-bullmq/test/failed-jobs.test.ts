import {
  type CartLine,
  createCart,
  ErrorCode,
  MemoryReserver,
  newTask,
  type ReservationTask,
  type Scheduler,
  StorageError,
  type TaskDelivery,
  type TaskHandler,
} from '@cartkit/core';
import { createBullmqScheduler, jobIdOf } from '@cartkit/scheduler-bullmq';
import { type Job, Queue, Worker } from 'bullmq';
import { afterEach, expect, it } from 'vitest';
import { describeEngines, requireEngines } from '../../../scripts/vitest/engines.js';
import { openStorage } from '../../storage-postgres/test/support.js';
import { freshQueue } from './support.js';

const PREFIX = 'cartkit';

/**
 * A worker process that takes one job and dies with it: a raw BullMQ worker whose
 * processor never returns, force-closed once it has the job, so the job's lock is
 * no longer renewed and the job stalls.
 */
async function dieHolding(queueName: string): Promise<void> {
  let took: (job: Job) => void = () => {};
  const taken = new Promise<Job>((resolve) => {
    took = resolve;
  });
  const worker = new Worker(
    queueName,
    (job) => {
      took(job);
      return new Promise<never>(() => {});
    },
    {
      connection: { url: requireEngines().redisUrl, maxRetriesPerRequest: null },
      prefix: PREFIX,
      lockDuration: 1_000,
      stalledInterval: 100,
      maxStalledCount: 1,
    },
  );
  worker.on('error', () => undefined);
  await taken;
  await worker.close(true);
}

/** Waits (re-reading after each of the queue's events) until `check` holds. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describeEngines('BullMQ jobs that end without a verdict of the handler', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('records the line failed when BullMQ fails a job that stalled more than maxStalledCount times', async () => {
    const storage = await openStorage();
    const queueName = freshQueue();
    const survivor = createBullmqScheduler({
      outbox: storage,
      url: requireEngines().redisUrl,
      queueName,
      lockDurationMs: 1_000,
      stalledIntervalMs: 100,
      maxStalledCount: 1,
      pollIntervalMs: 50,
    });
    // The cart's scheduler starts only when the test says: first the dead instances run.
    let handler: TaskHandler | undefined;
    const gate: Scheduler = {
      start: async (h) => {
        handler = h;
      },
      notify: () => survivor.notify(),
      whenIdle: () => survivor.whenIdle(),
      stop: (o) => survivor.stop(o),
    };
    const reserver = new MemoryReserver();
    const cart = await createCart({ storage, reserver, scheduler: gate });
    cleanups.push(() => cart.close({ timeoutMs: 1_000 }));
    await cart.service.addItem('c1', { name: 'widget' });
    const pending = (await cart.service.listItems('c1'))[0] as CartLine;
    expect(pending.reservation?.status).toBe('pending');

    // A relay that then died moved the task to the queue, as the relay does.
    const [claimed] = await storage.claim({ owner: 'dead', limit: 10, leaseMs: 60_000 });
    const task = claimed?.task as ReservationTask;
    const queue = new Queue(queueName, {
      connection: { url: requireEngines().redisUrl },
      prefix: PREFIX,
    });
    cleanups.push(() => queue.close());
    await queue.add(task.kind, { task }, { jobId: jobIdOf(task.id), attempts: 5 });
    await storage.complete(task.id, 'dead');
    // Two instances in turn take the job and die holding it: it stalled twice.
    await dieHolding(queueName);
    await dieHolding(queueName);

    // The survivor's stalled check finds it over the limit; BullMQ fails it by itself.
    await survivor.start(handler as TaskHandler);
    const job = await queue.getJob(jobIdOf(task.id));
    await until(async () => (await job?.getState()) === 'failed', 'BullMQ to fail the job');
    expect((await queue.getJob(jobIdOf(task.id)))?.failedReason).toMatch(/stalled/);
    // Without a verdict the line would stay pending for good; it ends failed, visibly.
    await until(
      async () => (await cart.service.listItems('c1'))[0]?.reservation?.status !== 'pending',
      'the line to leave pending',
    );
    const line = (await cart.service.listItems('c1'))[0] as CartLine;
    expect(line.reservation).toMatchObject({
      status: 'failed',
      jobId: task.id,
      lastError: { code: ErrorCode.RESERVATION_ABORTED },
    });
    expect(line.reservation?.lastError?.message).toMatch(/stalled more than allowable limit/);
    expect(line.reservation?.attempts).toBeGreaterThanOrEqual(2);
    // Recording the verdict reserved nothing (its signal was aborted); asking again works.
    expect(reserver.held()).toEqual([]);
    await cart.service.requestReservation('c1', 'widget');
    await until(
      async () => (await cart.service.listItems('c1'))[0]?.reservation?.status === 'reserved',
      'the re-requested reservation',
    );
    expect(reserver.held()).toHaveLength(1);
  });

  it('postpones a last attempt whose outcome could not be recorded instead of failing it', async () => {
    const storage = await openStorage();
    cleanups.push(() => storage.close());
    const queueName = freshQueue();
    const runs: Array<[string, number, boolean]> = [];
    let storageAway = true;
    let done: () => void = () => {};
    const delivered = new Promise<void>((resolve) => {
      done = resolve;
    });
    // The handler's storage is away during the first delivery: it cannot record, so it
    // throws the StorageError (not a ReservationError it recorded).
    const handler: TaskHandler = {
      async handle(task: ReservationTask, d: TaskDelivery) {
        runs.push([task.id, d.attempt, d.isLastAttempt]);
        if (storageAway) {
          storageAway = false;
          throw new StorageError(ErrorCode.STORAGE_UNAVAILABLE, 'PostgreSQL is away.');
        }
        done();
      },
    };
    const s = createBullmqScheduler({
      outbox: storage,
      url: requireEngines().redisUrl,
      queueName,
      pollIntervalMs: 50,
      retry: { maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 50 },
    });
    cleanups.push(() => s.stop({ timeoutMs: 1_000 }));
    await s.start(handler);
    const task = {
      id: 'only-attempt',
      kind: 'reserve' as const,
      cartId: 'c2',
      itemName: 'i',
      quantity: 1,
    };
    await storage.saveCart(
      { id: 'c2', version: 1, lines: [], createdAt: '', updatedAt: '' },
      { expectedVersion: 0, tasks: [newTask({ ...task, now: 0 })] },
    );
    s.notify();
    await delivered;
    await s.whenIdle();
    // One attempt allowed, two deliveries: the unrecorded one was not counted.
    expect(runs).toEqual([
      ['only-attempt', 1, true],
      ['only-attempt', 1, true],
    ]);
    const queue = new Queue(queueName, {
      connection: { url: requireEngines().redisUrl },
      prefix: PREFIX,
    });
    cleanups.push(() => queue.close());
    expect(await (await queue.getJob(jobIdOf('only-attempt')))?.getState()).toBe('completed');
  });
});
