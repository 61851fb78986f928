import { CartError, type CartErrorKind, type CartErrorOptions } from './cart-error.js';
import { ErrorCode } from './codes.js';

/** Bad input: the request can never succeed as sent. HTTP 400. */
export class ValidationError extends CartError {
  static override readonly kind: CartErrorKind = 'validation';
  constructor(code: string, message: string, options?: CartErrorOptions) {
    super('validation', code, message, options);
  }
}

/** The cart or item addressed does not exist. HTTP 404. */
export class NotFoundError extends CartError {
  static override readonly kind: CartErrorKind = 'not-found';
  constructor(code: string, message: string, options?: CartErrorOptions) {
    super('not-found', code, message, options);
  }
}

/**
 * The write raced another writer or the caller's expected version is stale.
 * `VERSION_MISMATCH` (HTTP 412) means the caller's precondition failed;
 * `VERSION_CONFLICT` / `CONCURRENT_MODIFICATION` (HTTP 409) mean a storage-level race.
 */
export class ConflictError extends CartError {
  static override readonly kind: CartErrorKind = 'conflict';
  constructor(code: string, message: string, options?: CartErrorOptions) {
    super('conflict', code, message, options);
  }

  /**
   * The `VERSION_CONFLICT` a storage adapter throws when a compare-and-set finds
   * `stored` where the caller expected `expected` (`'missing'`, `'existing'`... for
   * records that are absent or already there).
   */
  static versionConflict(
    what: string,
    stored: number | string,
    expected: number | string,
  ): ConflictError {
    return new ConflictError(
      ErrorCode.VERSION_CONFLICT,
      `Version conflict on ${what}: stored ${stored}, expected ${expected}.`,
      { details: { stored, expected } },
    );
  }

  /** `IDEMPOTENCY_KEY_COMPLETED`: a save carried a record for a key already completed. */
  static idempotencyKeyCompleted(key: string): ConflictError {
    return new ConflictError(
      ErrorCode.IDEMPOTENCY_KEY_COMPLETED,
      'This idempotency key already has a completed response; nothing was written.',
      { details: { key } },
    );
  }
}

/** Options of a {@link ReservationError}. */
export interface ReservationErrorOptions extends CartErrorOptions {
  /** True when retrying later may succeed (timeouts, 5xx, 429, network errors). */
  transient: boolean;
  /** How long the service asked us to wait before retrying, in milliseconds. */
  retryAfterMs?: number;
  /** HTTP status (or equivalent) the service answered, when there was one. */
  status?: number;
}

/**
 * A reservation call failed. `transient` says whether a retry may succeed; the
 * scheduler retries transient failures with backoff and fails the line at once on
 * permanent ones.
 */
export class ReservationError extends CartError {
  static override readonly kind: CartErrorKind = 'reservation';
  /** True when retrying later may succeed. */
  readonly transient: boolean;
  /** The delay the service asked for before a retry, in milliseconds. */
  readonly retryAfterMs: number | undefined;
  /** The status the service answered with, if any. */
  readonly status: number | undefined;
  constructor(code: string, message: string, options: ReservationErrorOptions) {
    super('reservation', code, message, options);
    this.transient = options.transient;
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }

  /** A permanent refusal by the service (the line's reservation fails at once). */
  static refused(
    message: string,
    options: Omit<ReservationErrorOptions, 'transient'> = {},
  ): ReservationError {
    return new ReservationError(ErrorCode.RESERVATION_REFUSED, message, {
      ...options,
      transient: false,
    });
  }

  /** A transient failure (the task is retried with backoff). */
  static unavailable(
    message: string,
    options: Omit<ReservationErrorOptions, 'transient'> = {},
  ): ReservationError {
    return new ReservationError(ErrorCode.RESERVATION_UNAVAILABLE, message, {
      ...options,
      transient: true,
    });
  }
}

/** The storage backend failed, holds unreadable data, or cannot be opened. */
export class StorageError extends CartError {
  static override readonly kind: CartErrorKind = 'storage';
  constructor(code: string, message: string, options?: CartErrorOptions) {
    super('storage', code, message, options);
  }
}

/** An option given to a factory is invalid. Thrown up front, at construction. */
export class ConfigurationError extends CartError {
  static override readonly kind: CartErrorKind = 'configuration';
  constructor(message: string, options?: CartErrorOptions & { option?: string }) {
    super('configuration', ErrorCode.INVALID_OPTION, message, {
      ...options,
      details: {
        ...(options?.details ?? {}),
        ...(options?.option ? { option: options.option } : {}),
      },
    });
  }
}

/**
 * Turns any thrown value into a {@link ReservationError}: cartkit errors pass
 * through, anything else becomes a transient `RESERVATION_UNAVAILABLE` with `cause`.
 */
export function toReservationError(error: unknown): ReservationError {
  if (ReservationError.is(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return ReservationError.unavailable(message, { cause: error });
}
