import { type Cart, CartService, ErrorCode, newTask, StorageError } from '@cartkit/core';
import type { PostgresCartStorage } from '@cartkit/storage-postgres';
import { FakeClock, inertScheduler } from '@cartkit/testing';
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { describeEngines, requireEngines } from '../../../scripts/vitest/engines.js';
import { freshSchema, openStorage } from './support.js';

const cart = (id: string, version: number): Cart => ({
  id,
  version,
  lines: [],
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});
const task = (id: string, createdAt = 1) =>
  newTask({ id, kind: 'reserve', cartId: 'c', itemName: 'A', quantity: 1, now: createdAt });

async function sql(query: string, values: unknown[] = [], url = requireEngines().pgUrl) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(query, values);
  } finally {
    await client.end();
  }
}

// Each storage has its own pool: two of them on one schema stand for two instances.
describeEngines('PostgreSQL storage shared by several instances', () => {
  const opened: PostgresCartStorage[] = [];
  const open = async (schema: string, options: Parameters<typeof openStorage>[0] = {}) => {
    const storage = await openStorage({ schema, ...options });
    opened.push(storage);
    return storage;
  };
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });

  it('loses no update: 300 concurrent adds through three instances end with the exact quantity', async () => {
    const schema = freshSchema();
    const stores = [await open(schema), await open(schema), await open(schema)];
    const clock = new FakeClock();
    const services = stores.map(
      (storage) =>
        new CartService({
          storage,
          scheduler: inertScheduler,
          clock,
          reserveOnAdd: false,
          maxCombinedChanges: 4, // many small saves, so the instances' saves interleave
        }),
    );
    await Promise.all(
      Array.from({ length: 300 }, (_, i) => services[i % 3]?.addItem('shared', { name: 'P' })),
    );
    const stored = await stores[0]?.getCart('shared');
    expect(stored?.lines).toHaveLength(1);
    expect(stored?.lines[0]?.quantity).toBe(300);
    // Adds queued behind a save in flight share a version (at most 4 per save here).
    expect(stored?.version).toBeGreaterThanOrEqual(75);
    expect(stored?.version).toBeLessThanOrEqual(300);
  });

  it('hands every task to exactly one of three instances claiming at once', async () => {
    const schema = freshSchema();
    const stores = [await open(schema), await open(schema), await open(schema)];
    await stores[0]?.enqueueTasks(Array.from({ length: 150 }, (_, i) => task(`t${i}`, i)));
    const taken = new Map<string, string>();
    await Promise.all(
      stores.map(async (store, n) => {
        for (;;) {
          const claimed = await store.claim({ owner: `i${n}`, limit: 7, leaseMs: 60_000 });
          if (claimed.length === 0) return;
          for (const c of claimed) {
            expect(taken.has(c.task.id), `${c.task.id} claimed twice`).toBe(false);
            taken.set(c.task.id, `i${n}`);
            expect(await store.complete(c.task.id, `i${n}`)).toBe(true);
          }
        }
      }),
    );
    expect(taken.size).toBe(150);
    expect(new Set(taken.values()).size).toBeGreaterThan(1);
    expect(await stores[1]?.nextDueAt()).toBeUndefined();
  });

  it("leases run on the database's clock: an instance whose own clock is far ahead cannot take over", async () => {
    const schema = freshSchema();
    const a = await open(schema);
    const b = await open(schema);
    await a.enqueueTasks([task('t1')]);
    const before = Number(
      (await sql('SELECT floor(extract(epoch FROM clock_timestamp()) * 1000) AS ms')).rows[0].ms,
    );
    const [claimed] = await a.claim({ owner: 'a', limit: 1, leaseMs: 60_000 });
    const after = Number(
      (await sql('SELECT floor(extract(epoch FROM clock_timestamp()) * 1000) AS ms')).rows[0].ms,
    );
    expect(claimed?.leaseUntil).toBeGreaterThanOrEqual(before + 60_000);
    expect(claimed?.leaseUntil).toBeLessThanOrEqual(after + 60_000);
    // b's process clock says it is tomorrow: irrelevant, the database decides.
    const realNow = Date.now;
    Date.now = () => realNow() + 86_400_000;
    try {
      expect(await b.claim({ owner: 'b', limit: 1, leaseMs: 60_000 })).toEqual([]);
    } finally {
      Date.now = realNow;
    }
    // Once the lease lapses on the database's clock, b takes the task over.
    await a.release('t1', 'a', 0);
    const [again] = await b.claim({ owner: 'b', limit: 1, leaseMs: 1 });
    expect(again?.attempt).toBe(2);
    let taken: unknown[] = [];
    while (taken.length === 0) taken = await a.claim({ owner: 'a', limit: 1, leaseMs: 60_000 });
    expect(await b.complete('t1', 'b')).toBe(false);
    expect(await a.complete('t1', 'a')).toBe(true);
  });

  it('survives the server dropping its connections: operations fail typed or succeed, then work again', async () => {
    const schema = freshSchema();
    const store = await open(schema, { applicationName: `cartkit-drop-${schema}` });
    await store.saveCart(cart('c1', 1), { expectedVersion: 0 });
    await store.getCart('c1'); // leaves an idle pooled connection behind
    const dropped = await sql(
      'SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = $1',
      [`cartkit-drop-${schema}`],
    ); // a role may terminate its own sessions
    expect(Number(dropped.rows[0].n)).toBeGreaterThan(0);
    // The first use may hit the dead connection: a typed error, never a raw one or a crash.
    for (let i = 0; i < 3; i++) {
      try {
        await store.getCart('c1');
      } catch (error) {
        expect(StorageError.is(error)).toBe(true);
        expect(error).toMatchObject({ code: ErrorCode.STORAGE_UNAVAILABLE });
      }
    }
    expect((await store.getCart('c1'))?.version).toBe(1);
    await store.saveCart(cart('c1', 2), { expectedVersion: 1 });
    expect((await store.getCart('c1'))?.version).toBe(2);
  });

  it('never opens more connections than poolSize', async () => {
    const schema = freshSchema();
    const name = `cartkit-pool-${schema}`;
    const store = await open(schema, { poolSize: 2, applicationName: name });
    let most = 0;
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        await store.saveCart(cart(`c${i}`, 1), { expectedVersion: 0, tasks: [task(`t${i}`)] });
        const { rows } = await sql(
          'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1',
          [name],
        );
        most = Math.max(most, Number(rows[0].n));
      }),
    );
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(2);
  });

  it('reports a damaged cart row as STORAGE_CORRUPT_DATA naming the cart', async () => {
    const schema = freshSchema();
    const store = await open(schema);
    await store.saveCart(cart('c1', 1), { expectedVersion: 0 });
    await sql(`UPDATE "${schema}"."cartkit_carts" SET document = '{"hello": 1}' WHERE id = 'c1'`);
    await expect(store.getCart('c1')).rejects.toMatchObject({
      code: ErrorCode.STORAGE_CORRUPT_DATA,
      details: { cartId: 'c1' },
    });
  });

  it('writes nothing of a save whose task id is taken, across instances', async () => {
    const schema = freshSchema();
    const a = await open(schema);
    const b = await open(schema);
    await a.enqueueTasks([task('t1')]);
    await expect(
      b.saveCart(cart('c1', 1), { expectedVersion: 0, tasks: [task('t2'), task('t1')] }),
    ).rejects.toMatchObject({ code: ErrorCode.VERSION_CONFLICT });
    expect(await a.getCart('c1')).toBeUndefined();
    const claimed = await a.claim({ owner: 'x', limit: 10, leaseMs: 1000 });
    expect(claimed.map((c) => c.task.id)).toEqual(['t1']);
  });
});
