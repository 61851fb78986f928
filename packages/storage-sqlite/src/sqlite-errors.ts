import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { CartError, ErrorCode, StorageError } from '@cartkit/core';

/** The primary SQLite result code of a driver error (`SQLITE_BUSY`, ...), if it has one. */
export function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/**
 * True when another connection holds a lock we need: worth retrying after a pause.
 * `SQLITE_LOCKED` is the shared-cache flavour of the same condition.
 */
export function isLockContention(error: unknown): boolean {
  const code = sqliteCode(error);
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

/** Driver codes that mean the file itself is not readable as a database. */
const UNREADABLE_FILE = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);

/**
 * Turns a driver error raised while opening into `STORAGE_UNAVAILABLE` (missing
 * folder, read-only file, locked or foreign file...). cartkit errors pass through.
 */
export function toOpenError(error: unknown, location: string): CartError {
  if (CartError.is(error)) return error;
  const code = sqliteCode(error);
  const reason = code === 'SQLITE_CANTOPEN' ? whyCannotOpen(location) : describe(code, error);
  return new StorageError(
    ErrorCode.STORAGE_UNAVAILABLE,
    `Cannot open the SQLite database "${location}": ${reason}.`,
    { cause: error, details: { path: location, ...(code ? { sqliteCode: code } : {}) } },
  );
}

/**
 * Turns a driver error raised by an operation into a `StorageError`:
 * `STORAGE_CORRUPT_DATA` when the file is damaged, `STORAGE_FAILURE` otherwise.
 * cartkit errors (conflicts, corrupt documents) pass through.
 */
export function toOperationError(error: unknown, operation: string, location: string): CartError {
  if (CartError.is(error)) return error;
  const code = sqliteCode(error);
  const details = { operation, path: location, ...(code ? { sqliteCode: code } : {}) };
  const reason = describe(code, error);
  if (code !== undefined && UNREADABLE_FILE.has(code)) {
    return new StorageError(
      ErrorCode.STORAGE_CORRUPT_DATA,
      `SQLite storage "${location}" failed in ${operation}: ${reason}.`,
      { cause: error, details },
    );
  }
  return new StorageError(
    ErrorCode.STORAGE_FAILURE,
    `SQLite storage "${location}" failed in ${operation}: ${reason}.`,
    { cause: error, details },
  );
}

/**
 * Why SQLite could not open `location` (`SQLITE_CANTOPEN` says no more): the folder
 * that should hold it is missing (SQLite creates the file, never its folder), or the
 * path is a folder.
 */
function whyCannotOpen(location: string): string {
  const folder = dirname(location);
  if (statSync(folder, { throwIfNoEntry: false })?.isDirectory() !== true) {
    return `its folder "${folder}" does not exist; create it first (the database file itself is created)`;
  }
  if (statSync(location, { throwIfNoEntry: false })?.isDirectory() === true) {
    return 'the path is a folder; name a file in it';
  }
  return describe('SQLITE_CANTOPEN', undefined);
}

function describe(code: string | undefined, error: unknown): string {
  switch (code) {
    case 'SQLITE_CANTOPEN':
      return 'the file cannot be opened (does its folder exist, and is it a file?)';
    case 'SQLITE_READONLY':
    case 'SQLITE_PERM':
      return 'the database is read-only for this process';
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return 'the database is locked by another connection and stayed locked past the busy timeout';
    case 'SQLITE_NOTADB':
      return 'the file is not a SQLite database';
    case 'SQLITE_CORRUPT':
      return 'the database file is corrupt';
    case 'SQLITE_FULL':
      return 'the disk is full';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
