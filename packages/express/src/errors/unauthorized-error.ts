import { HttpErrorCode } from './http-error-codes.js';

const BRAND: unique symbol = Symbol.for('cartkit.express.unauthorized');

/** Options of an {@link UnauthorizedError}. */
export interface UnauthorizedErrorOptions {
  /**
   * The `WWW-Authenticate` challenge of the 401 answer (e.g. `Bearer realm="shop"`).
   * Default: the router's `authChallenge` option.
   */
  readonly challenge?: string;
  /** The underlying error, kept as the standard `cause`. */
  readonly cause?: unknown;
}

/**
 * Thrown by a `resolveCartId` hook when the request carries no acceptable
 * identity. The router answers `401` with code `UNAUTHENTICATED` and a
 * `WWW-Authenticate` header. (Returning `undefined` from the hook does the same.)
 */
export class UnauthorizedError extends Error {
  /** Always `UNAUTHENTICATED`. */
  readonly code = HttpErrorCode.UNAUTHENTICATED;
  /** The `WWW-Authenticate` challenge to send, if the hook chose one. */
  readonly challenge: string | undefined;
  readonly [BRAND] = true;

  constructor(message = 'Authentication is required.', options: UnauthorizedErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UnauthorizedError';
    this.challenge = options.challenge;
  }

  /** Tells whether `value` is an {@link UnauthorizedError}, even from another copy of this package. */
  static is(value: unknown): value is UnauthorizedError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as { [BRAND]?: unknown })[BRAND] === true
    );
  }
}
