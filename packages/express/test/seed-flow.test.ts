import { MemoryReserver } from '@cartkit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type CartApi, startCartApi } from './support/cart-api.js';
import { GatedReserver } from './support/gated-reserver.js';

let api: CartApi;
afterEach(async () => {
  await api?.close();
});

describe('the seed endpoints', () => {
  it('lists an empty cart at version 0 before anything was written', async () => {
    api = await startCartApi();
    const res = await api.get('/items');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [], version: 0 });
    expect(res.headers.get('etag')).toBe('"0"');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('private, no-cache');
  });

  it('adds an item, lists it, and reserves it in the background', async () => {
    api = await startCartApi();
    const added = await api.post('/items', { name: 'Product1', quantity: 2 });
    expect(added.status).toBe(201);
    expect(added.headers.get('location')).toBe('/cart/items/Product1');
    expect(added.headers.get('etag')).toBe('"1"');
    expect(added.body).toMatchObject({ item: { name: 'Product1', quantity: 2 }, version: 1 });
    expect(added.body.item.reservation).toMatchObject({ status: 'pending', id: null, attempts: 0 });

    await api.runtime.scheduler.whenIdle();
    const listed = await api.get('/items');
    expect(listed.status).toBe(200);
    expect(listed.body.items).toHaveLength(1);
    const [item] = listed.body.items;
    expect(item).toMatchObject({ name: 'Product1', quantity: 2 });
    expect(item.reservation).toMatchObject({
      status: 'reserved',
      quantity: 2,
      attempts: 1,
      lastError: null,
    });
    expect(item.reservation.id).toBe(api.reserver.held()[0]?.reservationId);
    expect(listed.headers.get('etag')).toBe(`"${listed.body.version}"`);
  });

  it('defaults the quantity to 1 and adds to an existing line instead of duplicating it', async () => {
    api = await startCartApi();
    expect((await api.post('/items', { name: 'Mug' })).body.item.quantity).toBe(1);
    expect((await api.post('/items', { name: ' Mug ', quantity: 3 })).body.item.quantity).toBe(4);
    const listed = await api.get('/items');
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0]).toMatchObject({ name: 'Mug', quantity: 4 });
  });

  it('reserves on request: 202 when a job starts, 200 while pending or reserved, 404 when absent', async () => {
    const reserver = new GatedReserver();
    api = await startCartApi({ reserver, cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Lamp' });
    expect((await api.get('/items/Lamp')).body.item.reservation).toBeNull();
    reserver.close(); // the job stays pending until the reserver opens

    const started = await api.post('/reserve', { name: 'Lamp' });
    expect(started.status).toBe(202);
    expect(started.headers.get('location')).toBe('/cart/items/Lamp');
    expect(started.body).toMatchObject({ name: 'Lamp', reservation: { status: 'pending' } });
    const again = await api.post('/reserve', { name: 'Lamp' });
    expect(again.status).toBe(200);
    expect(again.body.reservation.status).toBe('pending');

    reserver.open();
    await api.runtime.scheduler.whenIdle();
    const done = await api.post('/reserve', { name: 'Lamp' });
    expect(done.status).toBe(200);
    expect(done.body.reservation).toMatchObject({ status: 'reserved', attempts: 1 });
    expect(api.reserver.distinctReservations).toBe(1);

    const missing = await api.post('/reserve', { name: 'Sofa' });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('ITEM_NOT_FOUND');
  });

  it('shows a failed reservation and starts a new job when asked again', async () => {
    api = await startCartApi({
      reserver: new MemoryReserver({ refuse: (name) => name === 'Ghost' }),
    });
    await api.post('/items', { name: 'Ghost' });
    await api.runtime.scheduler.whenIdle();
    const failed = (await api.get('/items/Ghost')).body.item.reservation;
    expect(failed).toMatchObject({ status: 'failed', id: null, attempts: 1 });
    expect(failed.lastError).toMatchObject({
      code: 'RESERVATION_REFUSED',
      message: expect.any(String),
    });

    const retried = await api.post('/reserve', { name: 'Ghost' });
    expect(retried.status).toBe(202);
    expect(retried.body.reservation).toMatchObject({
      status: 'pending',
      attempts: 0,
      lastError: null,
    });
  });
});

describe('the item endpoints', () => {
  it('reads, changes and removes one item, releasing its reservation', async () => {
    api = await startCartApi();
    await api.post('/items', { name: 'Chair', quantity: 2 });
    await api.runtime.scheduler.whenIdle();

    const read = await api.get('/items/Chair');
    expect(read.status).toBe(200);
    expect(read.body.item).toMatchObject({
      name: 'Chair',
      quantity: 2,
      reservation: { status: 'reserved' },
    });

    const changed = await api.request('PATCH', '/items/Chair', { json: { quantity: 5 } });
    expect(changed.status).toBe(200);
    expect(changed.body.item).toMatchObject({
      quantity: 5,
      reservation: { status: 'pending', quantity: 5 },
    });
    await api.runtime.scheduler.whenIdle();
    expect(api.reserver.held()).toMatchObject([{ name: 'Chair', quantity: 5 }]);

    const merge = await api.request('PATCH', '/items/Chair', {
      body: '{"quantity":6}',
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(merge.status).toBe(200);
    expect(merge.body.item.quantity).toBe(6);
    await api.runtime.scheduler.whenIdle();

    const removed = await api.request('DELETE', '/items/Chair');
    expect(removed.status).toBe(204);
    await api.runtime.scheduler.whenIdle();
    expect(api.reserver.held()).toEqual([]);
    expect((await api.get('/items/Chair')).status).toBe(404);
  });

  it('empties the cart', async () => {
    api = await startCartApi();
    await api.post('/items', { name: 'A' });
    await api.post('/items', { name: 'B' });
    await api.runtime.scheduler.whenIdle();
    const cleared = await api.request('DELETE', '/items');
    expect(cleared.status).toBe(204);
    await api.runtime.scheduler.whenIdle();
    expect((await api.get('/items')).body.items).toEqual([]);
    expect(api.reserver.held()).toEqual([]);
    const again = await api.request('DELETE', '/items');
    expect(again.status).toBe(204);
    expect(again.headers.get('etag')).toBe(cleared.headers.get('etag'));
  });

  it('addresses names with URL-encoding and core name rules (trimmed, NFC)', async () => {
    api = await startCartApi();
    const added = await api.post('/items', { name: 'Blue Mug / Large ☕' });
    expect(added.headers.get('location')).toBe(
      `/cart/items/${encodeURIComponent('Blue Mug / Large ☕')}`,
    );
    const read = await api.get(`/items/${encodeURIComponent('Blue Mug / Large ☕')}`);
    expect(read.status).toBe(200);
    expect(read.body.item.name).toBe('Blue Mug / Large ☕');

    await api.post('/items', { name: 'Cafe\u0301' }); // decomposed é
    const composed = await api.get(`/items/${encodeURIComponent(' Caf\u00e9 ')}`);
    expect(composed.status).toBe(200);
    expect(composed.body.item.name).toBe('Caf\u00e9');
  });

  it('answers HEAD like GET without a body, and OPTIONS with Allow', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    const head = await api.request('HEAD', '/items');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(head.headers.get('etag')).toBe('"1"');
    const options = await api.request('OPTIONS', '/reserve');
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('POST, OPTIONS');
  });
});
