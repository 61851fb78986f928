import assert from 'node:assert/strict';
import {
  type Cart,
  type CartStorage,
  type Clock,
  isInterruption,
  MemoryCartStorage,
  newTask,
  type Outbox,
  ReservationError,
  type ReservationTask,
  type RetryPolicy,
  type Scheduler,
  systemClock,
  type TaskDelivery,
  type TaskHandler,
  toReservationError,
} from '@cartkit/core';
import { FakeClock } from '../fake-clock.js';
import type { TestApi } from './test-api.js';

/** What a scheduler factory is given: the outbox to deliver from and the policy to apply. */
export interface SchedulerFactoryContext {
  /** The outbox tasks are committed to (the test's storage). */
  readonly outbox: Outbox;
  /**
   * The clock to use: a `FakeClock` the suite drives (unless the suite runs with
   * `fakeClock: false`), shared with the storage.
   */
  readonly clock: Clock;
  /** The retry policy to apply. Tests vary it (zero backoff, short timeouts). */
  readonly retry: RetryPolicy;
  /** The concurrency bound to apply. */
  readonly concurrency: number;
  /** How long a claim lasts (longer than `retry.attemptTimeoutMs`). */
  readonly leaseMs: number;
  /** Longest time between two looks at the outbox, for schedulers that poll it. */
  readonly pollIntervalMs: number;
}

/** Builds a scheduler on the given outbox. */
export type SchedulerFactory = (context: SchedulerFactoryContext) => Promise<Scheduler> | Scheduler;

/** Options of the scheduler suite. */
export interface SchedulerSuiteOptions {
  /** Storage (carts + outbox) for each test, on the given clock. Default: core's in-memory storage. */
  readonly storage?: (context: { clock: Clock }) => Promise<CartStorage> | CartStorage;
  /**
   * The scheduler takes the context's `clock` for its timers, backoff and attempt
   * timeouts, so the suite can drive time with a `FakeClock` (default `true`).
   * With `false` (engines on their own real clocks) the suite uses the system clock
   * and waits for events instead of moving time.
   */
  readonly fakeClock?: boolean;
  /**
   * For schedulers that RELAY committed tasks out of the outbox into an engine of their
   * own (e.g. BullMQ: claim → add to the queue → complete): how many tasks that engine
   * still holds undelivered (waiting, delayed or running) for the test's outbox. Where
   * the suite checks what is left, it counts these with the outbox. Such schedulers
   * number attempts by their engine, so a task a dead relay held starts at attempt 1.
   */
  readonly relayed?: { readonly pending: (outbox: Outbox) => Promise<number> };
}

/** No backoff: retries are due at once, so the tests need no time to pass. */
const immediate: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 0,
  maxDelayMs: 0,
  maxRetryAfterMs: 60_000,
  attemptTimeoutMs: 300,
};
const concurrency = 3;
const leaseMs = 600;
const pollIntervalMs = 100;

interface Run {
  readonly taskId: string;
  readonly attempt: number;
  readonly isLastAttempt: boolean;
  readonly at: number;
}

/**
 * A scripted handler: records every delivery; `behaviour` decides each attempt's
 * fate. `until(predicate)` resolves when its records satisfy the predicate (event
 * driven: re-checked after every change).
 */
class RecordingHandler implements TaskHandler {
  readonly runs: Run[] = [];
  readonly failures: Array<{ taskId: string; attempt: number; error: ReservationError }> = [];
  readonly successes = new Map<string, number>();
  active = 0;
  maxActive = 0;
  #waiters: Array<{ check: () => boolean; resolve: () => void }> = [];

  constructor(
    readonly clock: Clock,
    readonly behaviour: (
      task: ReservationTask,
      delivery: TaskDelivery,
    ) => Promise<unknown> = async () => {},
  ) {}

  async handle(task: ReservationTask, delivery: TaskDelivery): Promise<void> {
    this.runs.push({
      taskId: task.id,
      attempt: delivery.attempt,
      isLastAttempt: delivery.isLastAttempt,
      at: this.clock.now(),
    });
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    this.#changed();
    try {
      await this.behaviour(task, delivery);
      this.successes.set(task.id, (this.successes.get(task.id) ?? 0) + 1);
    } catch (error) {
      this.failures.push({
        taskId: task.id,
        attempt: delivery.attempt,
        error: toReservationError(error),
      });
      throw error;
    } finally {
      this.active--;
      this.#changed();
    }
  }

  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ check, resolve }));
  }

  #changed(): void {
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) {
      if (waiter.check()) waiter.resolve();
      else this.#waiters.push(waiter);
    }
  }
}

