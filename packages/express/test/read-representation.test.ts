import { type Cart, freezeCart, MemoryCartStorage } from '@cartkit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { cartItemsPayload, toCartItems } from '../src/representation.js';
import { type CartApi, startCartApi } from './support/cart-api.js';

let api: CartApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

const at = new Date(0).toISOString();
const cart = (version: number, names: string[]): Cart => ({
  id: 'c1',
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

describe('the GET /items body, serialised once per cart object', () => {
  it('is exactly JSON.stringify of the representation', () => {
    const frozen = freezeCart(cart(3, ['A', 'Ünïcødé ✓', 'a "quoted" \\ name']));
    expect(cartItemsPayload(frozen).toString('utf8')).toBe(JSON.stringify(toCartItems(frozen)));
  });

  it('is reused for the same frozen cart object, never for another object', () => {
    const frozen = freezeCart(cart(1, ['A']));
    expect(cartItemsPayload(frozen)).toBe(cartItemsPayload(frozen));
    const next = freezeCart(cart(2, ['A', 'B']));
    expect(JSON.parse(cartItemsPayload(next).toString('utf8'))).toEqual(toCartItems(next));
  });

  it('is never cached for a cart that can still change (not deeply frozen)', () => {
    const open = cart(1, ['A']) as { lines: Array<{ quantity: number }> } & Cart;
    const first = cartItemsPayload(open);
    (open.lines[0] as { quantity: number }).quantity = 5;
    const second = cartItemsPayload(open);
    expect(second).not.toBe(first);
    expect(JSON.parse(second.toString('utf8')).items[0].quantity).toBe(5);

    // Frozen on the outside only: a line can still change, so not cached either.
    const shallow = Object.freeze({
      ...cart(1, ['A']),
      lines: Object.freeze([{ ...cart(1, ['A']).lines[0] }]),
    });
    expect(cartItemsPayload(shallow as Cart)).not.toBe(cartItemsPayload(shallow as Cart));
  });
});

describe('GET /items over HTTP with a store that hands out frozen carts', () => {
  it('answers every change with the new body and ETag, and unchanged reads with the same', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    const first = await api.get('/items');
    const again = await api.get('/items');
    expect(again.text).toBe(first.text);
    expect(again.headers.get('etag')).toBe('"1"');
    expect(first.body.items.map((i: { name: string }) => i.name)).toEqual(['Apple']);

    await api.post('/items', { name: 'Pear' });
    const changed = await api.get('/items');
    expect(changed.headers.get('etag')).toBe('"2"');
    expect(changed.body).toMatchObject({ version: 2 });
    expect(
      changed.body.items.map((i: { name: string; quantity: number }) => [i.name, i.quantity]),
    ).toEqual([
      ['Apple', 1],
      ['Pear', 1],
    ]);
    expect(changed.headers.get('content-length')).toBe(String(Buffer.byteLength(changed.text)));

    await api.request('PATCH', '/items/Apple', { json: { quantity: 4 } });
    const patched = await api.get('/items');
    expect(patched.body.items[0]).toMatchObject({ name: 'Apple', quantity: 4 });
    expect(patched.headers.get('etag')).toBe('"3"');
  });

  it('answers HEAD with the headers only and If-None-Match with 304, from the same cart', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    const full = await api.get('/items');
    const head = await api.request('HEAD', '/items');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(head.headers.get('content-length')).toBe(full.headers.get('content-length'));
    expect(head.headers.get('etag')).toBe('"1"');
    const notModified = await api.get('/items', { 'if-none-match': '"1"' });
    expect(notModified.status).toBe(304);
    expect(notModified.text).toBe('');
  });

  it('a store returning the same frozen object makes reads share it, and a write replaces it', async () => {
    const storage = new MemoryCartStorage();
    api = await startCartApi({ storage, cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    const one = await storage.getCart('default');
    expect(await storage.getCart('default')).toBe(one);
    expect(Object.isFrozen(one?.lines[0])).toBe(true);
    await api.post('/items', { name: 'Apple' });
    const two = await storage.getCart('default');
    expect(two).not.toBe(one);
    expect(two?.lines[0]?.quantity).toBe(2);
    expect(one?.lines[0]?.quantity).toBe(1);
  });
});
