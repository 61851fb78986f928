/** Longest delay reported for a `Retry-After` (one day); longer requests are capped. */
export const MAX_RETRY_AFTER_MS = 86_400_000;

/**
 * Reads an HTTP `Retry-After` header value (RFC 9110 §10.2.3): either
 * delta-seconds (`"120"`) or an HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`).
 *
 * @param value the header value, if the response had one
 * @param now current time, epoch milliseconds (for HTTP-dates)
 * @returns the delay in milliseconds — 0 for a date in the past, at most
 * {@link MAX_RETRY_AFTER_MS} — or `undefined` when the header is absent or malformed
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  // HTTP-dates start with a day name; the guard keeps Date.parse's leniency ("12.5") out.
  if (!/^[A-Za-z]{3,9},? /.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}
