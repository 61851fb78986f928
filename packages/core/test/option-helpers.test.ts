import {
  ConfigurationError,
  clockOption,
  ErrorCode,
  integerOption,
  invalidOption,
  loggerOption,
  redactUrlPassword,
  rejectUnknownOptions,
  silentLogger,
  systemClock,
} from '@cartkit/core';
import { describe, expect, it } from 'vitest';

/** The error `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('did not throw');
}

describe('option helpers for adapters', () => {
  it('answers a bad option with INVALID_OPTION naming it', () => {
    const error = invalidOption('table', 'must start with a letter.');
    expect(ConfigurationError.is(error)).toBe(true);
    expect(error).toMatchObject({
      code: ErrorCode.INVALID_OPTION,
      message: 'Option "table" must start with a letter.',
      details: { option: 'table' },
    });
  });

  it('refuses unknown keys, naming the first and the owner', () => {
    const known = new Set(['url', 'poolSize']);
    expect(() => rejectUnknownOptions({ url: 'x', poolSize: 1 }, known, 'the store')).not.toThrow();
    expect(
      thrown(() => rejectUnknownOptions({ url: 'x', colour: 1 }, known, 'the store')),
    ).toMatchObject({
      message: 'Option "colour" is not an option of the store.',
      details: { option: 'colour' },
    });
  });

  it('takes integers within bounds, the fallback when undefined', () => {
    expect(integerOption('n', undefined, 7, 1, 10)).toBe(7);
    expect(integerOption('n', 1, 7, 1, 10)).toBe(1);
    expect(integerOption('n', 10, 7, 1, 10)).toBe(10);
    for (const bad of [0, 11, 1.5, Number.NaN, '5', null, 2 ** 53]) {
      expect(
        thrown(() => integerOption('n', bad, 7, 1, 10)),
        String(bad),
      ).toMatchObject({
        message: 'Option "n" must be an integer from 1 to 10.',
        details: { option: 'n' },
      });
    }
  });

  it('checks loggers and clocks by shape, with their defaults when undefined', () => {
    expect(loggerOption(undefined)).toBe(silentLogger);
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    expect(loggerOption(logger)).toBe(logger);
    expect(thrown(() => loggerOption({ debug() {}, info() {} }))).toMatchObject({
      message: 'Option "logger" must be a Logger (missing the "warn" method).',
    });
    expect(thrown(() => loggerOption(null))).toMatchObject({ details: { option: 'logger' } });
    expect(clockOption(undefined)).toBeUndefined();
    expect(clockOption(systemClock)).toBe(systemClock);
    expect(thrown(() => clockOption({ now: () => 0 }))).toMatchObject({
      message: 'Option "clock" must be a Clock (with now() and setTimer()).',
    });
  });

  it('redacts the password of a URL, and only that', () => {
    expect(redactUrlPassword('postgres://u:secret@db:5432/carts')).toBe(
      'postgres://u:***@db:5432/carts',
    );
    expect(redactUrlPassword('redis://cache:6379')).toBe('redis://cache:6379');
    expect(redactUrlPassword('not a url')).toBe('<unparseable URL>');
  });
});
