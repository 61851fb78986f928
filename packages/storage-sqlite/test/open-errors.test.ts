import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CartError, ErrorCode, StorageError } from '@cartkit/core';
import KeyvSqlite from '@keyv/sqlite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../src/documents.js';
import { createSqliteCartStorage } from '../src/index.js';
import { assertPackageBuilt, killFixtures, startFixture } from './support/fixtures.js';
import { createTempDir } from './support/temp-dir.js';

async function openError(promise: Promise<unknown>): Promise<StorageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(StorageError.is(error), `expected a StorageError, got ${String(error)}`).toBe(true);
  return error as StorageError;
}

function causeCode(error: Error): unknown {
  return (error.cause as { code?: unknown } | undefined)?.code;
}

/** Root ignores file modes: permission cases then run the opening process as "nobody". */
const asUnprivileged = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

describe('opening a database that cannot be used', () => {
  const dir = createTempDir();
  beforeAll(() => {
    assertPackageBuilt();
    chmodSync(dir.path, 0o755);
  });
  afterEach(() => killFixtures());
  afterAll(() => {
    chmodSync(dir.path, 0o755);
    dir.remove();
  });

  it('fails with STORAGE_UNAVAILABLE when the folder does not exist', async () => {
    const path = join(dir.path, 'no-such-folder', 'cart.db');
    const error = await openError(createSqliteCartStorage({ path }));
    expect(error.code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
    expect(causeCode(error)).toBe('SQLITE_CANTOPEN');
    expect(error.message).toContain(path);
    expect(error.message).toContain(
      `its folder "${join(dir.path, 'no-such-folder')}" does not exist; create it first`,
    );
    expect(error.details).toMatchObject({ path, sqliteCode: 'SQLITE_CANTOPEN' });
  });

  it('fails with STORAGE_UNAVAILABLE when the path is a folder', async () => {
    const error = await openError(createSqliteCartStorage({ path: dir.path }));
    expect(error.code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.message).toContain('the path is a folder; name a file in it');
  });

  it('fails with STORAGE_UNAVAILABLE when the file is not a SQLite database', async () => {
    const path = dir.file('foreign.txt');
    writeFileSync(path, 'just some text, not a database\n'.repeat(200));
    const error = await openError(createSqliteCartStorage({ path }));
    expect(error.code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
    expect(causeCode(error)).toBe('SQLITE_NOTADB');
  });

  it.each([
    ['in a read-only folder', 0o555],
    ['in a writable folder', 0o777],
  ])('fails with STORAGE_UNAVAILABLE for a read-only file %s', async (_case, folderMode) => {
    const folder = join(dir.path, `ro-${folderMode.toString(8)}`);
    mkdirSync(folder);
    const path = join(folder, 'cart.db');
    await (await createSqliteCartStorage({ path })).close();
    chmodSync(path, 0o444);
    chmodSync(folder, folderMode);
    try {
      const opener = startFixture('open-report', [path], asUnprivileged);
      const result = await opener.next('result');
      expect(result).toMatchObject({
        ok: false,
        name: 'StorageError',
        code: ErrorCode.STORAGE_UNAVAILABLE,
        causeCode: 'SQLITE_READONLY',
      });
    } finally {
      chmodSync(folder, 0o755);
    }
  });

  it('fails with STORAGE_UNAVAILABLE while another process holds an exclusive lock', async () => {
    const path = dir.file();
    await (await createSqliteCartStorage({ path })).close();
    const holder = startFixture('hold-lock', [path]);
    await holder.next('locked');

    const error = await openError(createSqliteCartStorage({ path, busyTimeoutMs: 50 }));
    expect(error.code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
    expect(causeCode(error)).toBe('SQLITE_BUSY');
    expect(error.message).toMatch(/locked/);

    holder.send({ type: 'release' });
    await holder.next('released');
    const storage = await createSqliteCartStorage({ path });
    expect(await storage.getCart('c1')).toBeUndefined();
    await storage.close();
  });

  it('refuses a database written with a newer table layout', async () => {
    const path = dir.file();
    await (await createSqliteCartStorage({ path })).close();
    const raw = new KeyvSqlite({ uri: `sqlite://${path}`, table: 'cartkit' });
    await raw.query(
      'UPDATE cartkit SET value = ? WHERE key = ?',
      JSON.stringify({ value: { schema: 1, type: 'layout', data: { layout: 99 } } }),
      keys.layout(),
    );
    await raw.close();
    const error = await openError(createSqliteCartStorage({ path }));
    expect(error.code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
    expect(error.message).toMatch(/newer release/);
    expect(error.details).toMatchObject({ layout: 99, supportedLayout: 2 });
  });

  it('opens eagerly: a working database is verified writable and in WAL mode', async () => {
    const storage = await createSqliteCartStorage({ path: dir.file() });
    expect(storage.journalMode).toBe('wal');
    expect(storage.synchronous).toBe('NORMAL');
    await storage.close();
  });
});

describe('after close', () => {
  it('finishes calls made before close, refuses later ones with CLOSED, and closes once', async () => {
    const storage = await createSqliteCartStorage({ path: ':memory:' });
    const at = new Date(0).toISOString();
    const pending = storage.saveCart(
      { id: 'c1', version: 1, lines: [], createdAt: at, updatedAt: at },
      { expectedVersion: 0 },
    );
    const closing = storage.close();
    await expect(pending).resolves.toBeUndefined();
    await closing;
    await expect(storage.close()).resolves.toBeUndefined();
    for (const call of [
      storage.getCart('c1'),
      storage.claim({ owner: 'a', limit: 1, leaseMs: 1_000 }),
      storage.complete('t', 'a'),
      storage.release('t', 'a', 0),
      storage.nextDueAt(),
      storage.enqueueTasks([]),
      storage.idempotency.get('k'),
      storage.idempotency.release('k', 'f'),
    ]) {
      const error = await call.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(CartError.is(error) && error.code).toBe(ErrorCode.CLOSED);
    }
  });
});
