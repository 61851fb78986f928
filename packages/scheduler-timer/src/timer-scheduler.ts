import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import {
  type AttemptOutcome,
  type CartStorage,
  type Clock,
  ConfigurationError,
  InProcessScheduler,
  type JobAttempt,
  type JobHandler,
  type Logger,
  type ReservationError,
  type ReservationJob,
  type RetryPolicy,
  type Scheduler,
  type StopOptions,
  silentLogger,
  systemClock,
} from '@cartkit/core';

/** Options of {@link createTimerScheduler}. */
export interface TimerSchedulerOptions {
  /** The storage the cart service writes jobs to. Required. */
  readonly storage: CartStorage;
  /** Attempts running at once in this process. Default 8. */
  readonly concurrency?: number;
  /**
   * Retries and timeouts. Defaults: `maxAttempts` 8, `baseDelayMs` 250, `maxDelayMs` 30 000,
   * `maxRetryAfterMs` 300 000, `attemptTimeoutMs` 10 000.
   */
  readonly retry?: Partial<RetryPolicy>;
  /** How long a claim on a job lasts; must exceed the attempt timeout. Default: twice the attempt timeout, at least +1 s. */
  readonly leaseMs?: number;
  /** How long `stop()` waits for in-flight attempts before aborting them. Default 10 000 ms. */
  readonly stopTimeoutMs?: number;
  /** This process's name in job leases. Default `<hostname>:<pid>:<random>`. */
  readonly owner?: string;
  /** Logger (pino-compatible). Default: silent. */
  readonly logger?: Logger;
  /** Time source. Default: the system clock (unref'ed timers). */
  readonly clock?: Clock;
}

/** Events a {@link TimerScheduler} emits. */
export interface TimerSchedulerEvents {
  /** An attempt is about to run. */
  attempt: [event: { job: ReservationJob; attempt: number }];
  /** A job succeeded (and was deleted). */
  success: [event: { job: ReservationJob }];
  /** An attempt failed and the job will run again at `retryAt` (epoch ms). */
  retry: [event: { job: ReservationJob; error: ReservationError; retryAt: number }];
  /** A job failed for good (and was deleted). */
  failure: [event: { job: ReservationJob; error: ReservationError }];
}

/**
 * The production {@link Scheduler}: runs persisted reservation jobs on unref'ed
 * timers in this process (one timer per waiting job, no polling loop, no busy
 * waiting), with bounded concurrency, a timeout per attempt, exponential backoff
 * with full jitter honouring `Retry-After`, a maximum number of attempts, and
 * leases so processes sharing a database never run one job at the same time.
 * `start()` resumes every unfinished job, including those a dead process held.
 *
 * Emits `attempt`, `success`, `retry` and `failure` events.
 */
export class TimerScheduler
  extends EventEmitter<TimerSchedulerEvents>
  implements Scheduler, AsyncDisposable
{
  readonly #inner: InProcessScheduler;
  readonly #stopTimeoutMs: number;
  readonly #logger: Logger;

  constructor(options: TimerSchedulerOptions) {
    super();
    const stopTimeoutMs = options?.stopTimeoutMs ?? 10_000;
    if (!Number.isSafeInteger(stopTimeoutMs) || stopTimeoutMs < 0) {
      throw new ConfigurationError('Option "stopTimeoutMs" must be a non-negative integer.', {
        option: 'stopTimeoutMs',
      });
    }
    if (
      options.owner !== undefined &&
      (typeof options.owner !== 'string' || options.owner.length === 0)
    ) {
      throw new ConfigurationError('Option "owner" must be a non-empty string.', {
        option: 'owner',
      });
    }
    this.#stopTimeoutMs = stopTimeoutMs;
    this.#logger = options.logger ?? silentLogger;
    this.#inner = new InProcessScheduler({
      storage: options.storage,
      clock: options.clock ?? systemClock,
      logger: this.#logger,
      owner:
        options.owner ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`,
      onOutcome: (outcome) => this.#observe(outcome),
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    });
  }

  /** This process's name in job leases. */
  get owner(): string {
    return this.#inner.owner;
  }

  /** The retry policy in force. */
  get policy(): RetryPolicy {
    return this.#inner.policy;
  }

  /** Starts running jobs with `handler`, resuming every unfinished persisted job. */
  start(handler: JobHandler): Promise<void> {
    const observed: JobHandler = {
      run: (job: ReservationJob, attempt: JobAttempt) => {
        this.emit('attempt', { job, attempt: attempt.attempt });
        return handler.run(job, attempt);
      },
      onRetry: (job, error, retryAt) => handler.onRetry(job, error, retryAt),
      onFailure: (job, error) => handler.onFailure(job, error),
    };
    return this.#inner.start(observed);
  }

  /** Hands over a persisted job. Ignored after `stop()` (the job stays persisted). */
  enqueue(job: ReservationJob): void {
    this.#inner.enqueue(job);
  }

  /** Resolves when nothing is due, running or waiting for a retry in this process. */
  whenIdle(): Promise<void> {
    return this.#inner.whenIdle();
  }

  /** Stops taking work, waits up to `stopTimeoutMs` for in-flight attempts, then aborts them. */
  stop(options: StopOptions = {}): Promise<void> {
    return this.#inner.stop({ timeoutMs: options.timeoutMs ?? this.#stopTimeoutMs });
  }

  /** `await using scheduler = createTimerScheduler(...)` stops it on scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #observe(outcome: AttemptOutcome): void {
    try {
      switch (outcome.outcome) {
        case 'succeeded':
          this.emit('success', { job: outcome.job });
          break;
        case 'retry':
          this.emit('retry', { job: outcome.job, error: outcome.error, retryAt: outcome.runAt });
          break;
        case 'failed':
          this.emit('failure', { job: outcome.job, error: outcome.error });
          break;
        default:
          break;
      }
    } catch (error) {
      // A throwing listener must not take the scheduler down.
      this.#logger.error({ err: error }, 'a scheduler event listener threw');
    }
  }
}

/** Creates a {@link TimerScheduler}. Options are validated now; nothing runs until `start()`. */
export function createTimerScheduler(options: TimerSchedulerOptions): TimerScheduler {
  return new TimerScheduler(options);
}
