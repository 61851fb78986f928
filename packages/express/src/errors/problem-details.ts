import { STATUS_CODES } from 'node:http';
import { CartError, ConflictError, ErrorCode } from '@cartkit/core';
import { HttpErrorCode } from './http-error-codes.js';
import { HttpProblem } from './http-problem.js';
import { UnauthorizedError } from './unauthorized-error.js';

/** An RFC 9457 problem document, with cartkit's stable `code` member. */
export interface ProblemDocument {
  /** `about:blank`: the `code` member says which problem it is. */
  readonly type: string;
  /** The HTTP status phrase (as RFC 9457 asks for `about:blank`). */
  readonly title: string;
  /** The HTTP status, repeated. */
  readonly status: number;
  /** What went wrong, for humans. Never a stack trace or a driver message. */
  readonly detail: string;
  /** Stable machine-readable code: a core `ErrorCode` or an `HttpErrorCode`. */
  readonly code: string;
  /** Extension members (`errors`, `limit`, `currentVersion`, ...). */
  readonly [member: string]: unknown;
}

/** How an error is answered: status, headers, body, and whether it is the server's fault. */
export interface ProblemResponse {
  /** The HTTP status. */
  readonly status: number;
  /** Headers to send with it (`Allow`, `WWW-Authenticate`, `Retry-After`, ...). */
  readonly headers: Readonly<Record<string, string>>;
  /** The problem document. */
  readonly body: ProblemDocument;
  /** True for 5xx answers: log them as errors. */
  readonly serverFault: boolean;
}

/** Options of {@link describeError}. */
export interface DescribeErrorOptions {
  /** `WWW-Authenticate` challenge of 401 answers when the error names none. Default `Bearer`. */
  readonly authChallenge?: string;
}

const RESERVED_MEMBERS = new Set(['type', 'title', 'status', 'detail', 'code', 'instance']);

/** Fields of the errors body-parser (http-errors) and the router raise. */
interface HttpLibraryError {
  readonly status?: unknown;
  readonly statusCode?: unknown;
  readonly expose?: unknown;
  readonly type?: unknown;
  readonly limit?: unknown;
  readonly message?: unknown;
}

/**
 * Maps any thrown value to its problem+json answer. Core errors map by kind
 * (validation 400, not-found 404, `VERSION_MISMATCH` 412, other conflicts 409,
 * storage 503); HTTP parsing errors to 400/413/415; anything unknown to a
 * generic 500 `INTERNAL_ERROR` whose detail reveals nothing.
 */
export function describeError(error: unknown, options: DescribeErrorOptions = {}): ProblemResponse {
  if (HttpProblem.is(error)) {
    return problem(error.status, error.code, error.message, error.headers, error.extensions);
  }
  if (UnauthorizedError.is(error)) {
    const challenge = error.challenge ?? options.authChallenge ?? 'Bearer';
    return problem(401, HttpErrorCode.UNAUTHENTICATED, error.message, {
      'WWW-Authenticate': challenge,
    });
  }
  if (CartError.is(error)) return describeCartError(error);
  const fromLibrary = describeLibraryError(error);
  if (fromLibrary !== undefined) return fromLibrary;
  return internalError();
}

function describeCartError(error: CartError): ProblemResponse {
  const extensions = error.details;
  switch (error.kind) {
    case 'validation': {
      // One shape for every refusal of a body field: `errors[]`, one entry per pointer,
      // and no other members (what the rules said is in the sentences). Core errors
      // about `name` / `quantity` come from the body (the router refuses bad path
      // names itself), so they point at it.
      const field = extensions.field;
      const errors = Array.isArray(extensions.errors)
        ? extensions.errors
        : field === 'name' || field === 'quantity'
          ? [{ pointer: `/${field}`, code: error.code, detail: error.message }]
          : undefined;
      return problem(400, error.code, error.message, {}, errors === undefined ? {} : { errors });
    }
    case 'not-found':
      return problem(404, error.code, error.message, {}, extensions);
    case 'conflict':
      return ConflictError.is(error) && error.code === ErrorCode.VERSION_MISMATCH
        ? problem(412, error.code, error.message, {}, extensions)
        : problem(409, error.code, error.message, {}, extensions);
    case 'storage':
      return problem(
        503,
        error.code,
        'The cart storage is unavailable at the moment; try again later.',
        { 'Retry-After': '1' },
      );
    default:
      return internalError();
  }
}

function describeLibraryError(error: unknown): ProblemResponse | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as HttpLibraryError;
  const status = typeof e.status === 'number' ? e.status : e.statusCode;
  if (typeof status !== 'number' || status < 400 || status > 499) return undefined;
  if (error instanceof URIError) {
    return problem(400, HttpErrorCode.MALFORMED_URI, 'The URL has malformed percent-encoding.');
  }
  if (e.expose !== true) return undefined;
  switch (e.type) {
    case 'entity.parse.failed':
      return problem(400, HttpErrorCode.MALFORMED_JSON, 'The request body is not valid JSON.');
    case 'entity.too.large': {
      const limit = typeof e.limit === 'number' ? e.limit : undefined;
      return problem(
        413,
        HttpErrorCode.PAYLOAD_TOO_LARGE,
        limit === undefined
          ? 'The request body is too large.'
          : `The request body is larger than ${limit} bytes.`,
        {},
        limit === undefined ? {} : { limit },
      );
    }
    case 'charset.unsupported':
      return problem(
        415,
        HttpErrorCode.UNSUPPORTED_MEDIA_TYPE,
        'The request body must be JSON in UTF-8; send Content-Type: application/json without another charset.',
      );
    case 'encoding.unsupported':
      return problem(
        415,
        HttpErrorCode.UNSUPPORTED_MEDIA_TYPE,
        'Content-Encoding must be identity, gzip, deflate or br.',
      );
    case 'request.aborted':
      return problem(
        400,
        HttpErrorCode.BAD_REQUEST,
        'The request body ended before it was complete.',
      );
    case 'request.size.invalid':
      return problem(
        400,
        HttpErrorCode.BAD_REQUEST,
        'The request body does not match its Content-Length.',
      );
    default:
      // Never a library's own text (a zlib message, say): our sentence for the status.
      return status === 400
        ? problem(
            400,
            HttpErrorCode.BAD_REQUEST,
            'The request body could not be read; check that it matches its Content-Encoding.',
          )
        : problem(
            status,
            codeOfStatus(status),
            `The request was refused (${STATUS_CODES[status] ?? status}).`,
          );
  }
}

function internalError(): ProblemResponse {
  return problem(500, HttpErrorCode.INTERNAL_ERROR, 'An unexpected error occurred.');
}

function problem(
  status: number,
  code: string,
  detail: string,
  headers: Readonly<Record<string, string>> = {},
  extensions: Readonly<Record<string, unknown>> = {},
): ProblemResponse {
  const body: ProblemDocument = {
    ...publicDetails(extensions),
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    code,
  };
  return { status, headers, body, serverFault: status >= 500 };
}

function publicDetails(details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const members: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    if (!RESERVED_MEMBERS.has(key)) members[key] = value;
  }
  return members;
}

/** `Unprocessable Content` → `UNPROCESSABLE_CONTENT`. */
function codeOfStatus(status: number): string {
  const phrase = STATUS_CODES[status] ?? `HTTP ${status}`;
  return phrase
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
}
