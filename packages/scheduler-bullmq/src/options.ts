import {
  ConfigurationError,
  integerOption as integer,
  invalidOption as invalid,
  type Logger,
  loggerOption,
  type Outbox,
  type RetryPolicy,
  redactUrlPassword,
  rejectUnknownOptions,
  resolveRetryPolicy,
} from '@cartkit/core';

/** Options of {@link createBullmqScheduler}. */
export interface BullmqSchedulerOptions {
  /** The outbox committed tasks are relayed from (the storage, e.g. PostgreSQL's). */
  readonly outbox: Outbox;
  /** The Redis server: `redis://[user:password@]host:port[/db]` (or `rediss://`). */
  readonly url: string;
  /** BullMQ queue name; every instance of one application must use the same. Default `'cartkit-reservations'`. */
  readonly queueName?: string;
  /** Prefix of every Redis key BullMQ writes. Default `'cartkit'`. */
  readonly prefix?: string;
  /** Attempts, backoff, Retry-After cap and attempt timeout; see `defaultRetryPolicy`. */
  readonly retry?: Partial<RetryPolicy>;
  /** Most deliveries this instance runs at once (BullMQ worker concurrency). Default 4. */
  readonly concurrency?: number;
  /**
   * BullMQ's job lock: a worker renews it while it runs a job; when the process dies,
   * the lock lapses and another worker's stalled-job check takes the job over.
   * Default 30000 ms.
   */
  readonly lockDurationMs?: number;
  /** How often each worker looks for stalled jobs. Default: `lockDurationMs`. */
  readonly stalledIntervalMs?: number;
  /**
   * How many times one job may be recovered from a dead worker before BullMQ fails it.
   * Default 10 (BullMQ's own default of 1 would fail a task after two crashes).
   */
  readonly maxStalledCount?: number;
  /** Longest wait between two looks at the outbox (tasks committed by other instances). Default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** How long the relay holds a claimed task while it adds it to the queue. Default 30000 ms. */
  readonly relayLeaseMs?: number;
  /** Most tasks the relay moves per claim. Default 50. */
  readonly relayBatch?: number;
  /**
   * How long finished jobs are kept in Redis, in seconds. While a job is kept, adding its
   * task again is a no-op (BullMQ de-duplicates on the job id = task id): this is what
   * makes a relay that crashed after `add` but before `complete` harmless. Must exceed
   * `relayLeaseMs` by far. Default 86400 (one day) for completed, 7 days for failed jobs.
   */
  readonly keepCompletedSeconds?: number;
  /** See `keepCompletedSeconds`. Default 604800. */
  readonly keepFailedSeconds?: number;
  /** Relay owner id (shows in the outbox's `lease_owner`). Default: random per instance. */
  readonly owner?: string;
  /** Structured logger (pino-compatible). Default: silent. */
  readonly logger?: Logger;
}

/** Options after validation, with defaults applied. */
export interface ResolvedBullmqOptions {
  readonly outbox: Outbox;
  readonly url: string;
  readonly safeUrl: string;
  readonly queueName: string;
  readonly prefix: string;
  readonly retry: RetryPolicy;
  readonly concurrency: number;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly maxStalledCount: number;
  readonly pollIntervalMs: number;
  readonly relayLeaseMs: number;
  readonly relayBatch: number;
  readonly keepCompletedSeconds: number;
  readonly keepFailedSeconds: number;
  readonly owner: string | undefined;
  readonly logger: Logger;
}

/** Defaults of {@link BullmqSchedulerOptions}. */
export const bullmqDefaults = Object.freeze({
  queueName: 'cartkit-reservations',
  prefix: 'cartkit',
  concurrency: 4,
  lockDurationMs: 30_000,
  maxStalledCount: 10,
  pollIntervalMs: 1_000,
  relayLeaseMs: 30_000,
  relayBatch: 50,
  keepCompletedSeconds: 86_400,
  keepFailedSeconds: 604_800,
});

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const KNOWN = new Set([
  'outbox',
  'url',
  'queueName',
  'prefix',
  'retry',
  'concurrency',
  'lockDurationMs',
  'stalledIntervalMs',
  'maxStalledCount',
  'pollIntervalMs',
  'relayLeaseMs',
  'relayBatch',
  'keepCompletedSeconds',
  'keepFailedSeconds',
  'owner',
  'logger',
]);

