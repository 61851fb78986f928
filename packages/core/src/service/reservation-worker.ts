import {
  type Cart,
  type CartLine,
  findLine,
  putLine,
  type ReservationFailure,
} from '../domain/cart.js';
import type { ReservationJob } from '../domain/job.js';
import { markFailed, markReserved, markRetrying } from '../domain/reservation.js';
import { ErrorCode, ReservationError } from '../errors/index.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Reserver } from '../ports/reserver.js';
import type { JobAttempt, JobHandler } from '../ports/scheduler.js';
import type { CartRepository } from './cart-repository.js';

/** Options of {@link ReservationWorker}. */
export interface ReservationWorkerOptions {
  readonly repository: CartRepository;
  readonly reserver: Reserver;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The {@link JobHandler} schedulers run: calls the reserver for a job and records
 * the outcome on the cart line, if the line still wants that job's reservation.
 *
 * A job whose line changed or went away meanwhile is *superseded*: if no attempt
 * was sent yet it does nothing; otherwise it completes the reservation (the
 * idempotency key makes that return the one the service may already hold) and
 * releases it, so no reservation is left behind at the service.
 */
export class ReservationWorker implements JobHandler {
  readonly #options: ReservationWorkerOptions;

  constructor(options: ReservationWorkerOptions) {
    this.#options = options;
  }

  /** Runs one attempt of `job`. */
  async run(job: ReservationJob, attempt: JobAttempt): Promise<void> {
    const { reserver, repository, logger } = this.#options;
    if (job.kind === 'release') {
      await this.#release(job, attempt.signal);
      return;
    }
    const cart = await repository.read(job.cartId);
    if (!wantsJob(cart, job) && job.attempts <= 1) {
      logger.debug({ jobId: job.id }, 'reservation job superseded before it ran; skipped');
      return;
    }
    const { reservationId } = await reserver.reserve(
      { name: job.itemName, quantity: job.quantity, idempotencyKey: job.id, cartId: job.cartId },
      { signal: attempt.signal },
    );
    if (typeof reservationId !== 'string' || reservationId.length === 0) {
      throw new ReservationError(
        ErrorCode.RESERVATION_BAD_RESPONSE,
        'Reserver returned no reservation id.',
        {
          transient: false,
        },
      );
    }
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
    if (reserver.release !== undefined) {
      await reserver.release(reservationId, { signal: attempt.signal });
    }
    logger.info({ jobId: job.id, reservationId }, 'superseded reservation released');
  }

  /**
   * Releases a reservation that is no longer wanted. Without its external id (the
   * line failed after attempts that may have reserved), the id is recovered first by
   * replaying the old idempotency key — the job's own id; a refusal then means the
   * service holds nothing.
   */
  async #release(job: ReservationJob, signal: AbortSignal): Promise<void> {
    const { reserver, logger } = this.#options;
    if (reserver.release === undefined) return;
    let reservationId = job.reservationId;
    if (reservationId === null) {
      try {
        ({ reservationId } = await reserver.reserve(
          {
            name: job.itemName,
            quantity: job.quantity,
            idempotencyKey: job.id,
            cartId: job.cartId,
          },
          { signal },
        ));
      } catch (error) {
        if (ReservationError.is(error) && !error.transient) return;
        throw error;
      }
    }
    await reserver.release(reservationId, { signal });
    logger.info({ jobId: job.id, reservationId }, 'reservation released');
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

  /** Marks the line's reservation failed with the last error. */
  async onFailure(job: ReservationJob, error: ReservationError): Promise<void> {
    this.#options.logger.warn(
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
    await this.#updateLine(job, (line) =>
      markFailed(line, failureOf(error), job.attempts, this.#options.clock.now()),
    );
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
