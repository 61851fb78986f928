import { ConfigurationError, ErrorCode, systemClock } from '@cartkit/core';
import { describe, expect, it } from 'vitest';
import {
  createSqliteCartStorage,
  type SqliteCartStorageOptions,
  sqliteDefaults,
} from '../src/index.js';
import { sqliteStorageModule } from '../src/inversify.js';

const cases: Array<[string, unknown, string]> = [
  ['no path or uri', {}, 'path'],
  ['both path and uri', { path: 'a.db', uri: 'sqlite://a.db' }, 'uri'],
  ['an empty path', { path: '' }, 'path'],
  ['a non-string path', { path: 42 }, 'path'],
  ['a path with NUL', { path: 'a\0.db' }, 'path'],
  ['a SQLite file: URI as path', { path: 'file:a.db?mode=ro' }, 'path'],
  ['a uri without the sqlite:// scheme', { uri: 'postgres://db' }, 'uri'],
  ['an empty sqlite:// uri', { uri: 'sqlite://' }, 'uri'],
  ['a table name with a quote', { path: ':memory:', table: 'carts"; DROP' }, 'table'],
  ['a table name starting with a digit', { path: ':memory:', table: '1carts' }, 'table'],
  ['a clock without setTimer', { path: ':memory:', clock: { now: () => 1 } }, 'clock'],
  ['a logger without debug', { path: ':memory:', logger: { info() {} } }, 'logger'],
  ['a lower-case synchronous', { path: ':memory:', synchronous: 'normal' }, 'synchronous'],
  ['synchronous OFF', { path: ':memory:', synchronous: 'OFF' }, 'synchronous'],
  ['a negative busyTimeoutMs', { path: ':memory:', busyTimeoutMs: -1 }, 'busyTimeoutMs'],
  ['a fractional busyTimeoutMs', { path: ':memory:', busyTimeoutMs: 1.5 }, 'busyTimeoutMs'],
  ['an unknown option', { path: ':memory:', busyTimeout: 100 }, 'busyTimeout'],
];

describe('options', () => {
  it.each(cases)(
    'rejects %s with a ConfigurationError naming the option',
    async (_name, options, option) => {
      const error = await createSqliteCartStorage(options as SqliteCartStorageOptions).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(ConfigurationError.is(error)).toBe(true);
      expect((error as ConfigurationError).code).toBe(ErrorCode.INVALID_OPTION);
      expect((error as ConfigurationError).details.option).toBe(option);
      expect((error as ConfigurationError).message).toContain(`"${option}"`);
      // The inversify module validates up front, synchronously.
      expect(() => sqliteStorageModule(options as SqliteCartStorageOptions)).toThrow(
        ConfigurationError,
      );
    },
  );

  it('documents its defaults', () => {
    expect(sqliteDefaults).toEqual({
      table: 'cartkit',
      synchronous: 'NORMAL',
      busyTimeoutMs: 5000,
    });
  });

  it('accepts a keyv-style uri, including sqlite://:memory:', async () => {
    const storage = await createSqliteCartStorage({
      uri: 'sqlite://:memory:',
      clock: systemClock,
      synchronous: 'FULL',
      busyTimeoutMs: 0,
    });
    expect(storage.path).toBe(':memory:');
    expect(storage.journalMode).toBe('memory');
    expect(storage.synchronous).toBe('FULL');
    await storage.close();
  });
});
