import { ConfigurationError, type Logger, silentLogger } from '@cartkit/core';

/** Checks an optional logger option. @throws ConfigurationError */
export function checkLogger(logger: Logger | undefined, option = 'logger'): Logger {
  if (logger === undefined) return silentLogger;
  const methods = ['debug', 'info', 'warn', 'error'] as const;
  if (
    typeof logger !== 'object' ||
    logger === null ||
    methods.some((m) => typeof logger[m] !== 'function')
  ) {
    throw new ConfigurationError(
      `Option "${option}" must be a Logger (debug, info, warn and error functions).`,
      { option },
    );
  }
  return logger;
}

/** Checks a `WWW-Authenticate` challenge option. @throws ConfigurationError */
export function checkChallenge(challenge: unknown, option = 'authChallenge'): string {
  if (typeof challenge !== 'string' || !/^[\x21-\x7e][\x20-\x7e]*$/.test(challenge)) {
    throw new ConfigurationError(
      `Option "${option}" must be a non-empty WWW-Authenticate challenge (visible ASCII).`,
      { option },
    );
  }
  return challenge;
}

/** Checks an optional positive-integer option and applies its default. @throws ConfigurationError */
export function checkPositiveInteger(value: unknown, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(`Option "${option}" must be a positive integer.`, { option });
  }
  return value;
}

/** Checks that `value` is an object with the named methods. @throws ConfigurationError */
export function checkMethods<T>(
  value: T,
  methods: readonly string[],
  option: string,
  what: string,
): T {
  const record = value as Record<string, unknown> | null | undefined;
  if (
    typeof record !== 'object' ||
    record === null ||
    methods.some((method) => typeof record[method] !== 'function')
  ) {
    throw new ConfigurationError(
      `Option "${option}" must be ${what} (with ${methods.join(', ')}).`,
      { option },
    );
  }
  return value;
}
