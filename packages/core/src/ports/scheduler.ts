import type { ReservationJob } from '../domain/job.js';
import type { ReservationError } from '../errors/index.js';

/** Context of one job attempt. */
export interface JobAttempt {
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Aborted when the attempt times out or the scheduler stops. */
  readonly signal: AbortSignal;
}

/**
 * What a scheduler runs: supplied by core (`ReservationWorker`), not by adapters.
 * The scheduler owns timing, concurrency, claiming and retries; the handler owns the
 * external call and what it means for the cart.
 */
export interface JobHandler {
  /**
   * Performs one attempt of `job` and records its success on the cart.
   * @throws ReservationError (`transient` decides whether to retry)
   */
  run(job: ReservationJob, attempt: JobAttempt): Promise<void>;
  /** Records a failed attempt that will be retried at `retryAt` (epoch ms). */
  onRetry(job: ReservationJob, error: ReservationError, retryAt: number): Promise<void>;
  /** Records that `job` failed for good. Called once, before the job is deleted. */
  onFailure(job: ReservationJob, error: ReservationError): Promise<void>;
}

/** Options of {@link Scheduler.stop}. */
export interface StopOptions {
  /** How long to wait for in-flight attempts before aborting them. */
  readonly timeoutMs?: number;
}

/**
 * Port: runs persisted reservation jobs in the background.
 *
 * Contract (checked by `schedulerContractSuite` in `@cartkit/testing`): every job
 * handed over is eventually run to success or to failure; transient failures are
 * retried with backoff up to a maximum number of attempts; permanent ones fail at
 * once; concurrency is bounded; `stop` stops taking work and leaves unfinished
 * jobs persisted; `start` resumes jobs that were persisted but not finished.
 */
export interface Scheduler {
  /** Starts running jobs with `handler`, resuming unfinished persisted jobs. */
  start(handler: JobHandler): Promise<void>;
  /**
   * Hands over a job that is already persisted. Never throws because of the job's
   * outcome; a stopped scheduler ignores it (the job stays persisted).
   */
  enqueue(job: ReservationJob): void;
  /** Resolves when no job is due, running or waiting for a retry in this process. */
  whenIdle(): Promise<void>;
  /** Stops taking work, waits (bounded) for in-flight attempts; unfinished jobs stay persisted. */
  stop(options?: StopOptions): Promise<void>;
}
