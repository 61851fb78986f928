import type { Cart } from '@cartkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { keys } from '../src/documents.js';
import { createSqliteCartStorage } from '../src/index.js';
import { openRaw } from './support/raw-database.js';
import { createTempDir } from './support/temp-dir.js';

const at = new Date(0).toISOString();
const cart = (version: number, quantity: number): Cart => ({
  id: 'c1',
  version,
  lines: [{ name: 'A', quantity, reservation: null, addedAt: at, updatedAt: at }],
  createdAt: at,
  updatedAt: at,
});

// Plain reads use their own connection: they neither queue behind this storage's
// transactions nor see another connection's uncommitted writes.
describe('reads beside a write that waits for a lock', () => {
  const dir = createTempDir();
  afterAll(() => dir.remove());

  it('answer with the last commit while the write waits, then see the write', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });

    // Another connection takes the write lock and writes, uncommitted.
    const raw = openRaw(path);
    await raw.query('BEGIN IMMEDIATE');
    await raw.query('UPDATE cartkit SET value = value WHERE key = ?', keys.cart('c1'));

    let settled = false;
    const saving = storage.saveCart(cart(2, 5), { expectedVersion: 1 }).finally(() => {
      settled = true;
    });
    // The save now waits for the lock; a read answers at once, from the last commit.
    const during = await storage.getCart('c1');
    expect(during).toEqual(cart(1, 1));
    expect(settled).toBe(false);

    await raw.query('COMMIT');
    await raw.close();
    await saving;
    // The read after the save returned sees it.
    expect(await storage.getCart('c1')).toEqual(cart(2, 5));
    await storage.close();
  });

  it('on :memory: (one connection) still read what was written', async () => {
    const storage = await createSqliteCartStorage({ path: ':memory:' });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    expect(await storage.getCart('c1')).toEqual(cart(1, 1));
    await storage.close();
  });
});
