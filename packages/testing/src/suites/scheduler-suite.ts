import assert from 'node:assert/strict';
import {
  type Cart,
  type CartStorage,
  type JobHandler,
  MemoryCartStorage,
  newJob,
  ReservationError,
  type ReservationJob,
  type RetryPolicy,
  type Scheduler,
} from '@cartkit/core';
import type { TestApi } from './test-api.js';

/** What a scheduler factory is given: the storage to use and the policy to apply. */
export interface SchedulerFactoryContext {
  readonly storage: CartStorage;
  /** Small delays so the suite runs fast; the scheduler must apply them. */
  readonly retry: RetryPolicy;
  /** The concurrency bound to apply. */
  readonly concurrency: number;
  /** How long a job claim lasts (longer than `retry.attemptTimeoutMs`). */
  readonly leaseMs: number;
}

/** Builds a scheduler on the given storage. */
export type SchedulerFactory = (context: SchedulerFactoryContext) => Promise<Scheduler> | Scheduler;

/** Options of the scheduler suite. */
export interface SchedulerSuiteOptions {
  /** Storage for each test. Default: core's in-memory storage. */
  readonly storage?: () => Promise<CartStorage> | CartStorage;
}

const retry: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 5,
  maxDelayMs: 20,
  maxRetryAfterMs: 1_000,
  attemptTimeoutMs: 300,
};
const concurrency = 3;
const leaseMs = 600;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A scripted handler: records every call; `behaviour` decides each attempt's fate. */
class RecordingHandler implements JobHandler {
  readonly runs: Array<{ jobId: string; attempt: number; at: number }> = [];
  readonly retries: Array<{ jobId: string; code: string }> = [];
  readonly failures: Array<{ jobId: string; code: string; attempts: number }> = [];
  readonly successes = new Map<string, number>();
  active = 0;
  maxActive = 0;

  constructor(
    readonly behaviour: (
      job: ReservationJob,
      attempt: number,
      signal: AbortSignal,
    ) => Promise<unknown> = async () => {},
  ) {}

  async run(
    job: ReservationJob,
    { attempt, signal }: { attempt: number; signal: AbortSignal },
  ): Promise<void> {
    this.runs.push({ jobId: job.id, attempt, at: Date.now() });
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await this.behaviour(job, attempt, signal);
      this.successes.set(job.id, (this.successes.get(job.id) ?? 0) + 1);
    } finally {
      this.active--;
    }
  }

  async onRetry(job: ReservationJob, error: ReservationError): Promise<void> {
    this.retries.push({ jobId: job.id, code: error.code });
  }

  async onFailure(job: ReservationJob, error: ReservationError): Promise<void> {
    this.failures.push({ jobId: job.id, code: error.code, attempts: job.attempts });
  }
}

let cartCounter = 0;

/** Persists `count` jobs (as a cart save would) and returns them. */
async function persistJobs(storage: CartStorage, count: number): Promise<ReservationJob[]> {
  const cartId = `cart-${++cartCounter}`;
  const now = Date.now();
  const jobs = Array.from({ length: count }, (_, i) =>
    newJob({
      id: `${cartId}-job-${i}`,
      kind: 'reserve',
      cartId,
      itemName: `item-${i}`,
      quantity: 1,
      now,
    }),
  );
  const cart: Cart = { id: cartId, version: 1, lines: [], createdAt: '', updatedAt: '' };
  await storage.saveCart(cart, { expectedVersion: 0, jobs });
  return jobs;
}

