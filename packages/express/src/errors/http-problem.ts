const BRAND: unique symbol = Symbol.for('cartkit.express.http-problem');

/** Options of an {@link HttpProblem}. */
export interface HttpProblemOptions {
  /** Response headers that go with the problem (`Allow`, `Retry-After`, ...). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Extension members added to the problem document (JSON-serialisable). */
  readonly extensions?: Readonly<Record<string, unknown>>;
  /** The underlying error, kept as the standard `cause`. */
  readonly cause?: unknown;
}

/**
 * An error that already knows its HTTP answer: status, stable `code`, a detail
 * that is safe to show to clients, and optional headers and extension members.
 * The problem+json error middleware renders it as is. Throw it from your own
 * routes to answer with a problem document.
 */
export class HttpProblem extends Error {
  /** HTTP status, 400–599. */
  readonly status: number;
  /** Stable machine-readable code (UPPER_SNAKE). */
  readonly code: string;
  /** Headers sent with the problem. */
  readonly headers: Readonly<Record<string, string>>;
  /** Extension members of the problem document. */
  readonly extensions: Readonly<Record<string, unknown>>;
  readonly [BRAND] = true;

  constructor(status: number, code: string, detail: string, options: HttpProblemOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HttpProblem';
    this.status = status;
    this.code = code;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }

  /** Tells whether `value` is an {@link HttpProblem}, even from another copy of this package. */
  static is(value: unknown): value is HttpProblem {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as { [BRAND]?: unknown })[BRAND] === true
    );
  }
}
