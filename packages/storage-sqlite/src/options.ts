import { resolve } from 'node:path';
import {
  type Clock,
  ConfigurationError,
  clockOption,
  integerOption as integer,
  invalidOption as invalid,
  type Logger,
  loggerOption,
  rejectUnknownOptions,
  systemClock,
} from '@cartkit/core';

/** How hard SQLite works to make a commit durable (`PRAGMA synchronous`). */
export type SqliteSynchronous = 'NORMAL' | 'FULL';

/** Options of {@link createSqliteCartStorage}. Give exactly one of `path` and `uri`. */
export interface SqliteCartStorageOptions {
  /**
   * The database file, or `':memory:'` for a private in-memory database (gone on
   * `close()`). The folder must exist; the file is created if it does not.
   * Relative paths are resolved against the working directory when opening.
   */
  readonly path?: string;
  /** The database as a keyv-style URI: `sqlite://<path>` or `sqlite://:memory:`. */
  readonly uri?: string;
  /**
   * Name of the key/value table. The adapter also creates `<table>_jobs` and
   * `<table>_expiry` beside it. Letters, digits and `_`, starting with a letter,
   * at most 48 characters. Default `'cartkit'`.
   */
  readonly table?: string;
  /** Clock used to expire idempotency records. Default: the system clock. */
  readonly clock?: Clock;
  /** Structured logger (pino-compatible). Default: silent. */
  readonly logger?: Logger;
  /**
   * `'NORMAL'` (default): with the WAL journal, a commit survives a crash of the
   * process; a power loss or OS crash may drop the last few commits (never corrupts).
   * `'FULL'`: every commit is synced to disk before it is acknowledged, so it also
   * survives power loss, at several times the cost per write.
   */
  readonly synchronous?: SqliteSynchronous;
  /**
   * How long one statement waits for a lock held by another connection (another
   * process on the same file) before retrying, in milliseconds. Default 5000.
   */
  readonly busyTimeoutMs?: number;
}

/** Options after validation, with defaults applied. */
export interface ResolvedSqliteOptions {
  /** What sqlite3 opens: an absolute file path or `':memory:'`. */
  readonly location: string;
  readonly table: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly synchronous: SqliteSynchronous;
  readonly busyTimeoutMs: number;
}

/** Defaults of {@link SqliteCartStorageOptions}. */
export const sqliteDefaults = Object.freeze({
  table: 'cartkit',
  synchronous: 'NORMAL' as SqliteSynchronous,
  busyTimeoutMs: 5000,
});

const MEMORY = ':memory:';
const URI_PREFIX = 'sqlite://';
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;
const MAX_BUSY_TIMEOUT_MS = 600_000;
const KNOWN_OPTIONS = new Set([
  'path',
  'uri',
  'table',
  'clock',
  'logger',
  'synchronous',
  'busyTimeoutMs',
]);

/**
 * Validates {@link SqliteCartStorageOptions} and applies the defaults.
 * @throws ConfigurationError naming the offending option.
 */
export function resolveSqliteOptions(options: SqliteCartStorageOptions): ResolvedSqliteOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('Options must be an object with a "path" or a "uri".', {
      option: 'path',
    });
  }
  rejectUnknownOptions(options, KNOWN_OPTIONS, 'the SQLite storage');
  return {
    location: resolveLocation(options),
    table: resolveTable(options.table),
    clock: clockOption(options.clock) ?? systemClock,
    logger: loggerOption(options.logger),
    synchronous: resolveSynchronous(options.synchronous),
    busyTimeoutMs: resolveBusyTimeout(options.busyTimeoutMs),
  };
}

function resolveLocation(options: SqliteCartStorageOptions): string {
  const { path, uri } = options;
  if (path !== undefined && uri !== undefined) {
    throw invalid('uri', 'cannot be combined with "path": give one of them.');
  }
  if (path === undefined && uri === undefined) {
    throw invalid('path', 'is required (or give "uri"): a database file or ":memory:".');
  }
  let target: string;
  let option: string;
  if (uri !== undefined) {
    option = 'uri';
    if (typeof uri !== 'string' || !uri.startsWith(URI_PREFIX)) {
      throw invalid('uri', `must be a string of the form "${URI_PREFIX}<path>".`);
    }
    target = uri.slice(URI_PREFIX.length);
  } else {
    option = 'path';
    if (typeof path !== 'string') throw invalid('path', 'must be a string.');
    target = path;
  }
  if (target.length === 0) throw invalid(option, 'must name a database file or ":memory:".');
  if (target.includes('\0')) throw invalid(option, 'must not contain NUL characters.');
  if (target.startsWith('file:')) {
    throw invalid(option, 'must be a plain file path; SQLite "file:" URIs are not supported.');
  }
  return target === MEMORY ? MEMORY : resolve(target);
}

function resolveTable(table: unknown): string {
  if (table === undefined) return sqliteDefaults.table;
  if (typeof table !== 'string' || !TABLE_NAME.test(table)) {
    throw invalid(
      'table',
      'must start with a letter and hold only letters, digits and "_" (at most 48 characters).',
    );
  }
  return table;
}

function resolveSynchronous(synchronous: unknown): SqliteSynchronous {
  if (synchronous === undefined) return sqliteDefaults.synchronous;
  if (synchronous !== 'NORMAL' && synchronous !== 'FULL') {
    throw invalid('synchronous', 'must be "NORMAL" or "FULL".');
  }
  return synchronous;
}

function resolveBusyTimeout(busyTimeoutMs: unknown): number {
  return integer(
    'busyTimeoutMs',
    busyTimeoutMs,
    sqliteDefaults.busyTimeoutMs,
    0,
    MAX_BUSY_TIMEOUT_MS,
  );
}