/** Resolves when `predicate` holds, polling (test helper only), or fails after `ms`. */
async function eventually(predicate: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

/** The {@link Scheduler} contract. Every scheduler adapter runs it (with a real clock). */
export function schedulerContractSuite(
  test: TestApi,
  name: string,
  factory: SchedulerFactory,
  options: SchedulerSuiteOptions = {},
): void {
  const { describe, it, beforeEach, afterEach } = test;

  describe(`Scheduler contract: ${name}`, () => {
    let storage: CartStorage;
    const schedulers: Scheduler[] = [];
    const make = async () => {
      const scheduler = await factory({ storage, retry, concurrency, leaseMs });
      schedulers.push(scheduler);
      return scheduler;
    };

    beforeEach(async () => {
      storage = options.storage ? await options.storage() : new MemoryCartStorage();
    });

    afterEach(async () => {
      for (const s of schedulers.splice(0)) await s.stop({ timeoutMs: 1_000 });
      await storage.close();
    });

    it('runs an enqueued job once and deletes it', async () => {
      const scheduler = await make();
      const handler = new RecordingHandler();
      await scheduler.start(handler);
      const [job] = await persistJobs(storage, 1);
      scheduler.enqueue(job as ReservationJob);
      await scheduler.whenIdle();
      assert.equal(handler.successes.get(job?.id as string), 1);
      assert.equal(await storage.getJob(job?.id as string), undefined);
    });

    it('retries transient failures with backoff until success', async () => {
      const scheduler = await make();
      const handler = new RecordingHandler(async (_job, attempt) => {
        if (attempt < 3) throw ReservationError.unavailable('503');
      });
      await scheduler.start(handler);
      const [job] = await persistJobs(storage, 1);
      scheduler.enqueue(job as ReservationJob);
      await scheduler.whenIdle();
      assert.deepEqual(
        handler.runs.map((r) => r.attempt),
        [1, 2, 3],
      );
      assert.equal(handler.retries.length, 2);
      assert.equal(handler.failures.length, 0);
      assert.equal(await storage.getJob(job?.id as string), undefined);
    });

    it('fails a permanent refusal at once, without retry', async () => {
      const scheduler = await make();
      const handler = new RecordingHandler(async () => {
        throw ReservationError.refused('no such item');
      });
      await scheduler.start(handler);
      const [job] = await persistJobs(storage, 1);
      scheduler.enqueue(job as ReservationJob);
      await scheduler.whenIdle();
      assert.equal(handler.runs.length, 1);
      assert.deepEqual(handler.failures, [
        { jobId: job?.id, code: 'RESERVATION_REFUSED', attempts: 1 },
      ]);
      assert.equal(await storage.getJob(job?.id as string), undefined);
    });

    it('fails a job after the maximum number of attempts', async () => {
      const scheduler = await make();
      const handler = new RecordingHandler(async () => {
        throw ReservationError.unavailable('down');
      });
      await scheduler.start(handler);
      const [job] = await persistJobs(storage, 1);
      scheduler.enqueue(job as ReservationJob);
      await scheduler.whenIdle();
      assert.equal(handler.runs.length, retry.maxAttempts);
      assert.deepEqual(handler.failures, [
        { jobId: job?.id, code: 'RESERVATION_UNAVAILABLE', attempts: retry.maxAttempts },
      ]);
      assert.equal(await storage.getJob(job?.id as string), undefined);
    });

    it('treats a thrown non-cartkit error as transient', async () => {
      const scheduler = await make();
      const handler = new RecordingHandler(async (_job, attempt) => {
        if (attempt === 1) throw new TypeError('socket hang up');
      });
      await scheduler.start(handler);
      const [job] = await persistJobs(storage, 1);
      scheduler.enqueue(job as ReservationJob);
      await scheduler.whenIdle();
      assert.equal(handler.runs.length, 2);
      assert.equal(handler.successes.get(job?.id as string), 1);
    });

    it('times out a hung attempt, aborts its signal and retries', async () => {
      const scheduler = await make();
      let abortedSignals = 0;
      const handler = new RecordingHandler(async (_job, attempt, signal) => {
        if (attempt === 1) {
          await new Promise<void>((resolve) =>
            signal.addEventListener('abort', () => resolve(), { once: true }),
          );
          abortedSignals++;
          await new Promise(() => {}); // ignores the abort: the scheduler must not wait for it
        }
      });
      await scheduler.start(handler);
      const [job] = await persistJobs(storage, 1);
      scheduler.enqueue(job as ReservationJob);
      await scheduler.whenIdle();
      assert.equal(abortedSignals, 1);
      assert.deepEqual(
        handler.retries.map((r) => r.code),
        ['RESERVATION_ABORTED'],
      );
      assert.equal(handler.successes.get(job?.id as string), 1);
    });

    it('waits at least the Retry-After the service asked for', async () => {
      const scheduler = await make();
      const handler = new RecordingHandler(async (_job, attempt) => {
        if (attempt === 1) throw ReservationError.unavailable('429', { retryAfterMs: 150 });
      });
      await scheduler.start(handler);
      const [job] = await persistJobs(storage, 1);
      scheduler.enqueue(job as ReservationJob);
      await scheduler.whenIdle();
      const [first, second] = handler.runs;
      assert.ok(first !== undefined && second !== undefined);
      assert.ok(second.at - first.at >= 140, `retried after ${second.at - first.at} ms`);
    });

    it('never runs more attempts at once than its concurrency', async () => {
      const scheduler = await make();
      const handler = new RecordingHandler(() => sleep(10));
      await scheduler.start(handler);
      for (const job of await persistJobs(storage, 12)) scheduler.enqueue(job);
      await scheduler.whenIdle();
      assert.equal(handler.successes.size, 12);
      assert.ok(handler.maxActive <= concurrency, `ran ${handler.maxActive} at once`);
      assert.ok(handler.maxActive > 1, 'ran nothing in parallel');
    });

    it('resumes persisted jobs on start', async () => {
      const jobs = await persistJobs(storage, 5);
      const scheduler = await make();
      const handler = new RecordingHandler();
      await scheduler.start(handler);
      await scheduler.whenIdle();
      assert.deepEqual([...handler.successes.keys()].sort(), jobs.map((j) => j.id).sort());
      assert.deepEqual(await storage.listJobs(), []);
    });

    it('runs jobs enqueued before start once it starts', async () => {
      const scheduler = await make();
      const [job] = await persistJobs(storage, 1);
      scheduler.enqueue(job as ReservationJob);
      const handler = new RecordingHandler();
      await scheduler.start(handler);
      await scheduler.whenIdle();
      assert.equal(handler.successes.get(job?.id as string), 1);
    });

    it('stops taking work and leaves unfinished jobs persisted for the next start', async () => {
      const first = await make();
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const slow = new RecordingHandler(() => gate);
      await first.start(slow);
      const jobs = await persistJobs(storage, 6);
      for (const job of jobs) first.enqueue(job);
      await eventually(() => slow.active === concurrency);
      const stopping = first.stop({ timeoutMs: 2_000 });
      release();
      await stopping;
      first.enqueue(jobs[0] as ReservationJob); // ignored after stop, must not throw
      const finished = slow.successes.size;
      assert.ok(
        finished <= concurrency,
        `finished ${finished} jobs though only ${concurrency} were running`,
      );
      assert.equal((await storage.listJobs()).length, jobs.length - finished);

      const second = await make();
      const handler = new RecordingHandler();
      await second.start(handler);
      await second.whenIdle();
      assert.equal(slow.successes.size + handler.successes.size, jobs.length);
      assert.deepEqual(await storage.listJobs(), []);
    });

    it('aborts attempts still running when the stop timeout passes, keeping their jobs', async () => {
      const scheduler = await make();
      const handler = new RecordingHandler(
        (_job, _attempt, signal) =>
          new Promise<void>((_, reject) =>
            signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
          ),
      );
      await scheduler.start(handler);
      const [job] = await persistJobs(storage, 1);
      scheduler.enqueue(job as ReservationJob);
      await eventually(() => handler.active === 1);
      await scheduler.stop({ timeoutMs: 50 });
      assert.equal(handler.failures.length, 0);
      const stored = await storage.getJob(job?.id as string);
      assert.notEqual(stored, undefined, 'the interrupted job must stay persisted');
      assert.equal(stored?.lease, null);
    });

    it('runs each job once when two schedulers share one storage', async () => {
      const a = await make();
      const b = await make();
      const handler = new RecordingHandler(() => sleep(2));
      await a.start(handler);
      await b.start(handler);
      const jobs = await persistJobs(storage, 40);
      for (const job of jobs) {
        a.enqueue(job);
        b.enqueue(job);
      }
      await Promise.all([a.whenIdle(), b.whenIdle()]);
      await eventually(async () => (await storage.listJobs()).length === 0);
      assert.equal(handler.successes.size, jobs.length);
      for (const count of handler.successes.values()) assert.equal(count, 1);
    });
  });
}
