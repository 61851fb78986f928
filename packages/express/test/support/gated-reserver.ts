import {
  MemoryReserver,
  type ReservationRequest,
  type ReservationResult,
  type ReserverCallOptions,
} from '@cartkit/core';

/**
 * Core's in-memory reserver with a gate: while closed, `reserve` calls wait, so a
 * reservation stays `pending` for as long as a test needs.
 */
export class GatedReserver extends MemoryReserver {
  #opened: Promise<void> = Promise.resolve();
  #open: () => void = () => {};

  /** Makes `reserve` calls wait until {@link open}. */
  close(): void {
    this.#opened = new Promise<void>((resolve) => {
      this.#open = resolve;
    });
  }

  /** Lets waiting and future `reserve` calls go on. */
  open(): void {
    this.#open();
    this.#opened = Promise.resolve();
  }

  override async reserve(
    request: ReservationRequest,
    options?: ReserverCallOptions,
  ): Promise<ReservationResult> {
    await this.#opened;
    return super.reserve(request, options);
  }
}
