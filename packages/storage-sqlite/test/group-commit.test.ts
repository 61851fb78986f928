import { createRequire } from 'node:module';
import {
  type Cart,
  ConflictError,
  ErrorCode,
  newTask,
  type ReservationTask,
  StorageError,
} from '@cartkit/core';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keys } from '../src/documents.js';
import { createSqliteCartStorage, type SqliteCartStorage } from '../src/index.js';
import { openRaw } from './support/raw-database.js';
import { createTempDir } from './support/temp-dir.js';

// Saves of different carts waiting for the writer connection are written together:
// one conditional multi-row upsert and one insert of the winners' tasks, in one
// transaction. A cart that loses its compare-and-set fails alone and writes nothing.

const at = new Date(0).toISOString();
const cart = (id: string, version: number, names: string[] = []): Cart => ({
  id,
  version,
  lines: names.map((name) => ({
    name,
    quantity: 1,
    reservation: null,
    addedAt: at,
    updatedAt: at,
  })),
  createdAt: at,
  updatedAt: at,
});
const task = (id: string, cartId: string): ReservationTask =>
  newTask({ id, kind: 'reserve', cartId, itemName: 'A', quantity: 1, now: 5 });

/**
 * Counts the statements sqlite3 runs (every @keyv/sqlite query is a `Database#all`,
 * bound when a connection opens: so the count is installed before any is opened).
 */
const statements = (() => {
  const keyvSqlite = createRequire(import.meta.url).resolve('@keyv/sqlite');
  const sqlite3 = createRequire(keyvSqlite)('sqlite3') as {
    Database: { prototype: { all: (...args: unknown[]) => unknown } };
  };
  const { prototype } = sqlite3.Database;
  const original = prototype.all;
  const counter = { count: 0, restore: () => {} };
  prototype.all = function (this: unknown, ...args: unknown[]) {
    counter.count++;
    return original.apply(this, args);
  };
  counter.restore = () => {
    prototype.all = original;
  };
  return counter;
})();

afterAll(() => statements.restore());

