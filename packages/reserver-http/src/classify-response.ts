import { ErrorCode, ReservationError } from '@cartkit/core';
import type { ExchangeResponse } from './exchange.js';
import { MAX_RESERVATION_ID_LENGTH, type ResponseHeaders } from './options.js';
import { parseRetryAfter } from './retry-after.js';

/** Longest service-supplied reason quoted in an error message. */
export const MAX_REASON_LENGTH = 200;

/** What a status means for a call, before its body is looked at. */
export type StatusClass = 'success' | 'redirect' | 'refused' | 'transient' | 'unexpected';

/**
 * Classifies an HTTP status:
 * - 2xx `success`;
 * - 408, 425, 429 and every 5xx `transient` (retry later);
 * - every other 4xx `refused` (permanent: 400, 404, 409, 410, 422, but also 401, 403,
 *   405, 413, 415... — asking again unchanged cannot succeed);
 * - 3xx `redirect` (redirects are not followed: point `url` at the final address);
 * - anything else (1xx, >= 600) `unexpected`.
 */
export function classifyStatus(status: number): StatusClass {
  if (status >= 200 && status <= 299) return 'success';
  if (status === 408 || status === 425 || status === 429) return 'transient';
  if (status >= 500 && status <= 599) return 'transient';
  if (status >= 400 && status <= 499) return 'refused';
  if (status >= 300 && status <= 399) return 'redirect';
  return 'unexpected';
}

/** What {@link reservationOutcome} needs besides the response. */
export interface OutcomeContext {
  /** Describes the call in messages, e.g. `Reservation of "Product1"`. */
  readonly action: string;
  /** Current time (epoch ms), for HTTP-date `Retry-After` values. */
  readonly now: number;
  /** The body size limit the exchange applied. */
  readonly maxResponseBytes: number;
}

/** A reserve call's outcome: the id, or the error to throw. */
export type ReservationOutcome =
  | { readonly ok: true; readonly reservationId: string }
  | { readonly ok: false; readonly error: ReservationError };

/**
 * Turns a reserve call's response into a reservation id or a classified
 * `ReservationError`. Never throws: the response is untrusted input.
 */
export function reservationOutcome(
  response: ExchangeResponse,
  context: OutcomeContext,
  mapResponse: (body: unknown, status: number, headers: ResponseHeaders) => string | undefined,
): ReservationOutcome {
  const { status } = response;
  if (classifyStatus(status) !== 'success') {
    return { ok: false, error: failureError(response, context) };
  }
  const bad = (problem: string, cause?: unknown) => ({
    ok: false as const,
    error: new ReservationError(
      ErrorCode.RESERVATION_BAD_RESPONSE,
      `${context.action} got an unusable ${status} answer: ${problem}.`,
      { transient: false, status, ...(cause === undefined ? {} : { cause }) },
    ),
  });
  if (response.body === undefined) {
    return bad(`the body is larger than ${context.maxResponseBytes} bytes`);
  }
  const text = response.body.toString('utf8');
  let parsed: unknown;
  if (text.trim() !== '') {
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      return bad(
        `the body is not JSON (content-type ${quote(header(response.headers, 'content-type') ?? 'none')}, starts with ${quote(excerpt(text, 40))})`,
        error,
      );
    }
  }
  let id: unknown;
  try {
    id = mapResponse(parsed, status, response.headers);
  } catch (error) {
    return bad(
      `mapResponse threw: ${error instanceof Error ? error.message : String(error)}`,
      error,
    );
  }
  if (id === undefined) {
    return bad(
      text.trim() === ''
        ? 'the body is empty, expected a reservation id'
        : 'no reservation id in the body (expected "reservation_id" or "id")',
    );
  }
  const problem = idProblem(id);
  if (problem !== undefined) return bad(`the reservation id ${problem}`);
  return { ok: true, reservationId: id as string };
}

/**
 * The `ReservationError` for a non-2xx answer: transient (with `retryAfterMs` from
 * `Retry-After`) for 408/425/429/5xx, `RESERVATION_REFUSED` for other 4xx,
 * `RESERVATION_BAD_RESPONSE` for 3xx and unexpected statuses. The service's own
 * reason (`error`, `message`, `detail` or `title` of a JSON body, or a plain-text
 * body) is quoted, bounded in length.
 */
export function failureError(
  response: ExchangeResponse,
  context: OutcomeContext,
): ReservationError {
  const { status } = response;
  const reason = reasonOf(response);
  const said = `${context.action} got ${status}${response.statusText === '' ? '' : ` ${response.statusText}`}${reason === undefined ? '' : `: ${reason}`}`;
  switch (classifyStatus(status)) {
    case 'transient': {
      const retryAfterMs = parseRetryAfter(header(response.headers, 'retry-after'), context.now);
      return ReservationError.unavailable(
        `${said}${retryAfterMs === undefined ? '' : ` (retry after ${retryAfterMs} ms)`}.`,
        { status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
      );
    }
    case 'refused':
      return ReservationError.refused(`${said}.`, { status });
    case 'redirect':
      return new ReservationError(
        ErrorCode.RESERVATION_BAD_RESPONSE,
        `${said} (a redirect to ${quote(excerpt(header(response.headers, 'location') ?? 'nowhere', 100))}; redirects are not followed, configure the final URL).`,
        { transient: false, status },
      );
    default:
      return new ReservationError(
        ErrorCode.RESERVATION_BAD_RESPONSE,
        `${said} (an unexpected status).`,
        { transient: false, status },
      );
  }
}

/** Why `id` is not a usable reservation id, or `undefined` if it is one. */
function idProblem(id: unknown): string | undefined {
  if (typeof id !== 'string') return `is not a string (got ${typeof id})`;
  if (id.trim() === '') return 'is empty';
  if (id.length > MAX_RESERVATION_ID_LENGTH) {
    return `is longer than ${MAX_RESERVATION_ID_LENGTH} characters`;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(id)) return 'contains control characters';
  return undefined;
}

/** The service's explanation in an error body, if it gave one. */
function reasonOf(response: ExchangeResponse): string | undefined {
  const { body } = response;
  if (body === undefined || body.length === 0) return undefined;
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    const type = header(response.headers, 'content-type') ?? '';
    return /^text\/plain\b/i.test(type) ? clean(text) : undefined;
  }
  return clean(pickReason(parsed));
}

function pickReason(value: unknown, depth = 0): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null || depth > 1) return undefined;
  const record = value as Record<string, unknown>;
  for (const field of ['error', 'message', 'detail', 'title', 'reason', 'error_description']) {
    const found = pickReason(record[field], depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Collapses whitespace and control characters, bounds the length. */
function clean(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are replaced
  const flat = text.replace(/[\s\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat === '' ? undefined : excerpt(flat, MAX_REASON_LENGTH);
}

function excerpt(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function quote(text: string): string {
  return JSON.stringify(text);
}

function header(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
