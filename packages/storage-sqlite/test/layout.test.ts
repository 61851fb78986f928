import { type Cart, type IdempotencyRecord, newJob } from '@cartkit/core';
import { FakeClock } from '@cartkit/testing';
import KeyvSqlite from '@keyv/sqlite';
import Keyv from 'keyv';
import { afterAll, describe, expect, it } from 'vitest';
import { DOCUMENT_SCHEMA, keys } from '../src/documents.js';
import { createSqliteCartStorage } from '../src/index.js';
import { statements } from '../src/schema.js';
import { openRaw } from './support/raw-database.js';
import { createTempDir } from './support/temp-dir.js';

const at = new Date(0).toISOString();
const cart = (id: string, names: string[] = []): Cart => ({
  id,
  version: 1,
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

describe('storage layout', () => {
  const dir = createTempDir();
  afterAll(() => dir.remove());

  it('keeps carts, jobs and idempotency records with look-alike ids apart', async () => {
    const storage = await createSqliteCartStorage({ path: dir.file() });
    const tricky = ['job:x', 'x', 'cart:x', 'idem:x', ':x', '::base64:x', `${'é:'.repeat(127)}ü`];
    for (const id of tricky) {
      await storage.saveCart(cart(id, [id]), {
        expectedVersion: 0,
        jobs: [newJob({ id, kind: 'reserve', cartId: id, itemName: id, quantity: 1, now: 1 })],
      });
      await storage.createIdempotencyRecord({
        key: id,
        fingerprint: id,
        status: 'in-progress',
        response: null,
        expiresAt: Date.now() + 60_000,
      });
    }
    for (const id of tricky) {
      expect(await storage.getCart(id)).toEqual(cart(id, [id]));
      expect((await storage.getJob(id))?.itemName).toBe(id);
      expect((await storage.getIdempotencyRecord(id))?.fingerprint).toBe(id);
    }
    expect((await storage.listJobs()).map((j) => j.id).sort()).toEqual([...tricky].sort());
    await storage.close();
  });

  it('stores standard keyv entries: a plain Keyv on the table reads the documents', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path, table: 'shop' });
    await storage.saveCart(cart('alice', ['Product1']), { expectedVersion: 0 });
    await storage.close();

    const keyv = new Keyv(new KeyvSqlite({ uri: `sqlite://${path}`, table: 'shop' }), {
      namespace: 'cartkit',
    });
    expect(await keyv.get('cart:alice')).toEqual({
      schema: DOCUMENT_SCHEMA,
      type: 'cart',
      data: cart('alice', ['Product1']),
    });
    await keyv.disconnect();
  });

  it('lists due jobs through the side-table index, never scanning documents', async () => {
    const raw = openRaw(dir.file());
    const sql = statements('cartkit');
    await raw.query('SELECT 1');
    for (const statement of sql.createSideTables) await raw.query(statement);
    const plan = (await raw.query(`EXPLAIN QUERY PLAN ${sql.listJobs}`, 1, 10))
      .map((row) => String(row.detail))
      .join('\n');
    expect(plan).toMatch(/cartkit_jobs_due/);
    expect(plan).toMatch(/SEARCH d USING (INDEX|PRIMARY KEY)/);
    expect(plan).not.toMatch(/SCAN d\b/);
    const purgePlan = (await raw.query(`EXPLAIN QUERY PLAN ${sql.expired}`, 1, 10))
      .map((row) => String(row.detail))
      .join('\n');
    expect(purgePlan).toMatch(/cartkit_expiry_at/);
    await raw.close();
  });

  it('keeps the job index in step with updates and deletes', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    const job = (id: string, runAt: number) =>
      newJob({ id, kind: 'reserve', cartId: 'c1', itemName: id, quantity: 1, now: runAt });
    await storage.saveCart(cart('c1'), { expectedVersion: 0, jobs: [job('a', 10), job('b', 20)] });
    // A retry moves "a" after "b" and out of the due window.
    await storage.updateJob({ ...job('a', 10), runAt: 30, attempts: 1, version: 2 }, 1);
    expect((await storage.listJobs()).map((j) => j.id)).toEqual(['b', 'a']);
    expect((await storage.listJobs({ dueBefore: 25 })).map((j) => j.id)).toEqual(['b']);
    expect((await storage.listJobs({ dueBefore: 25, limit: 0 })).map((j) => j.id)).toEqual([]);
    await storage.deleteJob('b', 1);
    const raw = openRaw(path);
    expect(await raw.query('SELECT key, run_at FROM cartkit_jobs')).toEqual([
      { key: keys.job('a'), run_at: 30 },
    ]);
    await raw.close();
    await storage.close();
  });

  it('purges expired idempotency records as new ones are created, and on open', async () => {
    const path = dir.file();
    const clock = new FakeClock();
    const storage = await createSqliteCartStorage({ path, clock });
    const record = (key: string, ttl: number): IdempotencyRecord => ({
      key,
      fingerprint: 'f',
      status: 'in-progress',
      response: null,
      expiresAt: clock.now() + ttl,
    });
    for (let i = 0; i < 150; i++) await storage.createIdempotencyRecord(record(`old-${i}`, 1000));
    await storage.createIdempotencyRecord(record('long-lived', 100_000));
    const raw = openRaw(path);
    const count = async () =>
      Number(
        (await raw.query("SELECT count(*) AS n FROM cartkit WHERE key LIKE 'cartkit:idem:%'"))[0]
          ?.n,
      );
    expect(await count()).toBe(151);

    clock.set(clock.now() + 1000);
    await storage.createIdempotencyRecord(record('new', 1000));
    // One batch of at most 100 expired records went with that write.
    expect(await count()).toBe(152 - 100);
    await storage.close();

    // Opening purges the rest; live records stay.
    const reopened = await createSqliteCartStorage({ path, clock });
    expect(await count()).toBe(2);
    expect(Number((await raw.query('SELECT count(*) AS n FROM cartkit_expiry'))[0]?.n)).toBe(2);
    expect((await reopened.getIdempotencyRecord('long-lived'))?.fingerprint).toBe('f');
    await reopened.close();
    await raw.close();
  });

  it('records the schema version in every document and the layout version in the file', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    await storage.saveCart(cart('c1'), { expectedVersion: 0 });
    await storage.close();
    const raw = openRaw(path);
    const rows = await raw.query('SELECT key, value FROM cartkit ORDER BY key');
    expect(rows.map((r) => r.key)).toEqual([keys.cart('c1'), keys.layout()]);
    for (const row of rows) expect(JSON.parse(String(row.value)).value.schema).toBe(1);
    expect(JSON.parse(String(rows[1]?.value)).value.data).toEqual({ layout: 1 });
    await raw.close();
  });
});
