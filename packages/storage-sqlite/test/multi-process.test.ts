import {
  type Cart,
  CartService,
  type CartStore,
  ErrorCode,
  type SaveCartOptions,
  StorageError,
} from '@cartkit/core';
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
      maxCombinedChanges: 4, // many small saves, so the two processes' saves interleave
    });
    const other = startFixture('hammer', [path, 'shared', '200', '4']);
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
    // Adds queued behind a save in flight share a version (at most 4 per save here).
    expect(cart?.version).toBeGreaterThanOrEqual(100);
    expect(cart?.version).toBeLessThanOrEqual(400);
    // The processes really raced: some saves lost the compare-and-set and were redone.
    expect(conflicts + Number(theirs.conflicts)).toBeGreaterThan(0);
    await storage.close();
    expect((await other.exited).code).toBe(0);
  });
});

describe('adds combined into one save, racing another process', () => {
  const dir = createTempDir();
  beforeAll(() => assertPackageBuilt());
  afterEach(() => killFixtures());
  afterAll(() => dir.remove());

  it('recomputes the whole combined save from a fresh read when the other process saved first', async () => {
    const path = dir.file();
    const sqlite = await createSqliteCartStorage({ path });
    const other = startFixture('add-on-demand', [path]);
    await other.next('ready');
    let saves = 0;
    let competed = false;
    // Our storage, with a hook: just before our combined save of version 2, the other
    // process saves version 2 (its write commits first; ours then loses).
    const storage: CartStore = {
      getCart: (id) => sqlite.getCart(id),
      enqueueTasks: (tasks) => sqlite.enqueueTasks(tasks),
      close: () => sqlite.close(),
      saveCart: async (cart: Cart, options: SaveCartOptions) => {
        saves++;
        if (!competed && cart.version === 2) {
          competed = true;
          other.send({ type: 'add', cartId: 'shared', name: 'Product1', quantity: 100 });
          expect((await other.next('added')).version).toBe(2);
        }
        return sqlite.saveCart(cart, options);
      },
    };
    const service = new CartService({ storage, scheduler: inertScheduler, reserveOnAdd: false });
    await service.addItem('shared', { name: 'Product1' }); // version 1
    // Ten adds at once, combined into one save, which loses to the other process and is
    // recomputed on the cart it saved.
    const results = await Promise.all(
      Array.from({ length: 10 }, () => service.addItem('shared', { name: 'Product1' })),
    );
    expect(competed).toBe(true);
    expect(results.map((r) => r.cart.version)).toEqual(Array(10).fill(3));
    expect(results.map((r) => r.line.quantity)).toEqual([
      102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    ]);
    // The first add, the lost combined save, its recomputation.
    expect(saves).toBe(3);
    const cart = await sqlite.getCart('shared');
    expect(cart?.version).toBe(3);
    expect(cart?.lines[0]?.quantity).toBe(111);
    other.send({ type: 'stop' });
    expect((await other.exited).code).toBe(0);
    await sqlite.close();
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