/** A promise and its resolver. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

let cartCounter = 0;

/** Commits `count` tasks with a cart change (as the cart service does) and returns them. */
async function commitTasks(
  storage: CartStorage,
  count: number,
  now: number,
): Promise<ReservationTask[]> {
  const cartId = `cart-${++cartCounter}`;
  const tasks = Array.from({ length: count }, (_, i) =>
    newTask({
      id: `${cartId}-task-${i}`,
      kind: 'reserve',
      cartId,
      itemName: `item-${i}`,
      quantity: 1,
      now: now + i,
    }),
  );
  const cart: Cart = { id: cartId, version: 1, lines: [], createdAt: '', updatedAt: '' };
  await storage.saveCart(cart, { expectedVersion: 0, tasks });
  return tasks;
}

/**
 * The {@link Scheduler} contract. Every scheduler adapter runs it. It works only
 * through the ports: tasks go in through the cart store's outbox, deliveries are
 * observed at the handler, and what is left is read through the outbox.
 *
 * @example
 * ```ts
 * schedulerContractSuite({ describe, it, beforeEach, afterEach }, 'timer', (ctx) =>
 *   createTimerScheduler(ctx));
 * ```
 */
export function schedulerContractSuite(
  test: TestApi,
  name: string,
  factory: SchedulerFactory,
  options: SchedulerSuiteOptions = {},
): void {
  const { describe, it, beforeEach, afterEach } = test;
  const fake = options.fakeClock ?? true;

  describe(`Scheduler contract: ${name}`, () => {
    let storage: CartStorage;
    let clock: Clock;
    const schedulers: Scheduler[] = [];
    const make = async (retry: Partial<RetryPolicy> = {}) => {
      const scheduler = await factory({
        outbox: storage,
        clock,
        retry: { ...immediate, ...retry },
        concurrency,
        leaseMs,
        pollIntervalMs,
      });
      schedulers.push(scheduler);
      return scheduler;
    };
    const handler = (behaviour?: (t: ReservationTask, d: TaskDelivery) => Promise<unknown>) =>
      new RecordingHandler(clock, behaviour);
    /** Moves a fake clock forward (a real one moves by itself). */
    const advance = async (ms: number) => {
      if (clock instanceof FakeClock) await clock.advance(ms);
    };
    /**
     * Moves a fake clock forward a poll interval at a time, letting real I/O run in
     * between, until `check` holds (a real clock: waits for it). Order, not timing.
     */
    const advanceUntil = async (h: RecordingHandler, check: () => boolean) => {
      if (!(clock instanceof FakeClock)) return h.until(check);
      for (let i = 0; i < 1_000 && !check(); i++) {
        await clock.advance(pollIntervalMs);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    };
    /** Nothing left to deliver: not in the outbox, nor (for relays) in their engine. */
    const outboxIsEmpty = async () =>
      (await storage.nextDueAt()) === undefined &&
      (options.relayed === undefined || (await options.relayed.pending(storage)) === 0);

    beforeEach(async () => {
      clock = fake ? new FakeClock() : systemClock;
      storage = options.storage
        ? await options.storage({ clock })
        : new MemoryCartStorage({ clock });
    });

    afterEach(async () => {
      for (const s of schedulers.splice(0)) await s.stop({ timeoutMs: 1_000 });
      await storage.close();
    });

    it('delivers a committed task once, as attempt 1, and completes it', async () => {
      const scheduler = await make();
      const h = handler();
      await scheduler.start(h);
      const [task] = await commitTasks(storage, 1, clock.now());
      scheduler.notify();
      await scheduler.whenIdle();
      assert.deepEqual(
        h.runs.map((r) => [r.taskId, r.attempt, r.isLastAttempt]),
        [[task?.id, 1, false]],
      );
      assert.ok(await outboxIsEmpty());
    });

    it('delivers tasks committed before start', async () => {
      const tasks = await commitTasks(storage, 5, clock.now());
      const scheduler = await make();
      const h = handler();
      await scheduler.start(h);
      await scheduler.whenIdle();
      assert.deepEqual([...h.successes.keys()].sort(), tasks.map((t) => t.id).sort());
      assert.ok(await outboxIsEmpty());
    });

    it('retries transient failures with rising attempt numbers until success', async () => {
      const scheduler = await make();
      const h = handler(async (_task, { attempt }) => {
        if (attempt < 3) throw ReservationError.unavailable('503');
      });
      await scheduler.start(h);
      await commitTasks(storage, 1, clock.now());
      scheduler.notify();
      await scheduler.whenIdle();
      assert.deepEqual(
        h.runs.map((r) => r.attempt),
        [1, 2, 3],
      );
      assert.equal(h.successes.size, 1);
      assert.ok(await outboxIsEmpty());
    });

    it('does not retry a permanent failure', async () => {
      const scheduler = await make();
      const h = handler(async () => {
        throw ReservationError.refused('no such item');
      });
      await scheduler.start(h);
      await commitTasks(storage, 1, clock.now());
      scheduler.notify();
      await scheduler.whenIdle();
      assert.equal(h.runs.length, 1);
      assert.ok(await outboxIsEmpty());
    });

    it('stops after the maximum attempts, telling the handler which one is the last', async () => {
      const scheduler = await make();
      const h = handler(async () => {
        throw ReservationError.unavailable('down');
      });
      await scheduler.start(h);
      await commitTasks(storage, 1, clock.now());
      scheduler.notify();
      await scheduler.whenIdle();
      assert.deepEqual(
        h.runs.map((r) => [r.attempt, r.isLastAttempt]),
        [
          [1, false],
          [2, false],
          [3, false],
          [4, true],
        ],
      );
      assert.ok(await outboxIsEmpty());
    });

    it('treats a thrown non-cartkit error as transient', async () => {
      const scheduler = await make();
      const h = handler(async (_task, { attempt }) => {
        if (attempt === 1) throw new TypeError('socket hang up');
      });
      await scheduler.start(h);
      await commitTasks(storage, 1, clock.now());
      scheduler.notify();
      await scheduler.whenIdle();
      assert.deepEqual(
        h.runs.map((r) => r.attempt),
        [1, 2],
      );
      assert.equal(h.successes.size, 1);
    });

    it('aborts a hung attempt at its timeout and retries', async () => {
      const scheduler = await make();
      let aborted: unknown;
      const h = handler(async (_task, { attempt, signal }) => {
        if (attempt === 1) {
          await new Promise<void>((resolve) =>
            signal.addEventListener('abort', () => resolve(), { once: true }),
          );
          aborted = signal.reason;
          await new Promise(() => {}); // ignores the abort: the scheduler must not wait for it
        }
      });
      await scheduler.start(h);
      await commitTasks(storage, 1, clock.now());
      scheduler.notify();
      await h.until(() => h.runs.length === 1);
      await advance(immediate.attemptTimeoutMs);
      await h.until(() => h.successes.size === 1);
      await scheduler.whenIdle();
      assert.equal(ReservationError.is(aborted) && (aborted as ReservationError).transient, true);
      assert.equal(isInterruption(aborted as ReservationError), false, 'a timeout is no shutdown');
      assert.deepEqual(
        h.runs.map((r) => r.attempt),
        [1, 2],
      );
    });

    it('waits at least the Retry-After the handler reported before the next attempt', async () => {
      const retryAfterMs = 2_000;
      const scheduler = await make();
      const h = handler(async (_task, { attempt }) => {
        if (attempt === 1) throw ReservationError.unavailable('429', { retryAfterMs });
      });
      await scheduler.start(h);
      await commitTasks(storage, 1, clock.now());
      scheduler.notify();
      await h.until(() => h.failures.length === 1);
      if (fake) {
        // Until the Retry-After has passed, the task is not due for anyone.
        await advance(retryAfterMs - 1);
        assert.equal(h.runs.length, 1);
        assert.deepEqual(await storage.claim({ owner: 'probe', limit: 1, leaseMs }), []);
        await advanceUntil(h, () => h.successes.size === 1);
      }
      await h.until(() => h.successes.size === 1);
      const [first, second] = h.runs;
      assert.ok(first !== undefined && second !== undefined);
      assert.ok(
        second.at - first.at >= retryAfterMs,
        `retried ${second.at - first.at} ms after the first attempt`,
      );
    });

    it('never runs more attempts at once than its concurrency, and does use it', async () => {
      const scheduler = await make();
      const open = gate();
      const h = handler(() => open.promise);
      await scheduler.start(h);
      await commitTasks(storage, 12, clock.now());
      scheduler.notify();
      await h.until(() => h.active === concurrency);
      open.open();
      await h.until(() => h.successes.size === 12);
      await scheduler.whenIdle();
      assert.equal(h.maxActive, concurrency);
      assert.ok(await outboxIsEmpty());
    });

    it('delivers each task once when two schedulers share one outbox', async () => {
      const a = await make();
      const b = await make();
      const h = handler();
      await a.start(h);
      await b.start(h);
      const tasks = await commitTasks(storage, 40, clock.now());
      a.notify();
      b.notify();
      await h.until(() => h.successes.size === tasks.length);
      await Promise.all([a.whenIdle(), b.whenIdle()]);
      assert.equal(h.runs.length, tasks.length);
      assert.ok(await outboxIsEmpty());
    });

    it('takes over, while running, a task whose holder died (lease expired)', async () => {
      const scheduler = await make();
      const h = handler();
      await scheduler.start(h);
      const [task] = await commitTasks(storage, 1, clock.now());
      // A process claims the task and dies: it never completes nor releases it.
      const [abandoned] = await storage.claim({ owner: 'dead-process', limit: 1, leaseMs });
      assert.equal(abandoned?.task.id, task?.id);
      scheduler.notify();
      await advanceUntil(h, () => h.successes.size === 1);
      assert.deepEqual(
        h.runs.map((r) => [r.taskId, r.attempt]),
        [[task?.id, options.relayed === undefined ? 2 : 1]],
      );
      await scheduler.whenIdle();
      assert.ok(await outboxIsEmpty());
    });

    it('finds tasks committed by another process without being notified', async () => {
      const scheduler = await make();
      const h = handler();
      await scheduler.start(h);
      await scheduler.whenIdle();
      await commitTasks(storage, 2, clock.now()); // no notify(): another process wrote them
      await advanceUntil(h, () => h.successes.size === 2);
      await h.until(() => h.successes.size === 2);
    });

    it('stops taking work and leaves unfinished tasks in the outbox for the next run', async () => {
      const first = await make();
      const open = gate();
      const slow = handler(() => open.promise);
      await first.start(slow);
      const tasks = await commitTasks(storage, 6, clock.now());
      first.notify();
      await slow.until(() => slow.active === concurrency);
      const stopping = first.stop({ timeoutMs: 2_000 });
      open.open();
      await stopping;
      first.notify(); // ignored after stop, must not throw
      assert.equal(slow.successes.size, concurrency);
      assert.equal(await outboxIsEmpty(), false);

      const second = await make();
      const h = handler();
      await second.start(h);
      await second.whenIdle();
      assert.equal(slow.runs.length, concurrency, 'the stopped scheduler took nothing more');
      assert.deepEqual(
        [...slow.successes.keys(), ...h.successes.keys()].sort(),
        tasks.map((t) => t.id).sort(),
      );
      assert.ok(await outboxIsEmpty());
    });

    it('aborts attempts still running at the stop timeout as interruptions, keeping their tasks', async () => {
      const scheduler = await make();
      let reason: unknown;
      const h = handler(
        (_task, { signal }) =>
          new Promise<void>((_, reject) =>
            signal.addEventListener(
              'abort',
              () => {
                reason = signal.reason;
                reject(signal.reason);
              },
              { once: true },
            ),
          ),
      );
      await scheduler.start(h);
      const [task] = await commitTasks(storage, 1, clock.now());
      scheduler.notify();
      await h.until(() => h.active === 1);
      await scheduler.stop({ timeoutMs: 50 });
      assert.equal(ReservationError.is(reason) && isInterruption(reason), true);
      if (fake) {
        // Given back to the outbox at once (not left to its lease), attempt counted.
        const [again] = await storage.claim({ owner: 'next-run', limit: 1, leaseMs });
        assert.deepEqual([again?.task.id, again?.attempt], [task?.id, 2]);
      } else {
        assert.equal(await outboxIsEmpty(), false);
      }
    });
  });
}
