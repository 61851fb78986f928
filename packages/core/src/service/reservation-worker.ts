import { randomUUID } from 'node:crypto';
import {
  type Cart,
  type CartLine,
  findLine,
  putLine,
  type ReservationFailure,
} from '../domain/cart.js';
import { newJob, type ReservationJob } from '../domain/job.js';
import {
  markFailed,
  markReserved,
  markRetrying,
  mayFollowUncertainFailure,
} from '../domain/reservation.js';
import { ErrorCode, ReservationError } from '../errors/index.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ReservationResult, Reserver } from '../ports/reserver.js';
import type { JobAttempt, JobHandler, Scheduler } from '../ports/scheduler.js';
import type { CartRepository } from './cart-repository.js';

/** Options of {@link ReservationWorker}. */
export interface ReservationWorkerOptions {
  readonly repository: CartRepository;
  readonly reserver: Reserver;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Where the worker hands the cleanup jobs it creates itself (see `onFailure`).
   * Without it they stay persisted and run at the scheduler's next start.
   */
  readonly scheduler?: Pick<Scheduler, 'enqueue'>;
  /** Source of ids for cleanup jobs. Default `crypto.randomUUID`. */
  readonly generateId?: () => string;
}

/**
 * The {@link JobHandler} schedulers run: calls the reserver for a job and records
 * the outcome on the cart line, if the line still wants that job's reservation.
 *
 * A job whose line changed or went away meanwhile is *superseded*. If nothing can
 * be held under its key yet (first attempt, fresh key) it does nothing; otherwise it
 * completes the reservation (the idempotency key makes the service return what it
 * may already hold) and releases it, so no reservation is left behind.
 */
export class ReservationWorker implements JobHandler {
  readonly #options: ReservationWorkerOptions;
  readonly #generateId: () => string;

  constructor(options: ReservationWorkerOptions) {
    this.#options = options;
    this.#generateId = options.generateId ?? randomUUID;
  }

  /** Runs one attempt of `job`. */
  async run(job: ReservationJob, attempt: JobAttempt): Promise<void> {
    const { reserver, repository, logger } = this.#options;
    if (job.kind === 'release') {
      await this.#release(job, attempt.signal);
      return;
    }
    const cart = await repository.read(job.cartId);
    if (!wantsJob(cart, job)) {
      const nothingHeldYet = job.attempts <= 1 && job.idempotencyKey === job.id;
      if (nothingHeldYet || reserver.release === undefined) {
        logger.debug({ jobId: job.id }, 'reservation job superseded; nothing to do');
        return;
      }
    }
    const { reservationId } = await this.#reserve(job, attempt.signal);
    const recorded = await this.#updateLine(job, (line) =>
      markReserved(line, reservationId, job.attempts, this.#options.clock.now()),
    );
    if (recorded) {
      logger.info(
        { jobId: job.id, cartId: job.cartId, item: job.itemName, reservationId },
        'item reserved',
      );
      return;
    }
    await reserver.release?.(reservationId, { signal: attempt.signal });
    logger.info({ jobId: job.id, reservationId }, 'superseded reservation released');
  }

  /** Records a failed attempt on the line (attempts, last error); it stays pending. */
  async onRetry(job: ReservationJob, error: ReservationError, retryAt: number): Promise<void> {
    this.#options.logger.warn(
      { jobId: job.id, attempts: job.attempts, code: error.code, err: error.message, retryAt },
      'reservation attempt failed; will retry',
    );
    if (job.kind !== 'reserve') return;
    await this.#updateLine(job, (line) =>
      markRetrying(line, failureOf(error), job.attempts, this.#options.clock.now()),
    );
  }

  /**
   * Marks the line's reservation failed with the last error. If the line no longer
   * wants the job and the failure leaves open whether the service reserved, a
   * cleanup job (release after replaying the key) is saved and handed over.
   */
  async onFailure(job: ReservationJob, error: ReservationError): Promise<void> {
    const { logger, clock, repository, reserver } = this.#options;
    logger.warn(
      {
        jobId: job.id,
        kind: job.kind,
        attempts: job.attempts,
        code: error.code,
        err: error.message,
      },
      'reservation job failed',
    );
    if (job.kind !== 'reserve') return;
    const recorded = await this.#updateLine(job, (line) =>
      markFailed(line, failureOf(error), job.attempts, clock.now()),
    );
    if (
      recorded ||
      reserver.release === undefined ||
      !mayFollowUncertainFailure(job.attempts, error.code)
    ) {
      return;
    }
    const cleanup = newJob({
      id: this.#generateId(),
      kind: 'release',
      cartId: job.cartId,
      itemName: job.itemName,
      quantity: job.quantity,
      reservationId: null,
      idempotencyKey: job.idempotencyKey,
      now: clock.now(),
    });
    // Jobs are saved with a cart write; the cart's lines stay as they are.
    await repository.mutate(job.cartId, (cart) => ({
      lines: cart.lines,
      jobs: [cleanup],
      result: undefined,
    }));
    this.#options.scheduler?.enqueue(cleanup);
    logger.info(
      { jobId: cleanup.id, key: job.idempotencyKey },
      'queued a cleanup for a superseded job',
    );
  }

  /**
   * Releases a reservation that is no longer wanted. Without its external id (the
   * line failed after attempts that may have reserved), the id is recovered first by
   * replaying the job's idempotency key; a refusal then means nothing is held.
   */
  async #release(job: ReservationJob, signal: AbortSignal): Promise<void> {
    const { reserver, logger } = this.#options;
    if (reserver.release === undefined) return;
    let reservationId = job.reservationId;
    if (reservationId === null) {
      try {
        ({ reservationId } = await this.#reserve(job, signal));
      } catch (error) {
        if (ReservationError.is(error) && error.code === ErrorCode.RESERVATION_REFUSED) return;
        throw error;
      }
    }
    await reserver.release(reservationId, { signal });
    logger.info({ jobId: job.id, reservationId }, 'reservation released');
  }

  /** Calls the reserver with the job's key and checks the answer carries an id. */
  async #reserve(job: ReservationJob, signal: AbortSignal): Promise<ReservationResult> {
    const result = await this.#options.reserver.reserve(
      {
        name: job.itemName,
        quantity: job.quantity,
        idempotencyKey: job.idempotencyKey,
        cartId: job.cartId,
      },
      { signal },
    );
    if (typeof result?.reservationId !== 'string' || result.reservationId.length === 0) {
      throw new ReservationError(
        ErrorCode.RESERVATION_BAD_RESPONSE,
        'Reserver returned no reservation id.',
        {
          transient: false,
        },
      );
    }
    return result;
  }

  /** Applies `change` to the job's line if it still wants this job. @returns whether it did. */
  async #updateLine(job: ReservationJob, change: (line: CartLine) => CartLine): Promise<boolean> {
    const { result } = await this.#options.repository.mutate(job.cartId, (cart) => {
      const line = findLine(cart, job.itemName);
      if (line === undefined || line.reservation?.jobId !== job.id) {
        return { unchanged: true, result: false };
      }
      const changed = change(line);
      if (changed === line) return { unchanged: true, result: true };
      return { lines: putLine(cart, changed), result: true };
    });
    return result;
  }
}

function wantsJob(cart: Cart | undefined, job: ReservationJob): boolean {
  const line = cart === undefined ? undefined : findLine(cart, job.itemName);
  return line?.reservation?.jobId === job.id;
}

function failureOf(error: ReservationError): ReservationFailure {
  return { code: error.code, message: error.message };
}
