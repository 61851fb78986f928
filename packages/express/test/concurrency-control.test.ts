import { afterEach, describe, expect, it } from 'vitest';
import { type CartApi, startCartApi } from './support/cart-api.js';
import { GatedStorage } from './support/gated-storage.js';

let api: CartApi;
afterEach(async () => {
  await api?.close();
});

describe('ETag and If-Match', () => {
  it('tags every cart response with the cart version', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    expect((await api.get('/items')).headers.get('etag')).toBe('"0"');
    expect((await api.post('/items', { name: 'Apple' })).headers.get('etag')).toBe('"1"');
    expect((await api.get('/items/Apple')).headers.get('etag')).toBe('"1"');
    const patched = await api.request('PATCH', '/items/Apple', { json: { quantity: 4 } });
    expect(patched.headers.get('etag')).toBe('"2"');
    expect(patched.body.version).toBe(2);
    const removed = await api.request('DELETE', '/items/Apple');
    expect(removed.status).toBe(204);
    expect(removed.headers.get('etag')).toBe('"3"');
    expect(removed.text).toBe('');
  });

  it('does not require If-Match (no 428)', async () => {
    api = await startCartApi();
    expect((await api.post('/items', { name: 'Apple' })).status).toBe(201);
    expect((await api.request('PATCH', '/items/Apple', { json: { quantity: 2 } })).status).toBe(
      200,
    );
    expect((await api.post('/reserve', { name: 'Apple' })).status).toBe(200);
    expect((await api.request('DELETE', '/items/Apple')).status).toBe(204);
    expect((await api.request('DELETE', '/items')).status).toBe(204);
  });

  it('writes when If-Match names the current version and refuses a stale one with 412', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    const first = await api.post('/items', { name: 'Apple' }, { 'if-match': '"0"' });
    expect(first.status).toBe(201);
    const etag = first.headers.get('etag') ?? '';

    const changed = await api.request('PATCH', '/items/Apple', {
      json: { quantity: 3 },
      headers: { 'if-match': etag },
    });
    expect(changed.status).toBe(200);
    const stored = await api.stored();

    for (const [method, path, json] of [
      ['POST', '/items', { name: 'Pear' }],
      ['PATCH', '/items/Apple', { quantity: 9 }],
      ['DELETE', '/items/Apple', undefined],
      ['DELETE', '/items', undefined],
      ['POST', '/reserve', { name: 'Apple' }],
    ] as const) {
      const res = await api.request(method, path, {
        ...(json === undefined ? {} : { json }),
        headers: { 'if-match': etag },
      });
      expect({ method, path, status: res.status, code: res.body.code }).toEqual({
        method,
        path,
        status: 412,
        code: 'VERSION_MISMATCH',
      });
      expect(res.body.currentVersion).toBe(2);
    }
    expect(await api.stored()).toEqual(stored);
  });

  it('accepts a list of entity tags that includes the current version', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    const res = await api.post('/items', { name: 'Pear' }, { 'if-match': '"7", W/"1", "1"' });
    expect(res.status).toBe(201);
    const stale = await api.post('/items', { name: 'Fig' }, { 'if-match': '"7", "1"' });
    expect(stale.status).toBe(412);
  });

  it('checks an If-Match list in the write itself, on the cart as stored: a change in between neither slips past it nor fails it', async () => {
    const storage = new GatedStorage();
    // Tells when a write reached the service (which queues it behind the save in flight
    // in the same call), so the order below is made by events, not timing.
    let writes = 0;
    const waiting: Array<{ count: number; resolve: () => void }> = [];
    const writesReached = (count: number) =>
      new Promise<void>((resolve) => {
        if (writes >= count) resolve();
        else waiting.push({ count, resolve });
      });
    api = await startCartApi({
      storage,
      cart: { reserveOnAdd: false },
      wrapService: (service) =>
        new Proxy(service, {
          get(target, property) {
            const value = Reflect.get(target, property, target);
            if (typeof value !== 'function') return value;
            return (...args: unknown[]) => {
              const result = value.apply(target, args);
              if (property !== 'getCart' && property !== 'getItem') {
                writes++;
                for (const waiter of waiting.filter((w) => w.count <= writes)) {
                  waiting.splice(waiting.indexOf(waiter), 1);
                  waiter.resolve();
                }
              }
              return result;
            };
          },
        }),
    });
    await api.post('/items', { name: 'Apple' });
    const before = writes;
    // Another client's write is being saved (version 2) when these requests come: a
    // client that accepts versions 1 and 2 must succeed on 2; one that accepts 1 and 7
    // must fail, and its change must not land on top of version 2.
    const gate = storage.holdNextSave();
    const other = api.post('/items', { name: 'Pear' });
    await gate.reached;
    const accepting = api.request('PATCH', '/items/Apple', {
      json: { quantity: 5 },
      headers: { 'if-match': '"1", "2"' },
    });
    await writesReached(before + 2);
    const refusing = api.request('PATCH', '/items/Apple', {
      json: { quantity: 9 },
      headers: { 'if-match': '"1", "7"' },
    });
    await writesReached(before + 3);
    gate.open();
    expect((await other).status).toBe(201);
    const accepted = await accepting;
    expect(accepted.status).toBe(200);
    expect(accepted.headers.get('etag')).toBe('"3"');
    const refused = await refusing;
    expect(refused.status).toBe(412);
    expect(refused.body).toMatchObject({ code: 'VERSION_MISMATCH', currentVersion: 3 });
    const stored = await api.stored();
    expect(stored.version).toBe(3);
    const lines = stored.lines as Array<{ name: string; quantity: number }>;
    expect(lines.map((l) => [l.name, l.quantity])).toEqual([
      ['Apple', 5],
      ['Pear', 1],
    ]);
  });

  it('lets as many concurrent writers win as the versions an If-Match list names, one after the other', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api.request('PATCH', '/items/Apple', {
          json: { quantity: i + 2 },
          headers: { 'if-match': '"1", "2"' },
        }),
      ),
    );
    const won = results.filter((r) => r.status === 200);
    expect(won.map((r) => r.headers.get('etag')).sort()).toEqual(['"2"', '"3"']);
    expect(results.filter((r) => r.status === 412)).toHaveLength(18);
    const stored = await api.stored();
    expect(stored.version).toBe(3);
    // No lost update: the cart holds the answer of the write that made version 3.
    const last = won.find((r) => r.headers.get('etag') === '"3"');
    const [line] = stored.lines as Array<{ quantity: number }>;
    const lastBody = last?.body as { item: { quantity: number } } | undefined;
    expect(line?.quantity).toBe(lastBody?.item.quantity);
  });

  it('treats If-Match: * as "the cart exists"', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    const before = await api.post('/items', { name: 'Apple' }, { 'if-match': '*' });
    expect(before.status).toBe(412);
    expect(before.body.code).toBe('VERSION_MISMATCH');
    await api.post('/items', { name: 'Apple' });
    expect((await api.post('/items', { name: 'Pear' }, { 'if-match': '*' })).status).toBe(201);
  });

  it('lets exactly one of many writers holding the same ETag win', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api.request('PATCH', '/items/Apple', {
          json: { quantity: i + 2 },
          headers: { 'if-match': '"1"' },
        }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(19);
    expect((await api.stored()).version).toBe(2);
  });

  it('answers 304 to If-None-Match while the cart is unchanged', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    const unchanged = await api.get('/items', { 'if-none-match': '"1"' });
    expect(unchanged.status).toBe(304);
    expect(unchanged.headers.get('etag')).toBe('"1"');
    expect(unchanged.text).toBe('');
    expect((await api.get('/items/Apple', { 'if-none-match': 'W/"1"' })).status).toBe(304);
    await api.post('/items', { name: 'Apple' });
    expect((await api.get('/items', { 'if-none-match': '"1"' })).status).toBe(200);
    expect((await api.get('/items', { 'if-none-match': 'garbage' })).status).toBe(200);
  });
});

