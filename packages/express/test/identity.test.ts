import { ErrorCode, ValidationError } from '@cartkit/core';
import type { Request } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { type ResolveCartId, UnauthorizedError } from '../src/index.js';
import { type CartApi, startCartApi } from './support/cart-api.js';
import { recordingLogger } from './support/recording-logger.js';

let api: CartApi;
afterEach(async () => {
  await api?.close();
});

/** A bearer-token resolver: `Bearer <user>-token` acts on `<user>`'s cart. */
const bearer: ResolveCartId = (req: Request) => {
  const header = req.get('authorization');
  if (header === undefined) return undefined;
  const match = /^Bearer ([a-z]+)-token$/.exec(header);
  if (match === null)
    throw new UnauthorizedError('Unknown token.', { challenge: 'Bearer error="invalid_token"' });
  return match[1];
};
const alice = { authorization: 'Bearer alice-token' };
const bob = { authorization: 'Bearer bob-token' };

describe('cart resolution', () => {
  it('serves one shared cart by default', async () => {
    api = await startCartApi();
    await api.post('/items', { name: 'Apple' });
    expect((await api.get('/items')).body.items).toHaveLength(1);
    expect((await api.stored('default')).lines).toHaveLength(1);
  });

  it('answers 401 when the hook finds no identity, with WWW-Authenticate', async () => {
    api = await startCartApi({
      router: { resolveCartId: bearer, authChallenge: 'Bearer realm="shop"' },
    });
    const anonymous = await api.post('/items', { name: 'Apple' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('UNAUTHENTICATED');
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="shop"');
    const wrong = await api.get('/items', { authorization: 'Bearer ???' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.detail).toBe('Unknown token.');
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect((await api.request('DELETE', '/items')).status).toBe(401);
    expect((await api.stored('alice')).version).toBe(0);
  });

  it('keeps two identities apart: no reading, changing or reserving in the other cart', async () => {
    api = await startCartApi({ router: { resolveCartId: bearer }, cart: { reserveOnAdd: false } });
    const added = await api.post(
      '/items',
      { name: 'Apple', quantity: 2 },
      { ...alice, 'idempotency-key': 'shared-key' },
    );
    expect(added.status).toBe(201);
    const aliceCart = await api.stored('alice');

    expect((await api.get('/items', bob)).body).toEqual({ items: [], version: 0 });
    expect((await api.get('/items/Apple', bob)).status).toBe(404);
    expect(
      (await api.request('PATCH', '/items/Apple', { json: { quantity: 9 }, headers: bob })).status,
    ).toBe(404);
    expect((await api.request('DELETE', '/items/Apple', { headers: bob })).status).toBe(404);
    expect((await api.post('/reserve', { name: 'Apple' }, bob)).status).toBe(404);
    expect((await api.request('DELETE', '/items', { headers: bob })).status).toBe(204);
    // Bob's If-Match cannot address Alice's version either: it is checked against his cart.
    expect((await api.post('/items', { name: 'Pear' }, { ...bob, 'if-match': '"1"' })).status).toBe(
      412,
    );

    // The same Idempotency-Key and body from Bob is Bob's own first request, not a replay.
    const bobs = await api.post(
      '/items',
      { name: 'Apple', quantity: 2 },
      { ...bob, 'idempotency-key': 'shared-key' },
    );
    expect(bobs.status).toBe(201);
    expect(bobs.headers.get('idempotent-replayed')).toBeNull();
    expect(bobs.body.version).toBe(1);
    expect(bobs.headers.get('location')).toBe('/cart/items/Apple');

    expect(await api.stored('alice')).toEqual(aliceCart);
    expect((await api.get('/items', alice)).body.items).toMatchObject([
      { name: 'Apple', quantity: 2 },
    ]);
    expect((await api.get('/items', bob)).body.items).toMatchObject([
      { name: 'Apple', quantity: 2 },
    ]);
    // Alice's replay still works and is hers.
    const replay = await api.post(
      '/items',
      { name: 'Apple', quantity: 2 },
      { ...alice, 'idempotency-key': 'shared-key' },
    );
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await api.stored('alice')).toEqual(aliceCart);
  });

  it('keeps carts apart with a header resolver too (X-Cart-Id)', async () => {
    api = await startCartApi({ router: { resolveCartId: (req) => req.get('x-cart-id') } });
    await api.post('/items', { name: 'Apple' }, { 'x-cart-id': 'one' });
    expect((await api.get('/items', { 'x-cart-id': 'two' })).body.items).toEqual([]);
    expect((await api.get('/items', { 'x-cart-id': 'one' })).body.items).toHaveLength(1);
  });

  it('answers 400 INVALID_CART_ID when the hook returns an id core refuses', async () => {
    api = await startCartApi({ router: { resolveCartId: (req) => req.get('x-cart-id') } });
    const res = await api.get('/items', { 'x-cart-id': 'x'.repeat(300) });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe(ErrorCode.INVALID_CART_ID);
  });

  it('accepts numeric user ids, as the README snippet `(req) => req.user?.id` returns them', async () => {
    interface WithUser {
      user?: { id: number };
    }
    api = await startCartApi({
      router: {
        resolveCartId: (req) => {
          const header = req.get('x-user');
          if (header !== undefined) (req as WithUser).user = { id: Number(header) };
          return (req as WithUser).user?.id;
        },
      },
    });
    expect((await api.post('/items', { name: 'Apple' }, { 'x-user': '42' })).status).toBe(201);
    expect((await api.stored('42')).lines).toHaveLength(1);
    expect((await api.get('/items', { 'x-user': '7' })).body.items).toEqual([]);
    expect((await api.get('/items', { 'x-user': '-3' })).status).toBe(200);
    expect((await api.get('/items')).status).toBe(401);
    for (const [header, shown] of [
      ['1.5', 'the number 1.5'],
      ['NaN', 'the number NaN'],
      ['Infinity', 'the number Infinity'],
      ['1e300', 'the number 1e+300'],
    ]) {
      const res = await api.get('/items', { 'x-user': header as string });
      expect(res.status, header).toBe(400);
      expect(res.body.code).toBe(ErrorCode.INVALID_CART_ID);
      expect(res.body.detail).toBe(
        `The cart id from resolveCartId must be a string or a safe integer, not ${shown}.`,
      );
    }
  });

  it('says what was wrong with a cart id: its type, emptiness or length', async () => {
    let returned: unknown;
    api = await startCartApi({ router: { resolveCartId: () => returned as string } });
    const detailFor = async (value: unknown) => {
      returned = value;
      const res = await api.get('/items');
      expect(res.status).toBe(400);
      expect(res.body.code).toBe(ErrorCode.INVALID_CART_ID);
      return res.body.detail as string;
    };
    expect(await detailFor({ id: 1 })).toMatch(/not an object\.$/);
    expect(await detailFor(true)).toMatch(/not the boolean true\.$/);
    expect(await detailFor('')).toBe('Cart id must not be empty.');
    expect(await detailFor('x'.repeat(300))).toBe(
      'Cart id must be at most 256 characters, not 300.',
    );
  });

  it('answers 400 when the hook throws a ValidationError', async () => {
    api = await startCartApi({
      router: {
        resolveCartId: () => {
          throw new ValidationError('INVALID_SESSION', 'The session cookie is malformed.');
        },
      },
    });
    const res = await api.get('/items');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      code: 'INVALID_SESSION',
      detail: 'The session cookie is malformed.',
    });
  });

  it('answers a generic 500 when the hook fails unexpectedly, and logs the error', async () => {
    const logger = recordingLogger();
    const secret = new Error('connection to session store at 10.0.0.7 refused');
    api = await startCartApi({
      router: {
        logger,
        resolveCartId: async () => {
          throw secret;
        },
      },
    });
    const res = await api.post('/items', { name: 'Apple' });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'An unexpected error occurred.',
      code: 'INTERNAL_ERROR',
    });
    expect(res.text).not.toContain('10.0.0.7');
    const errors = logger.entries.filter((e) => e.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.fields).toMatchObject({
      err: secret,
      status: 500,
      method: 'POST',
      url: '/cart/items',
    });
  });
});
