import {
  type Clock,
  ConfigurationError,
  clockOption,
  integerOption as integer,
  invalidOption as invalid,
  type Logger,
  loggerOption,
  redactUrlPassword,
  rejectUnknownOptions,
} from '@cartkit/core';

/** Options of {@link createPostgresCartStorage}. */
export interface PostgresCartStorageOptions {
  /**
   * The server and database: `postgres://user:password@host:port/database`
   * (`postgresql://` too; query parameters such as `sslmode` are passed to `pg`).
   */
  readonly url: string;
  /**
   * The schema the tables live in; created on open if missing. Letters, digits and
   * `_`, starting with a letter or `_`, at most 48 characters. Default `'public'`.
   */
  readonly schema?: string;
  /**
   * Prefix of the table names (`<prefix>carts`, `<prefix>outbox`,
   * `<prefix>idempotency`, `<prefix>migrations`). Same characters as `schema`.
   * Default `'cartkit_'`.
   */
  readonly tablePrefix?: string;
  /** Most connections the pool opens (bounded pool). Default 10. */
  readonly poolSize?: number;
  /**
   * How long to wait for a connection (a new one, or a free one from a busy pool)
   * before failing with `STORAGE_UNAVAILABLE`, in milliseconds. Default 10000.
   */
  readonly connectTimeoutMs?: number;
  /**
   * Longest a single statement may run on the server (`statement_timeout`), in
   * milliseconds; 0 disables it. Default 30000.
   */
  readonly statementTimeoutMs?: number;
  /**
   * The clock leases, due times and record expiry are compared with. Default: the
   * DATABASE's clock (`clock_timestamp()`), so every instance agrees on who holds a
   * lease whatever their own clocks say. Give one only for tests that drive time
   * (a `FakeClock`).
   */
  readonly clock?: Clock;
  /** Structured logger (pino-compatible). Default: silent. */
  readonly logger?: Logger;
  /** `application_name` the connections report to the server. Default `'cartkit'`. */
  readonly applicationName?: string;
}

/** Options after validation, with defaults applied. */
export interface ResolvedPostgresOptions {
  readonly url: string;
  /** The URL with its password replaced by `***`, for messages and logs. */
  readonly safeUrl: string;
  readonly schema: string;
  readonly tablePrefix: string;
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly clock: Clock | undefined;
  readonly logger: Logger;
  readonly applicationName: string;
}

/** Defaults of {@link PostgresCartStorageOptions}. */
export const postgresDefaults = Object.freeze({
  schema: 'public',
  tablePrefix: 'cartkit_',
  poolSize: 10,
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 30_000,
  applicationName: 'cartkit',
});

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;
const KNOWN_OPTIONS = new Set([
  'url',
  'schema',
  'tablePrefix',
  'poolSize',
  'connectTimeoutMs',
  'statementTimeoutMs',
  'clock',
  'logger',
  'applicationName',
]);

/** The URL with any password replaced by `***`. */
export function redactUrl(url: string): string {
  return redactUrlPassword(url);
}

/**
 * Validates {@link PostgresCartStorageOptions} and applies the defaults.
 * @throws ConfigurationError naming the offending option.
 */
export function resolvePostgresOptions(
  options: PostgresCartStorageOptions,
): ResolvedPostgresOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('Options must be an object with a "url".', { option: 'url' });
  }
  rejectUnknownOptions(options, KNOWN_OPTIONS, 'the PostgreSQL storage');
  const url = resolveUrl(options.url);
  return {
    url,
    safeUrl: redactUrl(url),
    schema: identifier('schema', options.schema, postgresDefaults.schema),
    tablePrefix: identifier('tablePrefix', options.tablePrefix, postgresDefaults.tablePrefix),
    poolSize: integer('poolSize', options.poolSize, postgresDefaults.poolSize, 1, 1000),
    connectTimeoutMs: integer(
      'connectTimeoutMs',
      options.connectTimeoutMs,
      postgresDefaults.connectTimeoutMs,
      1,
      600_000,
    ),
    statementTimeoutMs: integer(
      'statementTimeoutMs',
      options.statementTimeoutMs,
      postgresDefaults.statementTimeoutMs,
      0,
      3_600_000,
    ),
    clock: clockOption(options.clock),
    logger: loggerOption(options.logger),
    applicationName: resolveApplicationName(options.applicationName),
  };
}

function resolveUrl(url: unknown): string {
  if (typeof url !== 'string' || url.length === 0) {
    throw invalid('url', 'is required: postgres://user:password@host:port/database.');
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('url', 'is not a URL: expected postgres://user:password@host:port/database.');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw invalid(
      'url',
      `must start with postgres:// or postgresql:// (got "${parsed.protocol}//").`,
    );
  }
  if (parsed.hostname === '' && !parsed.searchParams.has('host')) {
    throw invalid('url', 'must name a host: postgres://user:password@host:port/database.');
  }
  return url;
}

function identifier(option: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw invalid(
      option,
      'must start with a letter or "_" and hold only letters, digits and "_" (at most 48 characters).',
    );
  }
  return value;
}

function resolveApplicationName(name: unknown): string {
  if (name === undefined) return postgresDefaults.applicationName;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters
  if (typeof name !== 'string' || name.length > 63 || /[\u0000-\u001f]/.test(name)) {
    throw invalid('applicationName', 'must be a string of at most 63 printable characters.');
  }
  return name;
}