/** The URL with any password replaced by `***`. */
export function redactRedisUrl(url: string): string {
  return redactUrlPassword(url);
}

function name(option: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw invalid(option, 'must be 1-100 letters, digits, ".", "_" or "-".');
  }
  return value;
}

/**
 * Validates {@link BullmqSchedulerOptions} and applies the defaults.
 * @throws ConfigurationError naming the offending option.
 */
export function resolveBullmqOptions(options: BullmqSchedulerOptions): ResolvedBullmqOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('Options must be an object with "outbox" and "url".', {
      option: 'url',
    });
  }
  rejectUnknownOptions(options, KNOWN, 'the BullMQ scheduler');
  const outbox = options.outbox as Partial<Outbox> | undefined;
  if (
    typeof outbox?.claim !== 'function' ||
    typeof outbox.complete !== 'function' ||
    typeof outbox.release !== 'function' ||
    typeof outbox.nextDueAt !== 'function'
  ) {
    throw invalid(
      'outbox',
      'must be an Outbox (the storage: claim, complete, release, nextDueAt).',
    );
  }
  const url = options.url;
  if (typeof url !== 'string') throw invalid('url', 'is required: redis://host:port.');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('url', 'is not a URL: expected redis://host:port.');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw invalid('url', `must start with redis:// or rediss:// (got "${parsed.protocol}//").`);
  }
  const lockDurationMs = integer(
    'lockDurationMs',
    options.lockDurationMs,
    bullmqDefaults.lockDurationMs,
    1_000,
    3_600_000,
  );
  const logger = loggerOption(options.logger);
  if (options.owner !== undefined && (typeof options.owner !== 'string' || options.owner === '')) {
    throw invalid('owner', 'must be a non-empty string.');
  }
  return {
    outbox: options.outbox,
    url,
    safeUrl: redactRedisUrl(url),
    queueName: name('queueName', options.queueName, bullmqDefaults.queueName),
    prefix: name('prefix', options.prefix, bullmqDefaults.prefix),
    retry: resolveRetryPolicy(options.retry),
    concurrency: integer('concurrency', options.concurrency, bullmqDefaults.concurrency, 1, 1000),
    lockDurationMs,
    stalledIntervalMs: integer(
      'stalledIntervalMs',
      options.stalledIntervalMs,
      lockDurationMs,
      100,
      3_600_000,
    ),
    maxStalledCount: integer(
      'maxStalledCount',
      options.maxStalledCount,
      bullmqDefaults.maxStalledCount,
      1,
      1000,
    ),
    pollIntervalMs: integer(
      'pollIntervalMs',
      options.pollIntervalMs,
      bullmqDefaults.pollIntervalMs,
      10,
      3_600_000,
    ),
    relayLeaseMs: integer(
      'relayLeaseMs',
      options.relayLeaseMs,
      bullmqDefaults.relayLeaseMs,
      100,
      3_600_000,
    ),
    relayBatch: integer('relayBatch', options.relayBatch, bullmqDefaults.relayBatch, 1, 1000),
    keepCompletedSeconds: integer(
      'keepCompletedSeconds',
      options.keepCompletedSeconds,
      bullmqDefaults.keepCompletedSeconds,
      1,
      31_536_000,
    ),
    keepFailedSeconds: integer(
      'keepFailedSeconds',
      options.keepFailedSeconds,
      bullmqDefaults.keepFailedSeconds,
      1,
      31_536_000,
    ),
    owner: options.owner,
    logger,
  };
}
