import { randomUUID } from 'node:crypto';
import type { ReservationTask } from '../domain/task.js';
import {
  ConfigurationError,
  ErrorCode,
  ReservationError,
  StorageError,
  toReservationError,
} from '../errors/index.js';
import { type Clock, type ClockTimer, systemClock } from '../ports/clock.js';
import { type Logger, silentLogger } from '../ports/logger.js';
import type { ClaimedTask, Outbox } from '../ports/outbox.js';
import type { Scheduler, StopOptions, TaskHandler } from '../ports/scheduler.js';
import { computeRetryDelay, type RetryPolicy, resolveRetryPolicy } from './retry-policy.js';

/** What happened to one delivery, reported to {@link InProcessSchedulerOptions.onEvent}. */
export type DeliveryEvent =
  /** A delivery is about to run. */
  | { readonly type: 'attempt'; readonly task: ReservationTask; readonly attempt: number }
  /** The handler resolved; the task was completed (deleted from the outbox). */
  | { readonly type: 'success'; readonly task: ReservationTask; readonly attempt: number }
  /** The attempt failed transiently; the task is due again at `retryAt` (epoch ms). */
  | {
      readonly type: 'retry';
      readonly task: ReservationTask;
      readonly attempt: number;
      readonly error: ReservationError;
      readonly retryAt: number;
    }
  /** The task failed for good (permanent error or last attempt); it was completed. */
  | {
      readonly type: 'failure';
      readonly task: ReservationTask;
      readonly attempt: number;
      readonly error: ReservationError;
    }
  /** The scheduler stopped during the attempt; the task was given back to the outbox. */
  | { readonly type: 'interrupted'; readonly task: ReservationTask; readonly attempt: number };

/** Options of {@link InProcessScheduler}. */
export interface InProcessSchedulerOptions {
  /** Where committed tasks are taken from (the storage the cart service writes). */
  readonly outbox: Outbox;
  /** Time source for polling, backoff, timeouts. Default: the system clock. */
  readonly clock?: Clock;
  /** Logger. Default: silent. */
  readonly logger?: Logger;
  /** Retry, backoff and timeout policy; see `defaultRetryPolicy`. */
  readonly retry?: Partial<RetryPolicy>;
  /** Attempts running at once in this process. Default 8. */
  readonly concurrency?: number;
  /** How long a claim lasts; must exceed `retry.attemptTimeoutMs`. Default twice the attempt timeout (at least +1 s). */
  readonly leaseMs?: number;
  /**
   * Longest time between two looks at the outbox, in ms: bounds how late work
   * committed by another process, or abandoned by a dead one (lease expired), is
   * picked up. Default 1000.
   */
  readonly pollIntervalMs?: number;
  /** Identifies this instance in leases. Default: a random UUID. */
  readonly owner?: string;
  /** Called with what each delivery did (for logs, metrics, tests). Must not throw. */
  readonly onEvent?: (event: DeliveryEvent) => void;
  /** Jitter source. Default `Math.random`. */
  readonly random?: () => number;
}

/**
 * A {@link Scheduler} on an {@link Outbox}: claims due tasks with leases, delivers
 * them to the handler with bounded concurrency and a timeout per attempt, retries
 * transient failures with exponential backoff and full jitter (never sooner than
 * the error's `retryAfterMs`), looks at the outbox whenever it is notified and at
 * least every `pollIntervalMs` — so work committed by other processes, or abandoned
 * by a dead one, is taken over while running — and stops gracefully.
 *
 * It is core's scheduler engine and `createCart`'s default; `@cartkit/scheduler-timer`
 * packages it for production (lifecycle events, process-named leases, a bounded
 * default stop, an inversify module).
 */
export class InProcessScheduler implements Scheduler {
  readonly #outbox: Outbox;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #policy: RetryPolicy;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #pollIntervalMs: number;
  readonly #owner: string;
  readonly #onEvent: ((event: DeliveryEvent) => void) | undefined;
  readonly #random: (() => number) | undefined;