describe('group commit of saves waiting for the SQLite writer', () => {
  const dir = createTempDir();
  let path: string;
  let storage: SqliteCartStorage;
  beforeEach(async () => {
    path = dir.file();
    storage = await createSqliteCartStorage({ path });
  });
  afterEach(() => storage.close());
  afterAll(() => dir.remove());

  it('writes 20 carts and their tasks saved at once in one transaction of four statements', async () => {
    const before = statements.count;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        storage.saveCart(cart(`c${i}`, 1, ['A']), {
          expectedVersion: 0,
          tasks: [task(`t${i}`, `c${i}`)],
        }),
      ),
    );
    // BEGIN IMMEDIATE, the upsert of the 20 carts, the insert of the 20 tasks, COMMIT.
    expect(statements.count - before).toBe(4);
    for (let i = 0; i < 20; i++) expect((await storage.getCart(`c${i}`))?.version).toBe(1);
    const claimed = await storage.claim({ owner: 'o', limit: 100, leaseMs: 1000 });
    expect(claimed.map((c) => c.task.id).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `t${i}`).sort(),
    );
  });

  it('writes carts saved at once without tasks in one statement', async () => {
    await Promise.all(
      ['a', 'b', 'c'].map((id) => storage.saveCart(cart(id, 1), { expectedVersion: 0 })),
    );
    const before = statements.count;
    await Promise.all(
      ['a', 'b', 'c'].map((id) => storage.saveCart(cart(id, 2, ['X']), { expectedVersion: 1 })),
    );
    expect(statements.count - before).toBe(1);
    for (const id of ['a', 'b', 'c']) expect((await storage.getCart(id))?.version).toBe(2);
  });

  it('fails a stale cart of the group alone: VERSION_CONFLICT, none of its tasks written', async () => {
    await storage.saveCart(cart('stale', 1, ['A']), { expectedVersion: 0 });
    await storage.saveCart(cart('stale', 2, ['A', 'B']), { expectedVersion: 1 });
    await storage.saveCart(cart('taken', 1), { expectedVersion: 0 });
    const results = await Promise.allSettled([
      storage.saveCart(cart('fresh', 1, ['A']), {
        expectedVersion: 0,
        tasks: [task('t-fresh', 'fresh')],
      }),
      storage.saveCart(cart('stale', 2, ['X']), {
        expectedVersion: 1,
        tasks: [task('t-stale', 'stale')],
      }),
      storage.saveCart(cart('taken', 1, ['X']), {
        expectedVersion: 0,
        tasks: [task('t-taken', 'taken')],
      }),
      storage.saveCart(cart('never-saved', 3), { expectedVersion: 2 }),
      storage.saveCart(cart('other', 1, ['A']), {
        expectedVersion: 0,
        tasks: [task('t-other', 'other')],
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'rejected',
      'rejected',
      'fulfilled',
    ]);
    for (const r of results) {
      if (r.status === 'rejected') {
        expect(ConflictError.is(r.reason)).toBe(true);
        expect((r.reason as ConflictError).code).toBe(ErrorCode.VERSION_CONFLICT);
      }
    }
    expect((await storage.getCart('stale'))?.lines.map((l) => l.name)).toEqual(['A', 'B']);
    expect((await storage.getCart('taken'))?.lines).toEqual([]);
    expect(await storage.getCart('never-saved')).toBeUndefined();
    const claimed = await storage.claim({ owner: 'o', limit: 100, leaseMs: 1000 });
    expect(claimed.map((c) => c.task.id).sort()).toEqual(['t-fresh', 't-other']);
  });

  it('lets one of two saves of one cart at one version win, the other conflicts', async () => {
    await storage.saveCart(cart('c1', 1), { expectedVersion: 0 });
    const results = await Promise.allSettled([
      storage.saveCart(cart('c1', 2, ['first']), { expectedVersion: 1 }),
      storage.saveCart(cart('c2', 1), { expectedVersion: 0 }),
      storage.saveCart(cart('c1', 2, ['second']), { expectedVersion: 1 }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((await storage.getCart('c1'))?.lines.map((l) => l.name)).toEqual(['first']);
  });

  it('writes none of the group when a task id is taken, then saves the others one by one', async () => {
    await storage.enqueueTasks([task('t-dup', 'x')]);
    const results = await Promise.allSettled([
      storage.saveCart(cart('a', 1), { expectedVersion: 0, tasks: [task('t-a', 'a')] }),
      storage.saveCart(cart('b', 1), { expectedVersion: 0, tasks: [task('t-dup', 'b')] }),
      storage.saveCart(cart('c', 1), { expectedVersion: 0, tasks: [task('t-c', 'c')] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await storage.getCart('b')).toBeUndefined();
    const claimed = await storage.claim({ owner: 'o', limit: 100, leaseMs: 1000 });
    expect(claimed.map((c) => [c.task.id, c.task.cartId]).sort()).toEqual([
      ['t-a', 'a'],
      ['t-c', 'c'],
      ['t-dup', 'x'],
    ]);
  });

  it('reports a damaged cart of the group as STORAGE_CORRUPT_DATA and writes the others', async () => {
    await storage.saveCart(cart('good', 1), { expectedVersion: 0 });
    const raw = openRaw(path);
    await raw.put(keys.cart('bad'), 'not json {');
    await raw.close();
    const results = await Promise.allSettled([
      storage.saveCart(cart('good', 2, ['A']), { expectedVersion: 1 }),
      storage.saveCart(cart('bad', 2, ['A']), { expectedVersion: 1 }),
    ]);
    expect(results[0]?.status).toBe('fulfilled');
    expect(results[1]).toMatchObject({
      status: 'rejected',
      reason: { code: ErrorCode.STORAGE_CORRUPT_DATA },
    });
    expect(StorageError.is((results[1] as PromiseRejectedResult).reason)).toBe(true);
    expect((await storage.getCart('good'))?.version).toBe(2);
  });
  it('finishes the saves of a group made before close(): each with its own answer, never CLOSED', async () => {
    await storage.enqueueTasks([task('t-dup', 'x')]);
    await storage.saveCart(cart('stale', 1), { expectedVersion: 0 });
    await storage.saveCart(cart('stale', 2), { expectedVersion: 1 });
    const saves = [
      storage.saveCart(cart('a', 1), { expectedVersion: 0, tasks: [task('t-a', 'a')] }),
      // Its task id is taken: the group is undone and its saves go one by one.
      storage.saveCart(cart('b', 1), { expectedVersion: 0, tasks: [task('t-dup', 'b')] }),
      storage.saveCart(cart('stale', 2, ['X']), { expectedVersion: 1 }),
    ];
    const closed = storage.close();
    const results = await Promise.allSettled(saves);
    await closed;
    expect(results[0]?.status).toBe('fulfilled');
    for (const result of results.slice(1)) {
      expect(result).toMatchObject({
        status: 'rejected',
        reason: { code: ErrorCode.VERSION_CONFLICT },
      });
    }
    const reopened = await createSqliteCartStorage({ path });
    try {
      expect((await reopened.getCart('a'))?.version).toBe(1);
      expect(await reopened.getCart('b')).toBeUndefined();
      expect((await reopened.getCart('stale'))?.lines).toEqual([]);
      const claimed = await reopened.claim({ owner: 'o', limit: 100, leaseMs: 1000 });
      expect(claimed.map((c) => [c.task.id, c.task.cartId]).sort()).toEqual([
        ['t-a', 'a'],
        ['t-dup', 'x'],
      ]);
    } finally {
      await reopened.close();
    }
  });
});

describe('grouped task completions', () => {
  const dir = createTempDir();
  let storage: SqliteCartStorage;
  beforeEach(async () => {
    storage = await createSqliteCartStorage({ path: dir.file() });
  });
  afterEach(() => storage.close());
  afterAll(() => dir.remove());

  it('completes tasks finished at once in one statement, each only by its holder', async () => {
    await storage.enqueueTasks(Array.from({ length: 10 }, (_, i) => task(`t${i}`, 'c1')));
    const mine = await storage.claim({ owner: 'me', limit: 6, leaseMs: 60_000 });
    const theirs = await storage.claim({ owner: 'them', limit: 4, leaseMs: 60_000 });
    expect(mine).toHaveLength(6);
    expect(theirs).toHaveLength(4);
    const before = statements.count;
    const results = await Promise.all([
      ...mine.map((c) => storage.complete(c.task.id, 'me')),
      storage.complete(theirs[0]?.task.id ?? '', 'me'), // not mine: stays
      storage.complete('unknown', 'me'),
      storage.complete(theirs[1]?.task.id ?? '', 'them'),
    ]);
    expect(statements.count - before).toBe(1);
    expect(results).toEqual([true, true, true, true, true, true, false, false, true]);
    // A task id twice at once: the second waits for the next group and finds it gone.
    const again = await Promise.all([
      storage.complete(theirs[2]?.task.id ?? '', 'them'),
      storage.complete(theirs[2]?.task.id ?? '', 'them'),
    ]);
    expect(again).toEqual([true, false]);
    expect(await storage.nextDueAt()).toBeGreaterThan(0); // theirs[0] and theirs[3] remain
    await expect(storage.complete(theirs[0]?.task.id ?? '', 'them')).resolves.toBe(true);
    await expect(storage.complete(theirs[3]?.task.id ?? '', 'them')).resolves.toBe(true);
    expect(await storage.nextDueAt()).toBeUndefined();
  });

  it('fails a completion after close with CLOSED, as a rejection', async () => {
    await storage.close();
    await expect(storage.complete('t1', 'me')).rejects.toMatchObject({ code: ErrorCode.CLOSED });
  });
});
