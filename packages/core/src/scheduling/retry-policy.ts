import { ConfigurationError } from '../errors/index.js';

/** How a scheduler retries failed attempts. */
export interface RetryPolicy {
  /** Attempts before a task fails for good (transient failures only). Default 8. */
  readonly maxAttempts: number;
  /** Backoff base: the first retry waits up to this long. Default 250 ms. */
  readonly baseDelayMs: number;
  /** Backoff cap. Default 30 s. */
  readonly maxDelayMs: number;
  /** Longest `Retry-After` honoured; longer requests are capped. Default 5 min. */
  readonly maxRetryAfterMs: number;
  /** One attempt is aborted after this long. Default 10 s. */
  readonly attemptTimeoutMs: number;
}

/** The default {@link RetryPolicy}. */
export const defaultRetryPolicy: RetryPolicy = Object.freeze({
  maxAttempts: 8,
  baseDelayMs: 250,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 300_000,
  attemptTimeoutMs: 10_000,
});

/** Validates a partial policy, fills in defaults. Throws `INVALID_OPTION` naming the option. */
export function resolveRetryPolicy(
  policy: Partial<RetryPolicy> | undefined,
  prefix = 'retry',
): RetryPolicy {
  const resolved = { ...defaultRetryPolicy, ...policy };
  for (const [key, value] of Object.entries(resolved)) {
    const min = key === 'maxAttempts' || key === 'attemptTimeoutMs' ? 1 : 0;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      throw new ConfigurationError(
        `Option "${prefix}.${key}" must be an integer >= ${min}, got ${String(value)}.`,
        { option: `${prefix}.${key}` },
      );
    }
  }
  if (resolved.maxDelayMs < resolved.baseDelayMs) {
    throw new ConfigurationError(
      `Option "${prefix}.maxDelayMs" must be >= "${prefix}.baseDelayMs".`,
      {
        option: `${prefix}.maxDelayMs`,
      },
    );
  }
  return Object.freeze(resolved);
}

/**
 * Delay before retry number `attempt` (1 after the first failure): exponential
 * backoff with full jitter, `random() * min(maxDelay, base * 2^(attempt-1))`, but
 * never shorter than the service's `Retry-After` (itself capped).
 */
export function computeRetryDelay(
  policy: RetryPolicy,
  attempt: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.floor(random() * ceiling);
  const floor =
    retryAfterMs === undefined ? 0 : Math.min(Math.max(0, retryAfterMs), policy.maxRetryAfterMs);
  return Math.max(jittered, floor);
}
