import { type Cart, ErrorCode } from '@cartkit/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DecodedCarts, SAVED_TEXT_MAX_CHARS } from '../src/decoded-carts.js';
import { keys } from '../src/documents.js';
import { createSqliteCartStorage } from '../src/index.js';
import { assertPackageBuilt, killFixtures, startFixture } from './support/fixtures.js';
import { openRaw } from './support/raw-database.js';
import { createTempDir } from './support/temp-dir.js';

const at = new Date(0).toISOString();
const cart = (version: number, quantity: number, id = 'c1'): Cart => ({
  id,
  version,
  lines: [
    {
      name: 'A',
      quantity,
      reservation: {
        status: 'failed',
        jobId: 'j1',
        idempotencyKey: 'k1',
        quantity,
        reservationId: null,
        attempts: 1,
        lastError: { code: 'RESERVATION_REFUSED', message: 'no' },
        requestedAt: at,
        updatedAt: at,
      },
      addedAt: at,
      updatedAt: at,
    },
  ],
  createdAt: at,
  updatedAt: at,
});

// getCart reads the stored text every time and decodes it only when it differs from
// the text it decoded last time for that cart.
describe('decoded-cart reuse on reads', () => {
  const dir = createTempDir();
  beforeAll(() => assertPackageBuilt());
  afterEach(() => killFixtures());
  afterAll(() => dir.remove());

  it('returns one deeply frozen cart for reads of an unchanged stored value', async () => {
    const storage = await createSqliteCartStorage({ path: dir.file() });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    const first = await storage.getCart('c1');
    const second = await storage.getCart('c1');
    expect(second).toBe(first);
    expect(first).toEqual(cart(1, 1));
    const line = first?.lines[0];
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first?.lines)).toBe(true);
    expect(Object.isFrozen(line)).toBe(true);
    expect(Object.isFrozen(line?.reservation)).toBe(true);
    expect(Object.isFrozen(line?.reservation?.lastError)).toBe(true);
    expect(() => {
      (line as { quantity: number }).quantity = 9;
    }).toThrow(TypeError);
    await storage.close();
  });

  it('reads a save of this process at once', async () => {
    const storage = await createSqliteCartStorage({ path: dir.file() });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    const before = await storage.getCart('c1');
    await storage.saveCart(cart(2, 5), { expectedVersion: 1 });
    const after = await storage.getCart('c1');
    expect(after).not.toBe(before);
    expect(after).toEqual(cart(2, 5));
    await storage.close();
  });

  it('keeps a cart it saved decoded: the next read shares the unchanged frozen lines, and later changes to the saved objects do not show', async () => {
    const storage = await createSqliteCartStorage({ path: dir.file() });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    const read = await storage.getCart('c1');
    if (read === undefined) throw new Error('no cart');
    const added = { ...cart(2, 2).lines[0], name: 'B' } as Cart['lines'][number];
    const next: Cart = { ...read, version: 2, lines: [...read.lines, added] };
    await storage.saveCart(next, { expectedVersion: 1 });
    (added as { quantity: number }).quantity = 99; // the caller's own object, not frozen
    const after = await storage.getCart('c1');
    expect(after?.lines[0]).toBe(read.lines[0]); // not decoded again
    expect(after?.lines[1]).toEqual({ ...added, quantity: 2 });
    expect(Object.isFrozen(after?.lines[1]?.reservation)).toBe(true);
    expect(Object.isFrozen(added)).toBe(false);
    await storage.close();
  });

  it('reads a saved cart as its JSON text says when the object holds what JSON drops', async () => {
    const storage = await createSqliteCartStorage({ path: dir.file() });
    const withUndefined = { ...cart(1, 1), note: undefined } as unknown as Cart;
    await storage.saveCart(withUndefined, { expectedVersion: 0 });
    const read = await storage.getCart('c1');
    expect(read).toEqual(cart(1, 1));
    expect(read !== undefined && 'note' in read).toBe(false);
    const withDate = { ...cart(2, 1), extra: new Date(0) } as unknown as Cart;
    await storage.saveCart(withDate, { expectedVersion: 1 });
    expect(await storage.getCart('c1')).toEqual({ ...cart(2, 1), extra: at });
    await storage.close();
  });

  it('reads what another process wrote to the file at once, never the cart decoded before', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    expect(await storage.getCart('c1')).toEqual(cart(1, 1));
    expect(await storage.getCart('c1')).toEqual(cart(1, 1));

    const other = startFixture('save-cart', [path]);
    await other.next('ready');
    other.send({ type: 'save', cart: cart(2, 7), expectedVersion: 1 });
    await other.next('saved');
    expect(await storage.getCart('c1')).toEqual(cart(2, 7));
    other.send({ type: 'save', cart: cart(3, 8), expectedVersion: 2 });
    await other.next('saved');
    expect(await storage.getCart('c1')).toEqual(cart(3, 8));
    other.send({ type: 'exit' });
    expect((await other.exited).code).toBe(0);
    await storage.close();
  });

  it('keeps a long cart it saved without its text; another connection rewriting it at the same version is still read', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    const long = (quantity: number): Cart => ({
      ...cart(1, quantity),
      lines: Array.from({ length: 400 }, (_, i) => ({
        ...cart(1, quantity).lines[0],
        name: `P${i}`,
      })) as Cart['lines'],
    });
    await storage.saveCart(long(1), { expectedVersion: 0 });
    const raw = openRaw(path);
    const [row] = await raw.query('SELECT value FROM cartkit WHERE key = ?', keys.cart('c1'));
    expect(String(row?.value).length).toBeGreaterThan(SAVED_TEXT_MAX_CHARS);
    expect(await storage.getCart('c1')).toEqual(long(1));
    await raw.put(keys.cart('c1'), String(row?.value).replaceAll('"quantity":1', '"quantity":3'));
    expect(await storage.getCart('c1')).toEqual(long(3));
    await raw.close();
    await storage.close();
  });

  it('compares the stored text, not the version: a value rewritten at the same version is re-read', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    expect(await storage.getCart('c1')).toEqual(cart(1, 1));
    const raw = openRaw(path);
    const [row] = await raw.query('SELECT value FROM cartkit WHERE key = ?', keys.cart('c1'));
    await raw.put(keys.cart('c1'), String(row?.value).replaceAll('"quantity":1', '"quantity":3'));
    expect(await storage.getCart('c1')).toEqual(cart(1, 3));
    // A damaged value is still refused after good reads of that cart.
    await raw.put(keys.cart('c1'), '{"value":');
    await expect(storage.getCart('c1')).rejects.toMatchObject({
      code: ErrorCode.STORAGE_CORRUPT_DATA,
    });
    await raw.close();
    await storage.close();
  });
});

