const BRAND: unique symbol = Symbol.for('cartkit.error');

/**
 * The broad family an error belongs to. Stable across releases; use it (or the
 * subclass `is` checks) to branch on errors without comparing codes one by one.
 */
export type CartErrorKind =
  | 'validation'
  | 'not-found'
  | 'conflict'
  | 'reservation'
  | 'storage'
  | 'configuration';

/** Options accepted by every cartkit error constructor. */
export interface CartErrorOptions {
  /** The underlying error, kept as the standard `cause`. */
  cause?: unknown;
  /** Structured, serialisable facts about the error (field name, limits, ids...). */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * Base class of every error cartkit throws.
 *
 * - `code` is a stable machine-readable UPPER_SNAKE identifier (see {@link ErrorCode}).
 * - `kind` groups codes into families.
 * - `cause` is set when another error led to this one.
 *
 * Use {@link CartError.is} (or `ValidationError.is`, ...) rather than `instanceof`:
 * it also recognises errors created by another copy of this package.
 */
export class CartError extends Error {
  /** The family of this error class. Subclasses override it. */
  static readonly kind: CartErrorKind | undefined = undefined;

  /** Stable machine-readable error code. */
  readonly code: string;
  /** The family this error belongs to. */
  readonly kind: CartErrorKind;
  /** Structured facts about the error, safe to show to API clients. */
  readonly details: Readonly<Record<string, unknown>>;
  readonly [BRAND] = true;

  constructor(kind: CartErrorKind, code: string, message: string, options: CartErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.code = code;
    this.details = options.details ?? {};
  }

  /**
   * Tells whether `value` is a cartkit error of this class's family, even when it
   * comes from another copy of the package. `CartError.is` accepts every family.
   */
  static is<T extends abstract new (...args: never[]) => CartError>(
    this: T & { readonly kind: CartErrorKind | undefined },
    value: unknown,
  ): value is InstanceType<T> {
    if (typeof value !== 'object' || value === null) return false;
    if ((value as { [BRAND]?: unknown })[BRAND] !== true) return false;
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass the check was called on
    return this.kind === undefined || (value as CartError).kind === this.kind;
  }

  /** A plain-object view for logs and API responses (no stack, no cause). */
  toJSON(): {
    name: string;
    code: string;
    kind: CartErrorKind;
    message: string;
    details: Readonly<Record<string, unknown>>;
  } {
    return {
      name: this.name,
      code: this.code,
      kind: this.kind,
      message: this.message,
      details: this.details,
    };
  }
}
