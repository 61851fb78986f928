import { type Cart, type IdempotencyRecord, newTask } from '@cartkit/core';
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

  it('keeps carts, tasks and idempotency records with look-alike ids apart', async () => {
    const storage = await createSqliteCartStorage({ path: dir.file() });
    const tricky = ['job:x', 'x', 'cart:x', 'idem:x', ':x', '::base64:x', `${'é:'.repeat(127)}ü`];
    for (const id of tricky) {
      await storage.saveCart(cart(id, [id]), {
        expectedVersion: 0,
        tasks: [newTask({ id, kind: 'reserve', cartId: id, itemName: id, quantity: 1, now: 1 })],
      });
      await storage.idempotency.claim({
        key: id,
        fingerprint: id,
        status: 'in-progress',
        response: null,
        leaseUntil: Date.now() + 60_000,
        expiresAt: Date.now() + 60_000,
      });
    }
    for (const id of tricky) {
      expect(await storage.getCart(id)).toEqual(cart(id, [id]));
      expect((await storage.idempotency.get(id))?.fingerprint).toBe(id);
    }
    const claimed = await storage.claim({ owner: 'a', limit: 100, leaseMs: 1_000 });
    expect(claimed.map((c) => [c.task.id, c.task.itemName]).sort()).toEqual(
      [...tricky].sort().map((id) => [id, id]),
    );
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

  it('claims due tasks through the outbox index, never scanning documents', async () => {
    const raw = openRaw(dir.file());
    const sql = statements('cartkit');
    await raw.query('SELECT 1');
    for (const statement of sql.createSideTables) await raw.query(statement);
    const planOf = async (statement: string, ...params: unknown[]) =>
      (await raw.query(`EXPLAIN QUERY PLAN ${statement}`, ...params))
        .map((row) => String(row.detail))
        .join('\n');
    const claimPlan = await planOf(sql.claim, 1, 'owner', 2, 10);
    expect(claimPlan).toMatch(/cartkit_outbox_due/);
    expect(claimPlan).not.toMatch(/SCAN cartkit\b/);
    expect(await planOf(sql.anyDue, 1)).toMatch(/cartkit_outbox_due/);
    expect(await planOf(sql.nextDue)).toMatch(/cartkit_outbox_due/);
    expect(await planOf(sql.expired, 1, 10)).toMatch(/cartkit_expiry_at/);
    await raw.close();
  });

  it('moves the unfinished jobs of a layout 1 database into the outbox on open', async () => {
    const path = dir.file();
    const raw = openRaw(path);
    await raw.query('SELECT 1');
    await raw.query(
      'CREATE TABLE cartkit_jobs (key TEXT PRIMARY KEY NOT NULL, run_at INTEGER NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID',
    );
    const doc = (type: string, data: unknown) =>
      JSON.stringify({ value: { schema: 1, type, data } });
    await raw.put(keys.layout(), doc('layout', { layout: 1 }));
    const legacy = {
      id: 'j1',
      idempotencyKey: 'key-0',
      kind: 'reserve',
      cartId: 'c1',
      itemName: 'A',
      quantity: 2,
      reservationId: null,
      attempts: 3,
      runAt: 50,
      lease: null,
      lastError: { code: 'RESERVATION_UNAVAILABLE', message: '503' },
      createdAt: 10,
      version: 4,
    };
    await raw.put(keys.job('j1'), doc('job', legacy));
    await raw.query(
      'INSERT INTO cartkit_jobs (key, run_at, created_at) VALUES (?, 50, 10)',
      keys.job('j1'),
    );
    await raw.close();

    const storage = await createSqliteCartStorage({ path });
    const [claimed] = await storage.claim({ owner: 'a', limit: 10, leaseMs: 1_000 });
    expect(claimed?.attempt).toBe(4);
    expect(claimed?.task).toEqual({
      id: 'j1',
      idempotencyKey: 'key-0',
      kind: 'reserve',
      cartId: 'c1',
      itemName: 'A',
      quantity: 2,
      reservationId: null,
      createdAt: 10,
    });
    await storage.close();
    const after = openRaw(path);
    expect(await after.query("SELECT name FROM sqlite_master WHERE name = 'cartkit_jobs'")).toEqual(
      [],
    );
    expect(await after.query('SELECT key FROM cartkit WHERE key = ?', keys.job('j1'))).toEqual([]);
    await after.close();
  });

  it('purges expired idempotency records as new ones are claimed, and on open', async () => {
    const path = dir.file();
    const clock = new FakeClock();
    const storage = await createSqliteCartStorage({ path, clock });
    const record = (key: string, ttl: number): IdempotencyRecord => ({
      key,
      fingerprint: 'f',
      status: 'in-progress',
      response: null,
      leaseUntil: clock.now() + ttl,
      expiresAt: clock.now() + ttl,
    });
    for (let i = 0; i < 150; i++) await storage.idempotency.claim(record(`old-${i}`, 1000));
    await storage.idempotency.claim(record('long-lived', 100_000));
    const raw = openRaw(path);
    const count = async () =>
      Number(
        (await raw.query("SELECT count(*) AS n FROM cartkit WHERE key LIKE 'cartkit:idem:%'"))[0]
          ?.n,
      );
    expect(await count()).toBe(151);

    clock.set(clock.now() + 1000);
    await storage.idempotency.claim(record('new', 1000));
    // One batch of at most 100 expired records went with that write.
    expect(await count()).toBe(152 - 100);
    await storage.close();

    // Opening purges the rest; live records stay.
    const reopened = await createSqliteCartStorage({ path, clock });
    expect(await count()).toBe(2);
    expect(Number((await raw.query('SELECT count(*) AS n FROM cartkit_expiry'))[0]?.n)).toBe(2);
    expect((await reopened.idempotency.get('long-lived'))?.fingerprint).toBe('f');
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
    expect(JSON.parse(String(rows[1]?.value)).value.data).toEqual({ layout: 2 });
    await raw.close();
  });
});
