import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpErrorCode } from '../errors/http-error-codes.js';
import { HttpProblem } from '../errors/http-problem.js';

/** Longest accepted `Idempotency-Key`, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

const KEY_PATTERN = /^[A-Za-z0-9._~:+/=-]+$/;

/**
 * Reads an `Idempotency-Key` header. The IETF draft makes it a structured-field
 * string (`"abc"`); the bare form (`abc`) is accepted too. The key itself is 1 to
 * 255 characters of `A–Z a–z 0–9 . _ ~ : + / = -` (UUIDs, ULIDs, base64 fit).
 * @returns `undefined` when the header is absent.
 * @throws HttpProblem 400 `INVALID_IDEMPOTENCY_KEY`
 */
export function parseIdempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const quoted = value.length >= 2 && value.startsWith('"') && value.endsWith('"');
  const key = quoted ? value.slice(1, -1) : value;
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !KEY_PATTERN.test(key)) {
    throw new HttpProblem(
      400,
      HttpErrorCode.INVALID_IDEMPOTENCY_KEY,
      `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters of A-Z a-z 0-9 . _ ~ : + / = -.`,
    );
  }
  return key;
}

/**
 * The `Idempotency-Key` of a request ({@link parseIdempotencyKey}). Node joins repeated
 * header lines with ", ", which no key contains: several lines get their own answer
 * rather than a complaint about the characters of a key the client never sent.
 * @throws HttpProblem 400 `INVALID_IDEMPOTENCY_KEY`
 */
export function idempotencyKeyOf(req: IncomingMessage): string | undefined {
  const header = req.headers['idempotency-key'];
  const value = Array.isArray(header) ? header.join(', ') : header;
  if (value?.includes(',') === true) {
    const lines = req.headersDistinct['idempotency-key']?.length ?? 1;
    if (lines > 1) {
      throw new HttpProblem(
        400,
        HttpErrorCode.INVALID_IDEMPOTENCY_KEY,
        `Send one Idempotency-Key header, not ${lines}.`,
      );
    }
  }
  return parseIdempotencyKey(value);
}

/**
 * The storage key of an idempotency key: scoped to the cart, so one identity can
 * never see (or replay) another's responses. Length-prefixed, so no cart id and
 * key pair can collide with another.
 */
export function scopedIdempotencyKey(cartId: string, key: string): string {
  return `http:${cartId.length}:${cartId}:${key}`;
}

/** SHA-256 over method, path and the canonical JSON of the body. */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method.toUpperCase()} ${path}\n${canonicalJson(body)}`)
    .digest('hex');
}

/** JSON with object keys sorted at every level, so key order does not matter. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
