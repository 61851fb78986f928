import { CartError, ErrorCode, StorageError } from '@cartkit/core';

/** The SQLSTATE of a server error (`28P01`, ...) or the errno code of a socket error. */
export function pgCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/**
 * True when the error says the server cannot be reached or will not serve us
 * (network, authentication, missing database, shutdown, full, or the connection
 * broke): trying later may work.
 */
export function isUnavailable(error: unknown): boolean {
  const code = pgCode(error);
  if (code !== undefined) {
    if (SOCKET_CODES.has(code)) return true;
    // 08: connection exception; 28: invalid authorization; 3D000: no such database;
    // 57P01-03: admin shutdown, crash shutdown, cannot connect now; 53300: too many connections.
    if (/^(08|28)/.test(code)) return true;
    if (['3D000', '57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  }
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    message,
  );
}

function describe(error: unknown): string {
  const code = pgCode(error);
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the server running, on this host and port?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    case 'ETIMEDOUT':
      return 'the connection timed out';
    case '28P01':
      return `authentication failed (wrong user name or password): ${message}`;
    case '28000':
      return `the server refused this user or host: ${message}`;
    case '3D000':
      return `the database does not exist: ${message}`;
    case '57P03':
      return 'the server is starting up or shutting down';
    case '53300':
      return 'the server has no free connection slots';
    case '42501':
      return `permission denied: ${message}`;
    default:
      if (/timeout exceeded when trying to connect/i.test(message)) {
        return 'timed out waiting for a connection';
      }
      return message;
  }
}

/**
 * Turns an error raised while opening (connecting, migrating) into
 * `STORAGE_UNAVAILABLE`, naming the server (never the password).
 */
export function toOpenError(error: unknown, safeUrl: string): CartError {
  if (CartError.is(error)) return error;
  const code = pgCode(error);
  return new StorageError(
    ErrorCode.STORAGE_UNAVAILABLE,
    `Cannot open the PostgreSQL storage at ${safeUrl}: ${describe(error)}.`,
    { cause: error, details: { url: safeUrl, ...(code ? { pgCode: code } : {}) } },
  );
}

/**
 * Turns an error raised by an operation into a `StorageError`:
 * `STORAGE_UNAVAILABLE` when the server could not be reached or the connection broke,
 * `STORAGE_FAILURE` otherwise. cartkit errors (conflicts, corrupt data) pass through.
 */
export function toOperationError(error: unknown, operation: string, safeUrl: string): CartError {
  if (CartError.is(error)) return error;
  const code = pgCode(error);
  const details = { operation, url: safeUrl, ...(code ? { pgCode: code } : {}) };
  if (isUnavailable(error)) {
    return new StorageError(
      ErrorCode.STORAGE_UNAVAILABLE,
      `PostgreSQL storage at ${safeUrl} is unavailable (${operation}): ${describe(error)}.`,
      { cause: error, details },
    );
  }
  return new StorageError(
    ErrorCode.STORAGE_FAILURE,
    `PostgreSQL storage at ${safeUrl} failed in ${operation}: ${describe(error)}.`,
    { cause: error, details },
  );
}