describe('concurrent writers', () => {
  it('loses no update: 200 concurrent adds of one name end at quantity 200', async () => {
    api = await startCartApi();
    const results = await Promise.all(
      Array.from({ length: 200 }, () => api.post('/items', { name: 'Apple' })),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    const versions = new Set(results.map((r) => r.headers.get('etag')));
    expect(versions.size).toBe(200);
    const quantities = results.map((r) => r.body.item.quantity).sort((a, b) => a - b);
    expect(quantities).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));

    await api.runtime.scheduler.whenIdle();
    const listed = await api.get('/items');
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0]).toMatchObject({ name: 'Apple', quantity: 200 });
    expect(listed.body.items[0].reservation).toMatchObject({ status: 'reserved', quantity: 200 });
  });
});

describe('writes combined into one save', () => {
  it('answers each combined write with its item as it is at the version its ETag names', async () => {
    const storage = new GatedStorage();
    api = await startCartApi({ storage, cart: { reserveOnAdd: false } });
    const service = api.runtime.service;
    // Knows when the writes have reached the service (and so queued behind the save in flight).
    let calls = 0;
    let queued!: () => void;
    const allQueued = new Promise<void>((resolve) => {
      queued = resolve;
    });
    for (const method of ['addItem', 'setQuantity'] as const) {
      const original = service[method].bind(service) as (...args: unknown[]) => Promise<unknown>;
      Object.assign(service, {
        [method]: (...args: unknown[]) => {
          const written = original(...args);
          if (++calls === 4) queued(); // the first add, then the three queued
          return written;
        },
      });
    }
    const gate = storage.holdNextSave();
    const first = api.post('/items', { name: 'Apple' });
    await gate.reached;
    // Three writes to Apple queued behind the first save: saved together as version 2.
    const add = api.post('/items', { name: 'Apple', quantity: 2 });
    const patch = api.request('PATCH', '/items/Apple', { json: { quantity: 10 } });
    const addMore = api.post('/items', { name: 'Apple', quantity: 5 });
    await allQueued;
    gate.open();
    expect((await first).status).toBe(201);
    const answers = await Promise.all([add, patch, addMore]);
    for (const answer of answers) {
      const { version, item } = answer.body;
      expect(answer.headers.get('etag')).toBe(`"${version}"`);
      // The client may cache this item under this ETag: a conditional GET answers 304.
      const current = await api.get(`/items/${item.name}`);
      expect(current.headers.get('etag')).toBe(`"${version}"`);
      expect(item).toEqual(current.body.item);
    }
  });
});
