import { ErrorCode, ReservationError } from '@cartkit/core';

/**
 * The transient `ReservationError` for a call that got no usable answer: timeout,
 * refused or reset connection, DNS failure, broken response stream.
 *
 * The `cause` is a detached copy of the client's error (name, message, code, stack and
 * its own cause): only those fields, never an object that could carry the request, its
 * headers (credentials) or a socket into logs.
 */
export function transportError(
  error: unknown,
  action: string,
  timeoutMs: number,
): ReservationError {
  const cause = detach(error);
  const code = codeOf(error);
  const message =
    cause.name === 'TimeoutError'
      ? `${action} timed out after ${timeoutMs} ms.`
      : `${action} failed: ${cause.message}${code === undefined || cause.message.includes(code) ? '' : ` (${code})`}.`;
  return ReservationError.unavailable(message, { cause });
}

/** The error for a call the caller aborted (before or during the call). */
export function abortedError(action: string, reason: unknown, error?: unknown): ReservationError {
  const why = reason instanceof Error ? reason.message : reason === undefined ? '' : String(reason);
  return new ReservationError(
    ErrorCode.RESERVATION_ABORTED,
    `${action} was aborted${why === '' ? '' : `: ${why}`}`,
    { transient: true, cause: error === undefined ? reason : detach(error) },
  );
}

/** The error for a call made on, or cut short by, a closed reserver. */
export function closedError(action: string, error?: unknown): ReservationError {
  return new ReservationError(ErrorCode.CLOSED, `${action} failed: the HTTP reserver is closed.`, {
    transient: true,
    ...(error === undefined ? {} : { cause: detach(error) }),
  });
}

function detach(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  const inner = error.cause instanceof Error ? error.cause : undefined;
  const copy = new Error(error.message, inner === undefined ? undefined : { cause: inner });
  copy.name = error.name;
  if (error.stack !== undefined) copy.stack = error.stack;
  const code = codeOf(error);
  if (code !== undefined) Object.assign(copy, { code });
  return copy;
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
