import { ConfigurationError } from '../errors/index.js';
import type { Clock } from '../ports/clock.js';
import { type Logger, silentLogger } from '../ports/logger.js';

/**
 * Validation helpers for adapters' option objects, so every adapter answers a bad option
 * the same way: a {@link ConfigurationError} (`INVALID_OPTION`) whose message reads
 * `Option "<name>" <what is wrong>` and whose `details.option` names it.
 */

/**
 * The error for a bad option: `Option "<option>" <message>`, `details.option` = `option`.
 *
 * @example
 * ```ts
 * throw invalidOption('table', 'must start with a letter.');
 * ```
 */
export function invalidOption(option: string, message: string): ConfigurationError {
  return new ConfigurationError(`Option "${option}" ${message}`, { option });
}

/**
 * Refuses the first key of `options` that is not in `known` (a misspelt option is an
 * error, not silently ignored): `Option "<key>" is not an option of <owner>.`
 *
 * @throws ConfigurationError naming the key.
 */
export function rejectUnknownOptions(
  options: object,
  known: ReadonlySet<string>,
  owner: string,
): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw invalidOption(key, `is not an option of ${owner}.`);
  }
}

/**
 * `value` when it is a safe integer from `min` to `max`, `fallback` when it is undefined.
 *
 * @throws ConfigurationError `Option "<option>" must be an integer from <min> to <max>.`
 */
export function integerOption(
  option: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidOption(option, `must be an integer from ${min} to ${max}.`);
  }
  return value;
}

/**
 * `value` when it has a Logger's `debug`, `info`, `warn` and `error` methods;
 * `silentLogger` when it is undefined.
 *
 * @throws ConfigurationError naming the first missing method.
 */
export function loggerOption(value: unknown, option = 'logger'): Logger {
  if (value === undefined) return silentLogger;
  const candidate = value as Partial<Logger> | null;
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    if (typeof candidate?.[level] !== 'function') {
      throw invalidOption(option, `must be a Logger (missing the "${level}" method).`);
    }
  }
  return value as Logger;
}

/**
 * `value` when it has a Clock's `now()` and `setTimer()`; `undefined` when it is
 * undefined (the caller picks its default).
 *
 * @throws ConfigurationError `Option "<option>" must be a Clock (with now() and setTimer()).`
 */
export function clockOption(value: unknown, option = 'clock'): Clock | undefined {
  if (value === undefined) return undefined;
  const candidate = value as Partial<Clock> | null;
  if (typeof candidate?.now !== 'function' || typeof candidate.setTimer !== 'function') {
    throw invalidOption(option, 'must be a Clock (with now() and setTimer()).');
  }
  return value as Clock;
}

/**
 * The URL with any password replaced by `***`, for messages and logs;
 * `<unparseable URL>` when it is not a URL.
 */
export function redactUrlPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}
