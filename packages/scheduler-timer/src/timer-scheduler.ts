import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import {
  type Clock,
  ConfigurationError,
  type DeliveryEvent,
  InProcessScheduler,
  type Logger,
  type Outbox,
  type ReservationError,
  type ReservationTask,
  type RetryPolicy,
  type Scheduler,
  type StopOptions,
  silentLogger,
  systemClock,
  type TaskHandler,
} from '@cartkit/core';

/** Options of {@link createTimerScheduler}. */
export interface TimerSchedulerOptions {
  /** The outbox to deliver from: the storage the cart service writes (a `CartStorage`). Required. */
  readonly outbox: Outbox;
  /** Attempts running at once in this process. Default 8. */
  readonly concurrency?: number;
  /**
   * Retries and timeouts. Defaults: `maxAttempts` 8, `baseDelayMs` 250, `maxDelayMs` 30 000,
   * `maxRetryAfterMs` 300 000, `attemptTimeoutMs` 10 000.
   */
  readonly retry?: Partial<RetryPolicy>;
  /** How long a claim on a task lasts; must exceed the attempt timeout. Default: twice the attempt timeout, at least +1 s. */
  readonly leaseMs?: number;
  /**
   * Longest time between two looks at the outbox, in ms. Bounds how late this
   * process picks up work committed by other processes or abandoned by a dead one
   * (after its lease). Default 1000.
   */
  readonly pollIntervalMs?: number;
  /** How long `stop()` waits for in-flight attempts before aborting them. Default 10 000 ms. */
  readonly stopTimeoutMs?: number;
  /** This process's name in leases. Default `<hostname>:<pid>:<random>`. */
  readonly owner?: string;
  /** Logger (pino-compatible). Default: silent. */
  readonly logger?: Logger;
  /** Time source. Default: the system clock (unref'ed timers). */
  readonly clock?: Clock;
}

/** Events a {@link TimerScheduler} emits. */
export interface TimerSchedulerEvents {
  /** A delivery is about to run. */
  attempt: [event: { task: ReservationTask; attempt: number }];
  /** A task was handled (and completed). */
  success: [event: { task: ReservationTask; attempt: number }];
  /** An attempt failed and the task is due again at `retryAt` (epoch ms). */
  retry: [
    event: { task: ReservationTask; attempt: number; error: ReservationError; retryAt: number },
  ];
  /** A task failed for good (and was completed). */
  failure: [event: { task: ReservationTask; attempt: number; error: ReservationError }];
  /** The scheduler stopped during an attempt; the task went back to the outbox. */
  interrupted: [event: { task: ReservationTask; attempt: number }];
}

/**
 * The production {@link Scheduler} for one or more processes sharing a storage:
 * core's {@link InProcessScheduler} engine (leased claims from the outbox, bounded
 * concurrency, a timeout per attempt, exponential backoff with full jitter
 * honouring `Retry-After`, polling at a bounded interval so work a dead process
 * abandoned is taken over while the others keep running) with lifecycle events,
 * process-named leases and a bounded default stop.
 *
 * Emits `attempt`, `success`, `retry`, `failure` and `interrupted` events.
 */
export class TimerScheduler
  extends EventEmitter<TimerSchedulerEvents>
  implements Scheduler, AsyncDisposable
{
  readonly #inner: InProcessScheduler;
  readonly #stopTimeoutMs: number;

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
    this.#inner = new InProcessScheduler({
      outbox: options.outbox,
      clock: options.clock ?? systemClock,
      logger: options.logger ?? silentLogger,
      owner:
        options.owner ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`,
      onEvent: (event) => this.#observe(event),
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
      ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
    });
  }

  /** This process's name in leases. */
  get owner(): string {
    return this.#inner.owner;
  }

  /** The retry policy in force. */
  get policy(): RetryPolicy {
    return this.#inner.policy;
  }

  /** Starts delivering tasks to `handler`, including every task left in the outbox. */
  start(handler: TaskHandler): Promise<void> {
    return this.#inner.start(handler);
  }

  /** Looks at the outbox now (tasks were just committed). Ignored when not running. */
  notify(): void {
    this.#inner.notify();
  }

  /**
   * Resolves when nothing is due, running or waiting for a retry in this process.
   * Keeps the process alive while awaited.
   */
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

  #observe(event: DeliveryEvent): void {
    // The engine catches (and logs) a throwing listener.
    switch (event.type) {
      case 'attempt':
        this.emit('attempt', { task: event.task, attempt: event.attempt });
        break;
      case 'success':
        this.emit('success', { task: event.task, attempt: event.attempt });
        break;
      case 'retry':
        this.emit('retry', {
          task: event.task,
          attempt: event.attempt,
          error: event.error,
          retryAt: event.retryAt,
        });
        break;
      case 'failure':
        this.emit('failure', { task: event.task, attempt: event.attempt, error: event.error });
        break;
      case 'interrupted':
        this.emit('interrupted', { task: event.task, attempt: event.attempt });
        break;
    }
  }
}

/** Creates a {@link TimerScheduler}. Options are validated now; nothing runs until `start()`. */
export function createTimerScheduler(options: TimerSchedulerOptions): TimerScheduler {
  return new TimerScheduler(options);
}
