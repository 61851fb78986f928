import type { ReservationTask } from '../domain/task.js';

/** What a scheduler tells its {@link TaskHandler} about one delivery of a task. */
export interface TaskDelivery {
  /** 1-based attempt number, from the scheduler / queue engine (not from the task). */
  readonly attempt: number;
  /** True when no retry follows if this attempt fails transiently. */
  readonly isLastAttempt: boolean;
  /** Aborted when the attempt times out or the scheduler stops. */
  readonly signal: AbortSignal;
}

/**
 * What a scheduler delivers tasks to: supplied by core (`ReservationWorker`), not
 * by adapters. The scheduler owns delivery (claiming, timing, concurrency,
 * retries, backoff, recovery); the handler owns the external call and what it
 * means for the cart.
 */
export interface TaskHandler {
  /**
   * Runs one delivery of `task`. Resolves: done (the task is completed).
   * Rejects with a `ReservationError`: `transient` → the scheduler retries after
   * `max(its backoff, error.retryAfterMs)` unless this was the last attempt;
   * permanent → no retry. Any other error counts as transient. The handler records
   * the outcome on the cart line itself (retrying / failed / reserved) from
   * `delivery`. Delivery is at-least-once: handling must be idempotent.
   */
  handle(task: ReservationTask, delivery: TaskDelivery): Promise<void>;
}

/** Options of {@link Scheduler.stop}. */
export interface StopOptions {
  /** How long to wait for in-flight attempts before aborting them. */
  readonly timeoutMs?: number;
}

/**
 * Port: delivers committed reservation tasks to the handler in the background.
 *
 * Contract (checked by `schedulerContractSuite` in `@cartkit/testing`): every task
 * committed to the outbox is delivered until the handler resolves, fails
 * permanently, or the attempts run out; transient failures are retried with
 * backoff (never sooner than the error's `retryAfterMs`); concurrency is bounded;
 * work abandoned by a dead process is taken over while the others run; `stop`
 * stops taking work and leaves unfinished tasks in the outbox.
 */
export interface Scheduler {
  /** Starts delivering tasks to `handler`, including tasks left from earlier runs. */
  start(handler: TaskHandler): Promise<void>;
  /**
   * Hint that tasks were just committed: look now instead of at the next poll.
   * Never throws; ignored when not running.
   */
  notify(): void;
  /**
   * Resolves when nothing is due, running or waiting for a retry in this process.
   * Keeps the process alive while awaited.
   */
  whenIdle(): Promise<void>;
  /** Stops taking work, waits (bounded) for in-flight attempts; unfinished tasks stay in the outbox. */
  stop(options?: StopOptions): Promise<void>;
}
