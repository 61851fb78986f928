import type { ReservationJob } from '../domain/job.js';
import { ConflictError, ErrorCode, ReservationError, toReservationError } from '../errors/index.js';
import type { Clock } from '../ports/clock.js';
import type { JobHandler } from '../ports/scheduler.js';
import type { CartStorage } from '../ports/storage.js';
import { computeRetryDelay, type RetryPolicy } from './retry-policy.js';

/** What one call of {@link runJobAttempt} did. */
export type AttemptOutcome =
  /** The attempt succeeded; the job was deleted. */
  | { readonly outcome: 'succeeded'; readonly job: ReservationJob }
  /** The job failed for good (permanent error or attempts exhausted); it was deleted. */
  | { readonly outcome: 'failed'; readonly job: ReservationJob; readonly error: ReservationError }
  /** The attempt failed transiently; the job was rescheduled for `runAt`. */
  | {
      readonly outcome: 'retry';
      readonly job: ReservationJob;
      readonly error: ReservationError;
      readonly runAt: number;
    }
  /** The scheduler is stopping: the attempt was abandoned and the job left for later. */
  | { readonly outcome: 'interrupted'; readonly job: ReservationJob }
  /** Nothing ran: the job is gone, claimed by another live owner, or not yet due. */
  | {
      readonly outcome: 'skipped';
      readonly reason: 'gone' | 'leased' | 'not-due';
      /** When it is worth looking again (lease expiry or `runAt`). */
      readonly retryAt?: number;
    };

/** What {@link runJobAttempt} needs. */
export interface AttemptContext {
  readonly storage: CartStorage;
  readonly handler: JobHandler;
  readonly clock: Clock;
  readonly policy: RetryPolicy;
  /** Identifies this scheduler instance in leases. */
  readonly owner: string;
  /** How long a claim lasts; must exceed `policy.attemptTimeoutMs`. */
  readonly leaseMs: number;
  /** Aborted when the scheduler stops. */
  readonly stopSignal?: AbortSignal;
  /** Jitter source; `Math.random` by default. */
  readonly random?: () => number;
}

/**
 * Claims a persisted job, runs one attempt through the handler with a timeout, and
 * settles it: deletes it on success or final failure, reschedules it with backoff
 * on a transient failure. The building block of every scheduler adapter.
 *
 * Claiming is compare-and-set on the job's version with a lease, so two schedulers
 * sharing one storage never run the same job at once (a lease whose holder died
 * expires and the job is taken over).
 */
export async function runJobAttempt(jobId: string, ctx: AttemptContext): Promise<AttemptOutcome> {
  const { storage, clock } = ctx;
  const stored = await storage.getJob(jobId);
  if (stored === undefined) return { outcome: 'skipped', reason: 'gone' };
  const now = clock.now();
  if (stored.lease !== null && stored.lease.until > now && stored.lease.owner !== ctx.owner) {
    return { outcome: 'skipped', reason: 'leased', retryAt: stored.lease.until };
  }
  if (stored.runAt > now) return { outcome: 'skipped', reason: 'not-due', retryAt: stored.runAt };

  const claimed: ReservationJob = {
    ...stored,
    attempts: stored.attempts + 1,
    lease: { owner: ctx.owner, until: now + ctx.leaseMs },
    version: stored.version + 1,
  };
  try {
    await storage.updateJob(claimed, stored.version);
  } catch (error) {
    if (ConflictError.is(error))
      return { outcome: 'skipped', reason: 'leased', retryAt: now + ctx.leaseMs };
    throw error;
  }

  let failure: ReservationError | undefined;
  try {
    await runWithTimeout(ctx, claimed);
  } catch (error) {
    failure = toReservationError(error);
  }
  if (failure === undefined) {
    // Outside the attempt's try: a storage error here is not a failed reservation.
    // It propagates, the job stays persisted, and re-running it is idempotent.
    await deleteQuietly(storage, claimed);
    return { outcome: 'succeeded', job: claimed };
  }

  if (ctx.stopSignal?.aborted === true) {
    // Shutdown, not a verdict on the job: hand it back for the next start. The
    // attempt stays counted: it may have reached the service, which is what tells a
    // superseded job to clean up rather than skip.
    const released: ReservationJob = { ...claimed, lease: null, version: claimed.version + 1 };
    await storage.updateJob(released, claimed.version).catch(() => undefined);
    return { outcome: 'interrupted', job: released };
  }

  const failureInfo = { code: failure.code, message: failure.message };
  if (!failure.transient || claimed.attempts >= ctx.policy.maxAttempts) {
    await ctx.handler.onFailure({ ...claimed, lastError: failureInfo }, failure);
    await deleteQuietly(storage, claimed);
    return { outcome: 'failed', job: claimed, error: failure };
  }

  const delay = computeRetryDelay(ctx.policy, claimed.attempts, failure.retryAfterMs, ctx.random);
  const runAt = clock.now() + delay;
  const rescheduled: ReservationJob = {
    ...claimed,
    runAt,
    lease: null,
    lastError: failureInfo,
    version: claimed.version + 1,
  };
  try {
    await storage.updateJob(rescheduled, claimed.version);
  } catch (error) {
    // Our lease expired and another owner took the job over: it is theirs now.
    if (ConflictError.is(error)) return { outcome: 'skipped', reason: 'leased' };
    throw error;
  }
  await ctx.handler.onRetry(rescheduled, failure, runAt);
  return { outcome: 'retry', job: rescheduled, error: failure, runAt };
}

async function runWithTimeout(ctx: AttemptContext, job: ReservationJob): Promise<void> {
  const controller = new AbortController();
  const timeoutMs = ctx.policy.attemptTimeoutMs;
  let rejectAbort: (reason: unknown) => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    rejectAbort = reject;
  });
  const abort = (reason: ReservationError) => {
    if (controller.signal.aborted) return;
    controller.abort(reason);
    rejectAbort(reason);
  };
  const timer = ctx.clock.setTimer(
    () =>
      abort(
        new ReservationError(
          ErrorCode.RESERVATION_ABORTED,
          `Attempt timed out after ${timeoutMs} ms.`,
          {
            transient: true,
          },
        ),
      ),
    timeoutMs,
  );
  const onStop = () =>
    abort(
      new ReservationError(ErrorCode.RESERVATION_ABORTED, 'Scheduler stopped during the attempt.', {
        transient: true,
      }),
    );
  ctx.stopSignal?.addEventListener('abort', onStop, { once: true });
  try {
    await Promise.race([
      ctx.handler.run(job, { attempt: job.attempts, signal: controller.signal }),
      aborted,
    ]);
  } finally {
    timer.clear();
    ctx.stopSignal?.removeEventListener('abort', onStop);
    aborted.catch(() => undefined);
  }
}

async function deleteQuietly(storage: CartStorage, job: ReservationJob): Promise<void> {
  try {
    await storage.deleteJob(job.id, job.version);
  } catch (error) {
    // Our lease expired and another owner took over; the job is theirs to settle.
    if (!ConflictError.is(error)) throw error;
  }
}
