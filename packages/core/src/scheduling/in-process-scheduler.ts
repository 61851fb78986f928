import { randomUUID } from 'node:crypto';
import type { ReservationJob } from '../domain/job.js';
import { ConfigurationError, ErrorCode, StorageError } from '../errors/index.js';
import { type Clock, type ClockTimer, systemClock } from '../ports/clock.js';
import { type Logger, silentLogger } from '../ports/logger.js';
import type { JobHandler, Scheduler, StopOptions } from '../ports/scheduler.js';
import type { CartStorage } from '../ports/storage.js';
import { type RetryPolicy, resolveRetryPolicy } from './retry-policy.js';
import { type AttemptOutcome, runJobAttempt } from './run-job-attempt.js';

/** Options of {@link InProcessScheduler}. */
export interface InProcessSchedulerOptions {
  /** Where jobs are persisted (the same storage the cart service writes). */
  readonly storage: CartStorage;
  /** Time source for due times, backoff and timeouts. Default: the system clock. */
  readonly clock?: Clock;
  /** Logger. Default: silent. */
  readonly logger?: Logger;
  /** Retry, backoff and timeout policy; see `defaultRetryPolicy`. */
  readonly retry?: Partial<RetryPolicy>;
  /** Attempts running at once. Default 8. */
  readonly concurrency?: number;
  /** How long a claim lasts; must exceed `retry.attemptTimeoutMs`. Default twice the attempt timeout (at least +1 s). */
  readonly leaseMs?: number;
  /** Identifies this instance in job leases. Default: a random UUID. */
  readonly owner?: string;
  /** Called after every attempt with what it did (for logs, metrics, tests). */
  readonly onOutcome?: (outcome: AttemptOutcome) => void;
  /** Jitter source. Default `Math.random`. */
  readonly random?: () => number;
}

/**
 * A {@link Scheduler} that keeps its queue in process memory and runs persisted jobs
 * on {@link Clock} timers: one timer per waiting job (no polling), bounded
 * concurrency, retries with exponential backoff and full jitter, leases so several
 * instances on one storage never run a job at once, resume of unfinished jobs on
 * `start`, and a bounded graceful `stop`.
 *
 * It is core's reference scheduler; `@cartkit/scheduler-timer` builds on it.
 */
export class InProcessScheduler implements Scheduler {
  readonly #storage: CartStorage;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #policy: RetryPolicy;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #owner: string;
  readonly #onOutcome: ((outcome: AttemptOutcome) => void) | undefined;
  readonly #random: (() => number) | undefined;

  #handler: JobHandler | undefined;
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  readonly #stop = new AbortController();
  readonly #timers = new Map<string, ClockTimer>();
  /** Due jobs waiting for a free slot, in due order (a Set: no duplicates, O(1) checks). */
  readonly #ready = new Set<string>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #early = new Set<string>();
  #idleWaiters: Array<() => void> = [];

  constructor(options: InProcessSchedulerOptions) {
    if (typeof options?.storage?.getJob !== 'function') {
      throw new ConfigurationError('Option "storage" must be a CartStorage.', {
        option: 'storage',
      });
    }
    this.#storage = options.storage;
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
    this.#owner = options.owner ?? randomUUID();
    this.#onOutcome = options.onOutcome;
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

  async start(handler: JobHandler): Promise<void> {
    if (this.#state === 'stopped')
      throw new StorageError(ErrorCode.CLOSED, 'Scheduler was stopped.');
    if (this.#state === 'running') return;
    this.#handler = handler;
    this.#state = 'running';
    let persisted: ReservationJob[];
    try {
      persisted = await this.#storage.listJobs();
    } catch (error) {
      this.#state = 'idle'; // nothing resumed: let the caller retry start()
      throw error;
    }
    for (const job of persisted)
      this.#schedule(job.id, job.lease === null ? job.runAt : job.lease.until);
    for (const id of this.#early) this.#schedule(id, this.#clock.now());
    this.#early.clear();
    if (persisted.length > 0)
      this.#logger.info({ jobs: persisted.length }, 'resumed persisted jobs');
  }

  enqueue(job: ReservationJob): void {
    if (this.#state === 'stopped') return;
    if (this.#state === 'idle') {
      this.#early.add(job.id);
      return;
    }
    this.#schedule(job.id, job.runAt);
  }

  whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async stop(options: StopOptions = {}): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    for (const timer of this.#timers.values()) timer.clear();
    this.#timers.clear();
    this.#ready.clear();
    const inFlight = Promise.all(this.#running.values());
    const timeoutMs = options.timeoutMs ?? 5_000;
    if (!(await settlesWithin(inFlight, timeoutMs))) {
      this.#logger.warn(
        { inFlight: this.#running.size },
        'stop timed out; aborting in-flight attempts',
      );
      this.#stop.abort();
      // Aborted attempts hand their jobs back to storage; give that as long again, no more.
      if (!(await settlesWithin(inFlight, timeoutMs))) {
        this.#logger.error(
          { inFlight: this.#running.size },
          'aborted attempts did not settle; their jobs come back when their leases expire',
        );
      }
    }
    this.#notifyIdle();
  }

  #schedule(jobId: string, at: number): void {
    if (this.#state !== 'running') return;
    this.#timers.get(jobId)?.clear();
    this.#timers.delete(jobId);
    const delay = at - this.#clock.now();
    if (delay <= 0) {
      this.#makeReady(jobId);
      return;
    }
    this.#timers.set(
      jobId,
      this.#clock.setTimer(() => {
        this.#timers.delete(jobId);
        this.#makeReady(jobId);
      }, delay),
    );
  }

  #makeReady(jobId: string): void {
    this.#ready.add(jobId);
    this.#pump();
  }

  #pump(): void {
    while (
      this.#state === 'running' &&
      this.#running.size < this.#concurrency &&
      this.#ready.size > 0
    ) {
      const [jobId] = this.#ready;
      if (jobId === undefined) break;
      this.#ready.delete(jobId);
      // Handed over again while it runs: the running attempt settles it.
      if (this.#running.has(jobId)) continue;
      const run = this.#attempt(jobId).then((nextLook) => {
        this.#running.delete(jobId);
        if (nextLook !== undefined) this.#schedule(jobId, nextLook);
        this.#pump();
        this.#notifyIdle();
      });
      this.#running.set(jobId, run);
    }
  }

  /** Runs one attempt; returns when to look at the job again, if ever. */
  async #attempt(jobId: string): Promise<number | undefined> {
    const handler = this.#handler;
    if (handler === undefined) return undefined;
    let outcome: AttemptOutcome;
    try {
      outcome = await runJobAttempt(jobId, {
        storage: this.#storage,
        handler,
        clock: this.#clock,
        policy: this.#policy,
        owner: this.#owner,
        leaseMs: this.#leaseMs,
        stopSignal: this.#stop.signal,
        ...(this.#random === undefined ? {} : { random: this.#random }),
      });
    } catch (error) {
      // Storage failed while settling: the job is still persisted; look again later.
      this.#logger.error(
        { err: error, jobId },
        'job attempt could not be recorded; will look again',
      );
      return this.#clock.now() + this.#policy.maxDelayMs;
    }
    this.#onOutcome?.(outcome);
    if (outcome.outcome === 'retry') return outcome.runAt;
    if (outcome.outcome === 'skipped') return outcome.retryAt;
    return undefined;
  }

  #isIdle(): boolean {
    return this.#running.size === 0 && this.#ready.size === 0 && this.#timers.size === 0;
  }

  #notifyIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
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
      {
        option,
      },
    );
  }
  return value;
}