  #handler: TaskHandler | undefined;
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  readonly #stop = new AbortController();
  /** Aborts of the attempts in flight, called by `stop()` (no listener per attempt on one signal). */
  readonly #onStop = new Set<() => void>();
  /** Deliveries in flight, by task id. */
  readonly #running = new Map<string, Promise<void>>();
  /** Tasks this process gave back for a retry, with their due time, until it claims them again. */
  readonly #retrying = new Map<string, number>();
  #looking = false;
  #lookAgain = false;
  #wake: { timer: ClockTimer; at: number } | undefined;
  #idleWaiters: Array<() => void> = [];
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  #checkingIdle = false;

  constructor(options: InProcessSchedulerOptions) {
    if (typeof options?.outbox?.claim !== 'function') {
      throw new ConfigurationError('Option "outbox" must be an Outbox (e.g. a CartStorage).', {
        option: 'outbox',
      });
    }
    this.#outbox = options.outbox;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#policy = resolveRetryPolicy(options.retry);
    this.#concurrency = positiveInteger(options.concurrency ?? 8, 'concurrency');
    this.#leaseMs = positiveInteger(
      options.leaseMs ??
        this.#policy.attemptTimeoutMs + Math.max(1_000, this.#policy.attemptTimeoutMs),
      'leaseMs',
    );
    if (this.#leaseMs <= this.#policy.attemptTimeoutMs) {
      throw new ConfigurationError('Option "leaseMs" must exceed "retry.attemptTimeoutMs".', {
        option: 'leaseMs',
      });
    }
    this.#pollIntervalMs = positiveInteger(options.pollIntervalMs ?? 1_000, 'pollIntervalMs');
    this.#owner = options.owner ?? randomUUID();
    this.#onEvent = options.onEvent;
    this.#random = options.random;
  }

  /** This instance's lease owner id. */
  get owner(): string {
    return this.#owner;
  }

  /** The retry policy in force. */
  get policy(): RetryPolicy {
    return this.#policy;
  }

  /** How long a claim lasts, in ms. */
  get leaseMs(): number {
    return this.#leaseMs;
  }

  /** Longest time between two looks at the outbox, in ms. */
  get pollIntervalMs(): number {
    return this.#pollIntervalMs;
  }

  async start(handler: TaskHandler): Promise<void> {
    if (this.#state === 'stopped')
      throw new StorageError(ErrorCode.CLOSED, 'Scheduler was stopped.');
    if (this.#state === 'running') return;
    this.#handler = handler;
    this.#state = 'running';
    this.#look();
  }

  notify(): void {
    if (this.#state !== 'running') return;
    this.#look();
  }

  whenIdle(): Promise<void> {
    if (this.#state !== 'running') return Promise.resolve();
    const idle = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    // Awaiting idleness keeps the process alive (the clock's timers do not).
    this.#keepAlive ??= setInterval(() => {}, 1 << 30);
    this.#checkIdle();
    return idle;
  }

  async stop(options: StopOptions = {}): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#wake?.timer.clear();
    this.#wake = undefined;
    const inFlight = Promise.all(this.#running.values());
    const timeoutMs = options.timeoutMs ?? 5_000;
    if (!(await settlesWithin(inFlight, timeoutMs))) {
      this.#logger.warn(
        { inFlight: this.#running.size },
        'stop timed out; aborting in-flight attempts',
      );
      this.#stop.abort();
      for (const abort of this.#onStop) abort();
      // Aborted attempts give their tasks back; give that as long again, no more.
      if (!(await settlesWithin(inFlight, timeoutMs))) {
        this.#logger.error(
          { inFlight: this.#running.size },
          'aborted attempts did not settle; their tasks come back when their leases expire',
        );
      }
    }
    this.#resolveIdle();
  }

  /** Claims what is due (up to the free slots) and starts delivering it; re-arms the wake-up. */
  #look(): void {
    if (this.#state !== 'running') return;
    if (this.#looking) {
      this.#lookAgain = true;
      return;
    }
    this.#looking = true;
    void this.#lookLoop().finally(() => {
      this.#looking = false;
      if (this.#lookAgain && this.#state === 'running') {
        this.#lookAgain = false;
        this.#look();
        return;
      }
      this.#checkIdle();
    });
  }

  async #lookLoop(): Promise<void> {
    let exhausted = false;
    let claimedAt = this.#clock.now();
    try {
      while (this.#state === 'running') {
        const free = this.#concurrency - this.#running.size;
        if (free <= 0) break;
        claimedAt = this.#clock.now();
        const claimed = await this.#outbox.claim({
          owner: this.#owner,
          limit: free,
          leaseMs: this.#leaseMs,
        });
        if (this.#state !== 'running') {
          // Stopped while claiming: give the tasks straight back.
          const now = this.#clock.now();
          await Promise.all(
            claimed.map((item) => this.#outbox.release(item.task.id, this.#owner, now)),
          );
          return;
        }
        for (const item of claimed) this.#deliver(item);
        if (claimed.length < free) {
          exhausted = true;
          break;
        }
      }
      if (exhausted) {
        // Everything due was claimed: our retries still waiting are not due, or were
        // taken over by another process (or completed) — stop waiting for them.
        const now = this.#clock.now();
        for (const [id, at] of this.#retrying) if (at <= now) this.#retrying.delete(id);
      }
      await this.#arm(exhausted, claimedAt);
    } catch (error) {
      this.#logger.error({ err: error }, 'could not claim tasks from the outbox; will look again');
      this.#armAt(this.#clock.now() + this.#pollIntervalMs);
    }
  }

  /** Sets the next look: at the next poll, or sooner when the outbox says something is due. */
  async #arm(exhausted: boolean, claimedAt: number): Promise<void> {
    let at = this.#clock.now() + this.#pollIntervalMs;
    if (exhausted) {
      const due = await this.#outbox.nextDueAt();
      const now = this.#clock.now();
      if (due !== undefined && due > now) {
        at = Math.min(at, due);
      } else if (due !== undefined && due > claimedAt) {
        // Became due while we were claiming (a lease expired, a retry came due): look again now.
        this.#lookAgain = true;
        return;
      }
    }
    this.#armAt(at);
  }

  #armAt(at: number): void {
    if (this.#state !== 'running') return;
    if (this.#wake !== undefined) {
      if (this.#wake.at <= at) return;
      this.#wake.timer.clear();
    }
    const timer = this.#clock.setTimer(
      () => {
        this.#wake = undefined;
        this.#look();
      },
      Math.max(0, at - this.#clock.now()),
    );
    this.#wake = { timer, at };
  }

  #deliver(item: ClaimedTask): void {
    const { task } = item;
    this.#retrying.delete(task.id);
    const run = this.#attempt(item)
      .catch((error: unknown) => {
        this.#logger.error(
          { err: error, taskId: task.id },
          'task delivery could not be settled in the outbox; it comes back when its lease expires',
        );
      })
      .finally(() => {
        this.#running.delete(task.id);
        this.#look();
      });
    this.#running.set(task.id, run);
  }

  async #attempt({ task, attempt }: ClaimedTask): Promise<void> {
    const handler = this.#handler;
    if (handler === undefined) return;
    const isLastAttempt = attempt >= this.#policy.maxAttempts;
    this.#emit({ type: 'attempt', task, attempt });
    let failure: ReservationError | undefined;
    try {
      await this.#runWithTimeout(handler, task, attempt, isLastAttempt);
    } catch (error) {
      failure = toReservationError(error);
    }
    const owner = this.#owner;
    if (failure === undefined) {
      await this.#outbox.complete(task.id, owner);
      this.#emit({ type: 'success', task, attempt });
      return;
    }
    if (this.#stop.signal.aborted) {
      // Shutdown, not a verdict: give the task back for whoever runs next.
      await this.#outbox.release(task.id, owner, this.#clock.now());
      this.#emit({ type: 'interrupted', task, attempt });
      return;
    }
    if (!failure.transient || isLastAttempt) {
      await this.#outbox.complete(task.id, owner);
      this.#emit({ type: 'failure', task, attempt, error: failure });
      return;
    }
    const delay = computeRetryDelay(this.#policy, attempt, failure.retryAfterMs, this.#random);
    const retryAt = this.#clock.now() + delay;
    if (await this.#outbox.release(task.id, owner, retryAt)) {
      this.#retrying.set(task.id, retryAt);
      this.#armAt(retryAt);
    }
    this.#emit({ type: 'retry', task, attempt, error: failure, retryAt });
  }

  async #runWithTimeout(
    handler: TaskHandler,
    task: ReservationTask,
    attempt: number,
    isLastAttempt: boolean,
  ): Promise<void> {
    const controller = new AbortController();
    const timeoutMs = this.#policy.attemptTimeoutMs;
    let rejectAbort: (reason: unknown) => void = () => {};
    const aborted = new Promise<never>((_, reject) => {
      rejectAbort = reject;
    });
    const abort = (reason: ReservationError) => {
      if (controller.signal.aborted) return;
      controller.abort(reason);
      rejectAbort(reason);
    };
    const timer = this.#clock.setTimer(
      () =>
        abort(
          new ReservationError(
            ErrorCode.RESERVATION_ABORTED,
            `Attempt timed out after ${timeoutMs} ms.`,
            { transient: true },
          ),
        ),
      timeoutMs,
    );
    const onStop = () =>
      abort(
        new ReservationError(
          ErrorCode.RESERVATION_ABORTED,
          'Scheduler stopped during the attempt.',
          { transient: true, details: { interrupted: true } },
        ),
      );
    this.#onStop.add(onStop);
    const handling = handler.handle(task, { attempt, isLastAttempt, signal: controller.signal });
    try {
      await Promise.race([handling, aborted]);
    } catch (error) {
      if (controller.signal.aborted) {
        // A handler that honours the signal records the outcome on its way out: let it,
        // within the lease. One that ignores the signal is not waited for any longer.
        await settlesWithin(handling, Math.min(5_000, this.#leaseMs - timeoutMs));
      }
      throw error;
    } finally {
      timer.clear();
      this.#onStop.delete(onStop);
      aborted.catch(() => undefined);
    }
  }

  #emit(event: DeliveryEvent): void {
    try {
      this.#onEvent?.(event);
    } catch (error) {
      this.#logger.error({ err: error }, 'a scheduler event listener threw');
    }
  }

  /** Resolves idle waiters once nothing runs, nothing of ours waits for a retry and nothing is due. */
  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || this.#checkingIdle) return;
    if (this.#state !== 'running') {
      this.#resolveIdle();
      return;
    }
    if (this.#running.size > 0 || this.#looking || this.#retrying.size > 0) return;
    this.#checkingIdle = true;
    this.#outbox.nextDueAt().then(
      (due) => {
        this.#checkingIdle = false;
        if (this.#running.size > 0 || this.#looking || this.#retrying.size > 0) return;
        if (due !== undefined && due <= this.#clock.now()) {
          this.#look(); // something is due that we have not claimed yet
          return;
        }
        this.#resolveIdle();
      },
      (error: unknown) => {
        this.#checkingIdle = false;
        this.#logger.warn({ err: error }, 'could not read the outbox while checking idleness');
      },
    );
  }

  #resolveIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    if (this.#keepAlive !== undefined) {
      clearInterval(this.#keepAlive);
      this.#keepAlive = undefined;
    }
    for (const resolve of waiters) resolve();
  }
}

/** Resolves `true` if `promise` settles within `ms` (real time), `false` otherwise. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ClockTimer | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = systemClock.setTimer(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, timedOut]);
  } finally {
    timer?.clear();
  }
}

function positiveInteger(value: number, option: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(
      `Option "${option}" must be a positive integer, got ${String(value)}.`,
      { option },
    );
  }
  return value;
}