describe('DecodedCarts bounds', () => {
  it('keeps at most its number of carts, evicting the least recently read', () => {
    const decoded = new DecodedCarts(2, 1_000_000);
    decoded.set('a', 'ta', cart(1, 1, 'a'));
    decoded.set('b', 'tb', cart(1, 1, 'b'));
    expect(decoded.get('a', 'ta')).toBeDefined(); // a is now the most recent
    decoded.set('c', 'tc', cart(1, 1, 'c'));
    expect(decoded.size).toBe(2);
    expect(decoded.get('b', 'tb')).toBeUndefined();
    expect(decoded.get('a', 'ta')).toEqual(cart(1, 1, 'a'));
    expect(decoded.get('c', 'tc')).toEqual(cart(1, 1, 'c'));
  });

  it('keeps at most its number of characters of text, and never a text longer than that', () => {
    const decoded = new DecodedCarts(100, 10);
    decoded.set('a', 'x'.repeat(6), cart(1, 1, 'a'));
    decoded.set('b', 'y'.repeat(6), cart(1, 1, 'b'));
    expect(decoded.size).toBe(1);
    expect(decoded.get('a', 'x'.repeat(6))).toBeUndefined();
    const big = decoded.set('c', 'z'.repeat(11), cart(1, 1, 'c'));
    expect(Object.isFrozen(big)).toBe(true);
    expect(decoded.get('c', 'z'.repeat(11))).toBeUndefined();
    expect(decoded.get('b', 'y'.repeat(6))).toBeDefined();
  });

  it('keeps at most 64 carts and 1,000,000 characters by default', () => {
    // Bounds that keep the cache's own memory small (its entries die young when many
    // carts are read in turn): a larger default fails here.
    const decoded = new DecodedCarts();
    for (let i = 0; i < 65; i++) decoded.set(`c${i}`, `t${i}`, cart(1, 1, `c${i}`));
    expect(decoded.size).toBe(64);
    expect(decoded.get('c0', 't0')).toBeUndefined();
    expect(decoded.get('c1', 't1')).toBeDefined();
    decoded.clear();
    decoded.set('a', 'x'.repeat(600_000), cart(1, 1, 'a'));
    decoded.set('b', 'y'.repeat(400_000), cart(1, 1, 'b'));
    expect(decoded.size).toBe(2);
    decoded.set('c', 'z', cart(1, 1, 'c'));
    expect(decoded.size).toBe(2);
    expect(decoded.get('a', 'x'.repeat(600_000))).toBeUndefined();
    expect(decoded.get('c', 'z')).toBeDefined();
  });

  it('moves the carts current at one snapshot to the next, except those written, and keeps a cart without text only by its snapshot', () => {
    const decoded = new DecodedCarts();
    decoded.set('a', 'ta', cart(1, 1, 'a'), 4);
    decoded.set('b', undefined, cart(1, 1, 'b'), 4);
    decoded.set('c', 'tc', cart(1, 1, 'c'), 3);
    decoded.set('w', 'tw', cart(1, 1, 'w'), 4);
    decoded.set('x', undefined, cart(1, 1, 'x')); // no text, no snapshot: not kept
    expect(decoded.size).toBe(4);
    decoded.advance(4, 5, new Set(['w']));
    expect(decoded.current('a', 5)).toEqual(cart(1, 1, 'a'));
    expect(decoded.current('b', 5)).toEqual(cart(1, 1, 'b'));
    expect(decoded.current('c', 5)).toBeUndefined(); // was not current at 4
    expect(decoded.current('w', 5)).toBeUndefined(); // written: what it held is old
    expect(decoded.current('a', 4)).toBeUndefined();
    // Without its text, a cart is not known by any text a read fetches.
    expect(decoded.get('b', 'tb')).toBeUndefined();
    expect(decoded.current('b', 5)).toBeUndefined();
  });

  it('forgets a cart whose stored text changed', () => {
    const decoded = new DecodedCarts();
    decoded.set('a', 'v1', cart(1, 1, 'a'));
    expect(decoded.get('a', 'v2')).toBeUndefined();
    expect(decoded.get('a', 'v1')).toBeUndefined();
    expect(decoded.size).toBe(0);
  });
});
