import { randomUUID } from 'node:crypto';
import {
  type Cart,
  type CartLine,
  findLine,
  putLine,
  type ReservationFailure,
} from '../domain/cart.js';
import {
  markFailed,
  markReserved,
  markRetrying,
  mayFollowUncertainFailure,
  type ReservationChange,
  requestReservation,
  startReservation,
  type TransitionContext,
} from '../domain/reservation.js';
import { newTask, type ReservationTask } from '../domain/task.js';
import { ErrorCode, ReservationError, toReservationError } from '../errors/index.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ReservationResult, Reserver } from '../ports/reserver.js';
import type { Scheduler, TaskDelivery, TaskHandler } from '../ports/scheduler.js';
import type { CartRepository } from './cart-repository.js';

/** Options of {@link ReservationWorker}. */
export interface ReservationWorkerOptions {
  readonly repository: CartRepository;
  readonly reserver: Reserver;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Notified when the worker adds a cleanup task to the outbox itself. Without it,
   * the scheduler finds the task at its next poll.
   */
  readonly scheduler?: Pick<Scheduler, 'notify'>;
  /** Source of ids for cleanup tasks. Default `crypto.randomUUID`. */
  readonly generateId?: () => string;
}

/**
 * The {@link TaskHandler} schedulers deliver to: calls the reserver for a task and
 * records the outcome on the cart line (reserved, retrying, failed), if the line
 * still wants that task's reservation. The attempt number and whether it is the last
 * come from the scheduler ({@link TaskDelivery}).
 *
 * A task whose line changed or went away meanwhile is *superseded*. If nothing can
 * be held under its key yet (first attempt, fresh key) it does nothing; otherwise it
 * completes the reservation (the idempotency key makes the service return what it
 * may already hold) and releases it, so no reservation is left behind.
 */
export class ReservationWorker implements TaskHandler {
  readonly #options: ReservationWorkerOptions;
  readonly #generateId: () => string;

  constructor(options: ReservationWorkerOptions) {
    this.#options = options;
    this.#generateId = options.generateId ?? randomUUID;
  }

