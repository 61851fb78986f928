import { randomUUID } from 'node:crypto';
import { ErrorCode, ReservationError } from '../errors/index.js';
import type {
  ReservationRequest,
  ReservationResult,
  Reserver,
  ReserverCallOptions,
} from '../ports/reserver.js';

/** Options of {@link MemoryReserver}. */
export interface MemoryReserverOptions {
  /** Item names the reserver refuses (permanent `RESERVATION_REFUSED`). */
  readonly refuse?: (name: string) => boolean;
}

/** A reservation held by a {@link MemoryReserver}. */
export interface HeldReservation {
  readonly reservationId: string;
  readonly name: string;
  readonly quantity: number;
  readonly idempotencyKey: string;
}

/**
 * The reference {@link Reserver}: reserves in process memory. Honours idempotency
 * keys (a repeated key returns the first reservation) and release, and can refuse
 * names. For unit tests and for running cartkit without an inventory service.
 */
export class MemoryReserver implements Reserver {
  readonly #byKey = new Map<string, HeldReservation>();
  readonly #held = new Map<string, HeldReservation>();
  readonly #refuse: (name: string) => boolean;
  #calls = 0;

  constructor(options: MemoryReserverOptions = {}) {
    this.#refuse = options.refuse ?? (() => false);
  }

  async reserve(
    request: ReservationRequest,
    options: ReserverCallOptions = {},
  ): Promise<ReservationResult> {
    this.#calls++;
    throwIfAborted(options.signal);
    const previous = this.#byKey.get(request.idempotencyKey);
    if (previous !== undefined) return { reservationId: previous.reservationId };
    if (this.#refuse(request.name)) {
      throw ReservationError.refused(`Item "${request.name}" cannot be reserved.`);
    }
    const held: HeldReservation = {
      reservationId: randomUUID(),
      name: request.name,
      quantity: request.quantity,
      idempotencyKey: request.idempotencyKey,
    };
    this.#byKey.set(request.idempotencyKey, held);
    this.#held.set(held.reservationId, held);
    return { reservationId: held.reservationId };
  }

  async release(reservationId: string, options: ReserverCallOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#held.delete(reservationId);
  }

  /** Reservations currently held (reserved and not released). */
  held(): HeldReservation[] {
    return [...this.#held.values()];
  }

  /** Distinct reservations ever made (one per idempotency key). */
  get distinctReservations(): number {
    return this.#byKey.size;
  }

  /** `reserve` calls received, retries included. */
  get calls(): number {
    return this.#calls;
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new ReservationError(ErrorCode.RESERVATION_ABORTED, 'Reservation call aborted.', {
      transient: true,
      cause: signal.reason,
    });
  }
}
