import { MemoryCartStorage } from '@cartkit/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ApiRequest, type CartApi, startCartApi } from './support/cart-api.js';

/** What the scheduler calls in the background (the outbox), not on behalf of a request. */
const BACKGROUND = new Set(['claim', 'complete', 'release', 'nextDueAt', 'close']);

/** A memory storage that counts the calls requests make (cart reads and writes, idempotency records). */
function countingStorage() {
  const target = new MemoryCartStorage();
  const calls: string[] = [];
  const storage = new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (!BACKGROUND.has(String(property))) calls.push(String(property));
        return value.apply(object, args); // on the storage itself: it has private fields
      };
    },
  });
  return { storage, calls };
}

describe('input is refused before the cart is read', () => {
  const counted = countingStorage();
  let api: CartApi;
  beforeAll(async () => {
    api = await startCartApi({ storage: counted.storage, cart: { limits: { maxLines: 2 } } });
    expect((await api.post('/items', { name: 'Apple' })).status).toBe(201);
    expect((await api.post('/items', { name: 'Banana' })).status).toBe(201);
    await api.runtime.scheduler.whenIdle();
  });
  afterAll(async () => {
    await api.close();
  });
  beforeEach(() => {
    counted.calls.length = 0;
  });

  const json = (value: unknown, headers: Record<string, string> = {}): ApiRequest => ({
    json: value,
    headers,
  });
  const anyVersion = { 'if-match': '*' };
  const key = { 'idempotency-key': 'k-1' };

  it.each<[string, string, string, ApiRequest | undefined, string]>([
    ['a blank name', 'POST', '/items', json({ name: '   ' }), 'INVALID_ITEM_NAME'],
    ['an invisible name', 'POST', '/items', json({ name: '\u200b' }), 'INVALID_ITEM_NAME'],
    ['a long name', 'POST', '/items', json({ name: 'x'.repeat(201) }), 'INVALID_ITEM_NAME'],
    ['a control character', 'POST', '/items', json({ name: 'a\u0007' }), 'INVALID_ITEM_NAME'],
    ['a blank name with a key', 'POST', '/items', json({ name: ' ' }, key), 'INVALID_ITEM_NAME'],
    [
      'a blank name, If-Match: *',
      'POST',
      '/reserve',
      json({ name: ' ' }, anyVersion),
      'INVALID_ITEM_NAME',
    ],
    ['a bad quantity', 'POST', '/items', json({ name: 'Pear', quantity: 0 }), 'INVALID_QUANTITY'],
    [
      'a bad URL name, If-Match: *',
      'PATCH',
      '/items/%20',
      json({ quantity: 2 }, anyVersion),
      'INVALID_ITEM_NAME',
    ],
    [
      'a bad URL name on DELETE',
      'DELETE',
      '/items/%E2%80%8B',
      { headers: anyVersion },
      'INVALID_ITEM_NAME',
    ],
    ['a bad URL name on GET', 'GET', '/items/%20', undefined, 'INVALID_ITEM_NAME'],
    [
      'a missing body',
      'POST',
      '/items',
      { headers: { 'content-type': 'application/json' } },
      'MISSING_BODY',
    ],
  ])('%s: %s %s touches no storage', async (_title, method, path, request, code) => {
    const res = await api.request(method, path, request);
    expect([res.status, res.body.code]).toEqual([400, code]);
    expect(counted.calls).toEqual([]);
  });

  it('an add to a cart at its line limit reads the cart once and writes nothing', async () => {
    const res = await api.post('/items', { name: 'Cherry' });
    expect([res.status, res.body.code]).toEqual([400, 'CART_LINE_LIMIT_EXCEEDED']);
    expect(counted.calls).toEqual(['getCart']);
  });
});
