/** What to reserve at the external service. */
export interface ReservationRequest {
  /** The item name, as in the cart line. */
  readonly name: string;
  /** The quantity to reserve. */
  readonly quantity: number;
  /** Stable per task: the same on every retry, so the service reserves at most once. */
  readonly idempotencyKey: string;
  /** The cart the line belongs to (for services that want it; the default protocol ignores it). */
  readonly cartId: string;
}

/** A successful reservation. */
export interface ReservationResult {
  /** The service's id for the reservation. */
  readonly reservationId: string;
}

/** Per-call options of a {@link Reserver}. */
export interface ReserverCallOptions {
  /** Aborts the call (attempt timeout or shutdown). */
  readonly signal?: AbortSignal;
}

/**
 * Port: the external reservation (inventory) service.
 *
 * Failures are `ReservationError`s whose `transient` flag says whether a retry may
 * succeed (timeouts, 5xx, 429, network) or the service refused for good.
 * Contract checked by `reserverContractSuite` in `@cartkit/testing`.
 */
export interface Reserver {
  /**
   * Reserves `request.quantity` of `request.name`. Calling again with the same
   * `idempotencyKey` must not reserve twice.
   * @throws ReservationError
   */
  reserve(request: ReservationRequest, options?: ReserverCallOptions): Promise<ReservationResult>;

  /**
   * Releases a reservation. Releasing an unknown or already released id succeeds.
   * Optional: without it, changed or removed lines simply drop their reservation.
   * @throws ReservationError
   */
  release?(reservationId: string, options?: ReserverCallOptions): Promise<void>;

  /** Releases resources (sockets, agents). */
  close?(): Promise<void>;
}
