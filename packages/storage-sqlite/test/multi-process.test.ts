import { CartService, ErrorCode, StorageError } from '@cartkit/core';
import { inertScheduler } from '@cartkit/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteCartStorage } from '../src/index.js';
import { assertPackageBuilt, killFixtures, startFixture } from './support/fixtures.js';
import { createTempDir } from './support/temp-dir.js';

describe('two processes writing one cart on one database file', () => {
  const dir = createTempDir();
  beforeAll(() => assertPackageBuilt());
  afterEach(() => killFixtures());
  afterAll(() => dir.remove());

  it('loses no update and surfaces no error: 200 adds from each process', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    let conflicts = 0;
    const logger = {
      debug: (_fields: unknown, message?: string) => {
        if (message?.includes('compare-and-set')) conflicts++;
      },
      info: () => {},
      warn: () => {},
      error: () => {},
    };
    const service = new CartService({
      storage,
      scheduler: inertScheduler,
      reserveOnAdd: false,
      logger,
    });
    const other = startFixture('hammer', [path, 'shared', '200']);
    await other.next('ready');

    other.send({ type: 'go' });
    const mine = await Promise.allSettled(
      Array.from({ length: 200 }, () => service.addItem('shared', { name: 'Product1' })),
    );
    const theirs = await other.next('done');

    const myErrors = mine.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
    expect(myErrors).toEqual([]);
    expect(theirs.errors).toEqual([]);
    expect(theirs.fulfilled).toBe(200);
    const cart = await storage.getCart('shared');
    expect(cart?.lines).toHaveLength(1);
    expect(cart?.lines[0]?.quantity).toBe(400);
    expect(cart?.version).toBe(400);
    // The processes really raced: some saves lost the compare-and-set and were redone.
    expect(conflicts + Number(theirs.conflicts)).toBeGreaterThan(0);
    await storage.close();
    expect((await other.exited).code).toBe(0);
  });
});

describe('lock contention with another process', () => {
  const dir = createTempDir();
  beforeAll(() => assertPackageBuilt());
  afterEach(() => killFixtures());
  afterAll(() => dir.remove());

  const at = new Date(0).toISOString();
  const cart = (id: string) => ({ id, version: 1, lines: [], createdAt: at, updatedAt: at });

  it('retries a write that outlasts the busy timeout, and succeeds once the lock is gone', async () => {
    const path = dir.file();
    let onRetry = () => {};
    let retries = 0;
    const logger = {
      debug: (_fields: unknown, message?: string) => {
        if (message?.includes('retrying')) {
          retries++;
          onRetry();
        }
      },
      info: () => {},
      warn: () => {},
      error: () => {},
    };
    const storage = await createSqliteCartStorage({ path, busyTimeoutMs: 50, logger });
    const holder = startFixture('hold-lock', [path]);
    await holder.next('locked');
    // Release the other process's lock as soon as our first attempt has given up.
    onRetry = () => {
      onRetry = () => {};
      holder.send({ type: 'release' });
    };
    await storage.saveCart(cart('c1'), { expectedVersion: 0 });
    expect(retries).toBeGreaterThanOrEqual(1);
    expect((await storage.getCart('c1'))?.version).toBe(1);
    await holder.next('released');
    await storage.close();
  });

  it('gives up after bounded retries with STORAGE_FAILURE, never a raw SQLITE_BUSY', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path, busyTimeoutMs: 20 });
    const holder = startFixture('hold-lock', [path]);
    await holder.next('locked');
    const error = await storage.saveCart(cart('c1'), { expectedVersion: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(StorageError.is(error)).toBe(true);
    expect(error).toMatchObject({
      code: ErrorCode.STORAGE_FAILURE,
      details: { operation: 'saveCart', sqliteCode: 'SQLITE_BUSY' },
    });
    expect((error as Error).cause).toMatchObject({ code: 'SQLITE_BUSY' });
    // Reads still work while another process writes (WAL).
    expect(await storage.getCart('c1')).toBeUndefined();
    holder.send({ type: 'release' });
    await holder.next('released');
    await storage.saveCart(cart('c1'), { expectedVersion: 0 });
    await storage.close();
  });
});