  /**
   * Runs one delivery of `task`. On failure, records it on the line (retrying, or
   * failed when no retry follows) and rethrows it as a `ReservationError` for the
   * scheduler to retry or drop.
   */
  async handle(task: ReservationTask, delivery: TaskDelivery): Promise<void> {
    try {
      await untilAborted(this.#run(task, delivery), delivery.signal);
    } catch (thrown) {
      const error = toReservationError(thrown);
      if (error.transient && (!delivery.isLastAttempt || isInterruption(error))) {
        await this.#onRetry(task, delivery, error);
      } else {
        await this.#onFailure(task, delivery, error);
      }
      throw error;
    }
  }

  async #run(task: ReservationTask, delivery: TaskDelivery): Promise<void> {
    const { reserver, logger } = this.#options;
    if (task.kind === 'release') {
      await this.#release(task, delivery.signal);
      return;
    }
    const cart = await this.#options.repository.read(task.cartId);
    const nothingHeldYet = delivery.attempt <= 1 && task.idempotencyKey === task.id;
    if (!wantsTask(cart, task)) {
      if (nothingHeldYet || reserver.release === undefined) {
        logger.debug({ taskId: task.id }, 'reservation task superseded; nothing to do');
        return;
      }
    } else if (
      nothingHeldYet &&
      cart !== undefined &&
      findLine(cart, task.itemName)?.quantity !== task.quantity
    ) {
      // The line's quantity changed while this task waited and nothing went out under
      // its key yet: hand the line over to a task for its current quantity.
      const handedOver = await this.#changeLine(task, (line, ctx) =>
        line.quantity === task.quantity ? { line, tasks: [] } : startReservation(line, ctx),
      );
      if (handedOver) {
        logger.debug({ taskId: task.id }, 'reservation task handed over to the current quantity');
        return;
      }
    }
    const { reservationId } = await this.#reserve(task, delivery.signal);
    // Reserved for the task's quantity; if the line changed meanwhile, one adjustment
    // (release, and a reservation of the current quantity) goes out with the record.
    const recorded = await this.#changeLine(task, (line, ctx) => {
      const reserved = markReserved(line, reservationId, delivery.attempt, ctx.now);
      return reserved.quantity === task.quantity
        ? { line: reserved, tasks: [] }
        : requestReservation(reserved, ctx);
    });
    if (recorded) {
      logger.info(
        { taskId: task.id, cartId: task.cartId, item: task.itemName, reservationId },
        'item reserved',
      );
      return;
    }
    await reserver.release?.(reservationId, { signal: delivery.signal });
    logger.info({ taskId: task.id, reservationId }, 'superseded reservation released');
  }

  /** Records a failed attempt on the line (attempts, last error); it stays pending. */
  async #onRetry(
    task: ReservationTask,
    delivery: TaskDelivery,
    error: ReservationError,
  ): Promise<void> {
    this.#options.logger.warn(
      { taskId: task.id, attempt: delivery.attempt, code: error.code, err: error.message },
      'reservation attempt failed; will retry',
    );
    if (task.kind !== 'reserve') return;
    await this.#updateLine(task, (line) =>
      markRetrying(line, failureOf(error), delivery.attempt, this.#options.clock.now()),
    );
  }

  /**
   * Marks the line's reservation failed with the last error. If the line no longer
   * wants the task and the failure leaves open whether the service reserved, a
   * cleanup task (release after replaying the key) is added to the outbox — without
   * changing the cart.
   */
  async #onFailure(
    task: ReservationTask,
    delivery: TaskDelivery,
    error: ReservationError,
  ): Promise<void> {
    const { logger, clock, repository, reserver } = this.#options;
    logger.warn(
      {
        taskId: task.id,
        kind: task.kind,
        attempt: delivery.attempt,
        code: error.code,
        err: error.message,
      },
      'reservation task failed',
    );
    if (task.kind !== 'reserve') return;
    const recorded = await this.#updateLine(task, (line) =>
      markFailed(line, failureOf(error), delivery.attempt, clock.now()),
    );
    if (
      recorded ||
      reserver.release === undefined ||
      !mayFollowUncertainFailure(delivery.attempt, error.code)
    ) {
      return;
    }
    const cleanup = newTask({
      id: this.#generateId(),
      kind: 'release',
      cartId: task.cartId,
      itemName: task.itemName,
      quantity: task.quantity,
      reservationId: null,
      idempotencyKey: task.idempotencyKey,
      now: clock.now(),
    });
    await repository.enqueueTasks([cleanup]);
    try {
      this.#options.scheduler?.notify();
    } catch {
      // The cleanup is in the outbox; the next poll finds it.
    }
    logger.info(
      { taskId: cleanup.id, key: task.idempotencyKey },
      'queued a cleanup for a superseded task',
    );
  }

  /**
   * Releases a reservation that is no longer wanted. Without its external id (the
   * line failed after attempts that may have reserved), the id is recovered first by
   * replaying the task's idempotency key; a refusal then means nothing is held.
   */
  async #release(task: ReservationTask, signal: AbortSignal): Promise<void> {
    const { reserver, logger } = this.#options;
    if (reserver.release === undefined) return;
    let reservationId = task.reservationId;
    if (reservationId === null) {
      try {
        ({ reservationId } = await this.#reserve(task, signal));
      } catch (error) {
        if (ReservationError.is(error) && error.code === ErrorCode.RESERVATION_REFUSED) return;
        throw error;
      }
    }
    await reserver.release(reservationId, { signal });
    logger.info({ taskId: task.id, reservationId }, 'reservation released');
  }

  /**
   * Calls the reserver with the task's key and checks the answer carries an id. A
   * 2xx without one is an *uncertain* outcome: the service acted, so replays of the
   * key recover or release what it holds.
   */
  async #reserve(task: ReservationTask, signal: AbortSignal): Promise<ReservationResult> {
    const result = await this.#options.reserver.reserve(
      {
        name: task.itemName,
        quantity: task.quantity,
        idempotencyKey: task.idempotencyKey,
        cartId: task.cartId,
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

  /**
   * Applies `change` to the task's line if it still wants this task, saving the tasks
   * it yields with the cart (and waking the scheduler for them). @returns whether it did.
   */
  async #changeLine(
    task: ReservationTask,
    change: (line: CartLine, ctx: TransitionContext) => ReservationChange,
  ): Promise<boolean> {
    const { result, tasks } = await this.#options.repository.mutate(
      task.cartId,
      (cart, _exists, now) => {
        const line = findLine(cart, task.itemName);
        if (line === undefined || line.reservation?.jobId !== task.id) {
          return { unchanged: true, result: false };
        }
        const changed = change(line, { cartId: task.cartId, now, newId: this.#generateId });
        if (changed.line === line && changed.tasks.length === 0) {
          return { unchanged: true, result: true };
        }
        return { lines: putLine(cart, changed.line), tasks: changed.tasks, result: true };
      },
    );
    if (tasks.length > 0) {
      try {
        this.#options.scheduler?.notify();
      } catch {
        // The tasks are in the outbox; the next poll finds them.
      }
    }
    return result;
  }

  /** Applies `change` to the task's line if it still wants this task. @returns whether it did. */
  async #updateLine(task: ReservationTask, change: (line: CartLine) => CartLine): Promise<boolean> {
    const { result } = await this.#options.repository.mutate(task.cartId, (cart) => {
      const line = findLine(cart, task.itemName);
      if (line === undefined || line.reservation?.jobId !== task.id) {
        return { unchanged: true, result: false };
      }
      const changed = change(line);
      if (changed === line) return { unchanged: true, result: true };
      return { lines: putLine(cart, changed), result: true };
    });
    return result;
  }
}

function wantsTask(cart: Cart | undefined, task: ReservationTask): boolean {
  const line = cart === undefined ? undefined : findLine(cart, task.itemName);
  return line?.reservation?.jobId === task.id;
}

/** `work`, or a rejection with the signal's reason as soon as it aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function failureOf(error: ReservationError): ReservationFailure {
  return { code: error.code, message: error.message };
}

/**
 * True when the attempt was cut short because its scheduler is stopping (not a
 * verdict on the task): schedulers abort with a `RESERVATION_ABORTED` error whose
 * `details.interrupted` is `true`, and deliver the task again later.
 */
export function isInterruption(error: ReservationError): boolean {
  return error.code === ErrorCode.RESERVATION_ABORTED && error.details.interrupted === true;
}
