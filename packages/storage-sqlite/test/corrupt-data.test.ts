import {
  type Cart,
  CartService,
  ErrorCode,
  newTask,
  type ReservationTask,
  StorageError,
} from '@cartkit/core';
import { inertScheduler } from '@cartkit/testing';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keys } from '../src/documents.js';
import { createSqliteCartStorage, type SqliteCartStorage } from '../src/index.js';
import { openRaw, type RawDatabase } from './support/raw-database.js';
import { createTempDir } from './support/temp-dir.js';

const at = new Date(0).toISOString();
const cart = (id: string): Cart => ({ id, version: 1, lines: [], createdAt: at, updatedAt: at });
const task = (id: string, now = 5): ReservationTask =>
  newTask({ id, kind: 'reserve', cartId: 'c1', itemName: 'A', quantity: 1, now });
const entry = (value: unknown) => JSON.stringify({ value });

async function corruption(promise: Promise<unknown>, key: string): Promise<StorageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(StorageError.is(error), `expected a StorageError, got ${String(error)}`).toBe(true);
  const storageError = error as StorageError;
  expect(storageError.code).toBe(ErrorCode.STORAGE_CORRUPT_DATA);
  expect(storageError.details.key).toBe(key);
  expect(storageError.message).toContain(key);
  return storageError;
}

/** Stored values that are not a cart document, written by something else. */
const foreignValues: Array<[string, unknown]> = [
  ['text that is not JSON', 'not json {'],
  ['a NULL', null],
  ['a number', 42],
  ['JSON that is not a keyv entry', JSON.stringify([1, 2, 3])],
  ['a keyv entry of a foreign value', entry({ hello: 'world' })],
  ['a plain keyv string value', entry('just a string')],
  ['a document of another type', entry({ schema: 1, type: 'task', data: task('c1') })],
  ['a cart document of another cart', entry({ schema: 1, type: 'cart', data: cart('c2') })],
  [
    'a cart document with a broken shape',
    entry({ schema: 1, type: 'cart', data: { ...cart('c1'), lines: 'none' } }),
  ],
  ['a document with schema 0', entry({ schema: 0, type: 'cart', data: cart('c1') })],
];

describe('corrupt and foreign data', () => {
  const dir = createTempDir();
  let storage: SqliteCartStorage;
  let raw: RawDatabase;

  beforeEach(async () => {
    const path = dir.file();
    storage = await createSqliteCartStorage({ path });
    raw = openRaw(path);
  });
  afterEach(async () => {
    await raw.close();
    await storage.close();
  });
  afterAll(() => dir.remove());

  it.each(foreignValues)(
    'a cart key holding %s is STORAGE_CORRUPT_DATA naming the key',
    async (_name, value) => {
      const key = keys.cart('c1');
      await raw.put(key, value);
      const before = await raw.query('SELECT value FROM cartkit WHERE key = ?', key);
      await corruption(storage.getCart('c1'), key);
      // A write does not paper over it either: nothing is overwritten.
      await corruption(
        storage.saveCart({ ...cart('c1'), version: 2 }, { expectedVersion: 1 }),
        key,
      );
      await corruption(storage.saveCart(cart('c1'), { expectedVersion: 0 }), key);
      expect(await raw.query('SELECT value FROM cartkit WHERE key = ?', key)).toEqual(before);
    },
  );

  it('reaches CartService callers as the typed error, not a crash', async () => {
    const key = keys.cart('c1');
    await raw.put(key, 'garbage');
    const service = new CartService({ storage, scheduler: inertScheduler, reserveOnAdd: false });
    await corruption(service.addItem('c1', { name: 'Product1' }), key);
    await corruption(service.getCart('c1'), key);
    // Other carts are unaffected.
    await service.addItem('c2', { name: 'Product1' });
    expect((await service.getCart('c2')).lines).toHaveLength(1);
  });

  it('a cart written by a newer release is a clear error, not a misread', async () => {
    const key = keys.cart('c1');
    await raw.put(key, entry({ schema: 2, type: 'cart', data: { id: 'c1', shape: 'new' } }));
    const error = await corruption(storage.getCart('c1'), key);
    expect(error.message).toMatch(/newer release/);
    expect(error.details).toMatchObject({ reason: 'newer-schema', schema: 2, supportedSchema: 1 });
  });

  it('a corrupt task is STORAGE_CORRUPT_DATA from claim, naming it', async () => {
    await storage.saveCart(cart('c1'), { expectedVersion: 0, tasks: [task('t1'), task('t2', 9)] });
    await raw.query(
      'UPDATE cartkit_outbox SET task = ? WHERE id = ?',
      entry({ schema: 1, type: 'task', data: { id: 't1', nonsense: true } }),
      't1',
    );
    await corruption(storage.claim({ owner: 'a', limit: 10, leaseMs: 1_000 }), 'outbox:t1');
  });

  it('a corrupt idempotency record is STORAGE_CORRUPT_DATA naming the key', async () => {
    const key = keys.idempotency('k1');
    await raw.put(key, '{"value":');
    await corruption(storage.idempotency.get('k1'), key);
    await corruption(
      storage.idempotency.claim({
        key: 'k1',
        fingerprint: 'f',
        status: 'in-progress',
        response: null,
        leaseUntil: 1,
        expiresAt: Date.now() + 60_000,
      }),
      key,
    );
  });
});
