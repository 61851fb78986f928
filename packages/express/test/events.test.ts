import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import {
  type Cart,
  type ChangeFeed,
  type ChangeFeedEvent,
  type ChangeSubscribeOptions,
  type ChangeSubscription,
  createCart,
  InProcessScheduler,
  MemoryCartStorage,
  MemoryChangeFeed,
  MemoryReserver,
} from '@cartkit/core';
import { FakeClock } from '@cartkit/testing';
import type { Request } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { type ResolveCartId, UnauthorizedError } from '../src/index.js';
import { type CartApi, startCartApi } from './support/cart-api.js';
import { recordingLogger } from './support/recording-logger.js';
import { openEventStream, openPausableEventStream, type SseFrame } from './support/sse-client.js';

let api: CartApi | undefined;
const streams: Array<{ close: () => void }> = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  await api?.close();
  api = undefined;
});

/** Opens `GET /events` on the API and keeps it for closing after the test. */
async function events(path = '/events', headers: Record<string, string> = {}) {
  if (api === undefined) throw new Error('no API started');
  const stream = await openEventStream(`${api.url}${path}`, headers);
  streams.push(stream);
  return stream;
}

const byId = (id: number) => (frame: SseFrame) => frame.id === String(id);

/** A change feed that counts its open subscriptions and tells when one closes (wraps a real one). */
class CountingFeed implements ChangeFeed {
  open = 0;
  /** Subscriptions ever opened. */
  opened = 0;
  readonly #closeWaiters: Array<() => void> = [];
  constructor(readonly inner: ChangeFeed) {}
  publish = (change: Parameters<ChangeFeed['publish']>[0]) => this.inner.publish(change);
  close = () => this.inner.close();
  subscribe(
    cartId: string,
    listener: (event: ChangeFeedEvent) => void,
    options?: ChangeSubscribeOptions,
  ): ChangeSubscription {
    const subscription = this.inner.subscribe(cartId, listener, options);
    this.open++;
    this.opened++;
    let closed = false;
    return {
      close: () => {
        subscription.close();
        if (closed) return;
        closed = true;
        this.open--;
        for (const wake of this.#closeWaiters.splice(0)) wake();
      },
    };
  }
  /** Resolves once no subscription is open. */
  async drained(): Promise<void> {
    while (this.open > 0) await new Promise<void>((resolve) => this.#closeWaiters.push(resolve));
  }
}

/** In-memory storage whose next `getCart` waits for a gate: a slow read on demand. */
class SlowReadStorage extends MemoryCartStorage {
  #gate: { reached: () => void; opened: Promise<void> } | undefined;
  holdNextRead(): { reached: Promise<void>; open: () => void } {
    let reached!: () => void;
    let open!: () => void;
    const reachedPromise = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    this.#gate = { reached, opened };
    return { reached: reachedPromise, open };
  }
  override async getCart(cartId: string): Promise<Cart | undefined> {
    const gate = this.#gate;
    if (gate !== undefined) {
      this.#gate = undefined;
      gate.reached();
      await gate.opened;
    }
    return super.getCart(cartId);
  }
}

describe('GET /events', () => {
  it('starts with the current version, then streams each change in version order', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    const stream = await events();
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(stream.headers.get('cache-control')).toBe('no-store');
    expect(stream.headers.get('x-accel-buffering')).toBe('no');
    const ready = await stream.parser.waitFor((f) => f.event === 'ready');
    expect(ready).toEqual({ event: 'ready', id: '1', data: { version: 1 } });

    await api.post('/items', { name: 'Pear', quantity: 2 });
    await api.request('PATCH', '/items/Apple', { json: { quantity: 3 } });
    await api.request('DELETE', '/items/Pear');
    await api.request('DELETE', '/items');
    await stream.parser.waitFor(byId(5));
    expect(stream.parser.events.map((f) => [f.event, f.id, f.data.kind, f.data.itemName])).toEqual([
      ['ready', '1', undefined, undefined],
      ['change', '2', 'item-added', 'Pear'],
      ['change', '3', 'item-updated', 'Apple'],
      ['change', '4', 'item-removed', 'Pear'],
      ['change', '5', 'cart-cleared', undefined],
    ]);
    const change = stream.parser.events[1];
    expect(change?.data).toEqual({
      version: 2,
      kind: 'item-added',
      itemName: 'Pear',
      at: expect.any(String),
    });
    expect(change?.data).not.toHaveProperty('cartId');
  });

  it('resumes after Last-Event-ID (or ?lastEventId=): the missed changes, in order', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    // A client followed the cart while these changes were made (the in-memory feed
    // keeps history for followed carts, and for a while after, for such resumes).
    const earlier = await events();
    await earlier.parser.waitFor((f) => f.event === 'ready');
    for (const name of ['A', 'B', 'C', 'D']) await api.post('/items', { name });

    const resumed = await events('/events', { 'last-event-id': '1' });
    await resumed.parser.waitFor(byId(4));
    expect(resumed.parser.events.map((f) => [f.event, f.id, f.data.version])).toEqual([
      ['ready', undefined, 4], // no id: the client keeps its Last-Event-ID until the changes
      ['change', '2', 2],
      ['change', '3', 3],
      ['change', '4', 4],
    ]);

    const byQuery = await events('/events?lastEventId=3');
    await byQuery.parser.waitFor(byId(4));
    expect(byQuery.parser.events.map((f) => f.id)).toEqual([undefined, '4']);

    // The header wins over the parameter (a browser reconnecting sends both).
    const both = await events('/events?lastEventId=0', { 'last-event-id': '2' });
    await both.parser.waitFor(byId(4));
    expect(both.parser.events.map((f) => f.id)).toEqual([undefined, '3', '4']);

    // Already up to date: ready, then live changes.
    const current = await events('/events', { 'last-event-id': '4' });
    await current.parser.waitFor((f) => f.event === 'ready');
    await api.post('/items', { name: 'E' });
    await current.parser.waitFor(byId(5));
    expect(current.parser.events.map((f) => [f.event, f.id])).toEqual([
      ['ready', undefined],
      ['change', '5'],
    ]);
  });

  it('sends resync (with the current version) when the feed cannot replay that far, then goes on', async () => {
    // Another process on the same storage wrote versions 1-3: this feed never saw them.
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    const other = await createCart({
      storage: api.storage,
      reserver: new MemoryReserver(),
      reserveOnAdd: false,
      scheduler: (deps) => new InProcessScheduler(deps),
    });
    try {
      for (const name of ['A', 'B', 'C']) await other.service.addItem('default', { name });
      const stream = await events('/events', { 'last-event-id': '1' });
      const resync = await stream.parser.waitFor((f) => f.event === 'resync');
      expect(resync).toEqual({
        event: 'resync',
        id: '3',
        data: { version: 3, reason: expect.any(String) },
      });
      await api.post('/items', { name: 'D' });
      await stream.parser.waitFor(byId(4));
      expect(stream.parser.events.map((f) => [f.event, f.id])).toEqual([
        ['ready', undefined],
        ['resync', '3'],
        ['change', '4'],
      ]);
    } finally {
      await other.close();
    }
  });

  it('turns a change it never saw (made through another process) into resync, never a silent skip', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    const other = await createCart({
      storage: api.storage,
      reserver: new MemoryReserver(),
      reserveOnAdd: false,
      scheduler: (deps) => new InProcessScheduler(deps),
    });
    try {
      await api.post('/items', { name: 'A' });
      const stream = await events();
      await stream.parser.waitFor(byId(1));
      await other.service.addItem('default', { name: 'B' }); // version 2, unseen here
      await api.post('/items', { name: 'C' }); // version 3
      const resync = await stream.parser.waitFor((f) => f.event === 'resync');
      expect(resync.id).toBe('3');
      expect(resync.data.version).toBe(3);
      await api.post('/items', { name: 'D' });
      await stream.parser.waitFor(byId(4));
      expect(stream.parser.events.map((f) => [f.event, f.id])).toEqual([
        ['ready', '1'],
        ['resync', '3'],
        ['change', '4'],
      ]);
    } finally {
      await other.close();
    }
  });

  it('answers a Last-Event-ID ahead of the cart with resync to the current version', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'A' });
    const stream = await events('/events', { 'last-event-id': '99' });
    const resync = await stream.parser.waitFor((f) => f.event === 'resync');
    expect(resync.id).toBe('1');
    expect(resync.data.version).toBe(1);
  });

  it("never shows one cart's changes on another cart's stream", async () => {
    const bearer: ResolveCartId = (req: Request) => {
      const match = /^Bearer ([a-z]+)-token$/.exec(req.get('authorization') ?? '');
      if (match === null) throw new UnauthorizedError('Unknown token.');
      return match[1];
    };
    api = await startCartApi({ router: { resolveCartId: bearer }, cart: { reserveOnAdd: false } });
    const alice = { authorization: 'Bearer alice-token' };
    const bob = { authorization: 'Bearer bob-token' };

    const anonymous = await api.get('/events');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('UNAUTHENTICATED');

    const aliceStream = await events('/events', alice);
    await aliceStream.parser.waitFor((f) => f.event === 'ready');
    // Bob follows his cart too (his stream will resume from 0 on the history kept for it).
    const bobEarlier = await events('/events', bob);
    await bobEarlier.parser.waitFor((f) => f.event === 'ready');
    for (const name of ['X', 'Y', 'Z']) await api.post('/items', { name }, bob);
    await api.post('/items', { name: 'Mine' }, alice);
    await aliceStream.parser.waitFor(byId(1));
    expect(aliceStream.parser.events.map((f) => [f.event, f.id, f.data.itemName])).toEqual([
      ['ready', '0', undefined],
      ['change', '1', 'Mine'],
    ]);
    // Bob resuming from 0 sees his own three, never Alice's.
    const bobStream = await events('/events', { ...bob, 'last-event-id': '0' });
    await bobStream.parser.waitFor(byId(3));
    expect(bobStream.parser.events.map((f) => f.data.itemName)).toEqual([undefined, 'X', 'Y', 'Z']);
  });

  it('frees the subscription when the client disconnects', async () => {
    const feed = new CountingFeed(new MemoryChangeFeed());
    api = await startCartApi({ cart: { reserveOnAdd: false, changeFeed: feed } });
    const first = await events();
    const second = await events('/events', { 'last-event-id': '0' });
    await first.parser.waitFor((f) => f.event === 'ready');
    await second.parser.waitFor((f) => f.event === 'ready');
    expect(feed.open).toBe(2);
    first.close();
    second.close();
    await feed.drained();
    expect(feed.open).toBe(0);
    // The cart still works and publishes to nobody.
    expect((await api.post('/items', { name: 'A' })).status).toBe(201);
  });

  it('opens no stream for a client that went away while its cart id was resolved', async () => {
    const feed = new CountingFeed(new MemoryChangeFeed());
    let hookReached!: () => void;
    const reached = new Promise<void>((resolve) => {
      hookReached = resolve;
    });
    let hookReturned!: () => void;
    const returned = new Promise<void>((resolve) => {
      hookReturned = resolve;
    });
    // An asynchronous hook (a token check) that finishes only after the client left.
    const resolveCartId: ResolveCartId = async (req) => {
      const closed = new Promise<void>((resolve) => req.res?.once('close', () => resolve()));
      hookReached();
      await closed;
      hookReturned();
      return 'alice';
    };
    api = await startCartApi({ router: { resolveCartId }, cart: { changeFeed: feed } });
    const { port, pathname } = new URL(api.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`GET ${pathname}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await reached;
    socket.destroy();
    await returned;
    await api.close(); // what the router did after the hook returned has run by now
    api = undefined;
    expect(feed.opened).toBe(0);
    expect(feed.open).toBe(0);
  });

  it('frees the subscription when the cart cannot be read, and answers with a problem', async () => {
    const feed = new CountingFeed(new MemoryChangeFeed());
    api = await startCartApi({ cart: { reserveOnAdd: false, changeFeed: feed } });
    await api.runtime.storage.close();
    const res = await api.get('/events');
    expect(res.status).toBe(503);
    expect(feed.open).toBe(0);
  });

  it('sends a heartbeat comment every heartbeatMs of the clock', async () => {
    const clock = new FakeClock();
    api = await startCartApi({ router: { clock, heartbeatMs: 10_000 } });
    const stream = await events();
    await stream.parser.waitFor((f) => f.event === 'ready');
    expect(stream.parser.frames.some((f) => f.event === 'comment')).toBe(false);
    await clock.advance(10_000);
    await stream.parser.waitFor((f) => f.event === 'comment');
    await clock.advance(10_000);
    const beats = await stream.parser.waitFor(
      (f) => f.event === 'comment',
      stream.parser.frames.findIndex((f) => f.event === 'comment') + 1,
    );
    expect(beats.event).toBe('comment');
    stream.close();
    await stream.parser.waitForEnd();
  });

  it('refuses a malformed Last-Event-ID with 400 INVALID_LAST_EVENT_ID', async () => {
    api = await startCartApi();
    for (const bad of ['abc', '-1', '1.5', '01', '+2', '1e3', '0x1', '99999999999999999999']) {
      const res = await api.request('GET', '/events', { headers: { 'last-event-id': bad } });
      expect(res.status, bad).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body.code).toBe('INVALID_LAST_EVENT_ID');
    }
    const query = await api.get('/events?lastEventId=x');
    expect(query.status).toBe(400);
    expect(query.body.code).toBe('INVALID_LAST_EVENT_ID');
    const twice = await api.get('/events?lastEventId=1&lastEventId=2');
    expect(twice.body.code).toBe('INVALID_LAST_EVENT_ID');
  });

  it('reads lastEventId from an absolute-form request target whose authority is no valid URL (400, not 500)', async () => {
    api = await startCartApi();
    const { hostname, port, pathname } = new URL(api.url);
    const mount = pathname.replace(/\/$/, '');
    // RFC 9112 allows `GET http://host:port/path`; port 99999 makes `new URL()` throw.
    const send = (path: string) =>
      new Promise<{ status: number | undefined; type: string | undefined; body: string }>(
        (resolve, reject) => {
          const req = httpRequest({ host: hostname, port, path, method: 'HEAD' });
          req.on('error', reject);
          req.on('response', (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () =>
              resolve({ status: res.statusCode, type: res.headers['content-type'], body }),
            );
          });
          req.end();
        },
      );
    const bad = await send(`http://x:99999${mount}/events?lastEventId=x`);
    expect(bad.status).toBe(400);
    expect(bad.type).toBe('application/problem+json');
    const good = await send(`http://x:99999${mount}/events?lastEventId=3`);
    expect(good.status).toBe(200);
    expect(good.type).toBe('text/event-stream; charset=utf-8');
  });

  it('answers HEAD and OPTIONS without streaming, other methods with 405', async () => {
    api = await startCartApi();
    const head = await api.request('HEAD', '/events');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect((await api.request('OPTIONS', '/events')).headers.get('allow')).toBe(
      'GET, HEAD, OPTIONS',
    );
    expect((await api.request('POST', '/events')).status).toBe(405);
  });

  it('is absent (404 ROUTE_NOT_FOUND, not documented) without a change feed', async () => {
    api = await startCartApi({ withoutEvents: true });
    const res = await api.get('/events');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('ROUTE_NOT_FOUND');
    expect(api.validator.document.paths).not.toHaveProperty('/events');
  });

  it('ends every stream when the shutdown signal aborts, and refuses new ones with 503', async () => {
    const feed = new CountingFeed(new MemoryChangeFeed());
    const shutdown = new AbortController();
    api = await startCartApi({
      cart: { changeFeed: feed },
      router: { shutdownSignal: shutdown.signal },
    });
    const a = await events();
    const b = await events();
    await a.parser.waitFor((f) => f.event === 'ready');
    await b.parser.waitFor((f) => f.event === 'ready');
    shutdown.abort();
    await a.parser.waitForEnd();
    await b.parser.waitForEnd();
    await feed.drained();
    const refused = await api.get('/events');
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('SHUTTING_DOWN');
    expect(refused.headers.get('retry-after')).toBe('1');
  });

  it('drops what a slow client cannot take (bounded queue) and sends one resync when it catches up', async () => {
    const logger = recordingLogger();
    api = await startCartApi({
      cart: { reserveOnAdd: false, limits: { maxNameLength: 4_000 } },
      router: { eventQueueLimit: 4, logger },
    });
    const service = api.runtime.service;
    // Long names make large events: the socket buffers fill after a few thousand changes.
    const name = 'n'.repeat(4_000);
    await service.addItem('default', { name });
    const { parser, response, close } = await openPausableEventStream(`${api.url}/events`);
    streams.push({ close });
    await parser.waitFor((f) => f.event === 'ready');
    response.pause(); // the client stops reading

    const dropped = () => logger.entries.some((e) => /reads too slowly/.test(e.message ?? ''));
    let changes = 0;
    while (!dropped()) {
      if (changes > 50_000) throw new Error('the server never saw the client fall behind');
      await service.setQuantity('default', name, (changes % 2) + 2);
      changes++;
    }
    // A few more while the client is still away: dropped too, not queued.
    for (let i = 0; i < 20; i++) await service.setQuantity('default', name, (i % 2) + 5);
    const final = (await service.getCart('default')).version;

    response.resume();
    const resync = await parser.waitFor((f) => f.event === 'resync');
    await parser.waitFor((f) => Number(f.id) === final);
    const received = parser.events;
    // Far fewer events than changes, yet nothing skipped silently: ids only ever go
    // up, by one between changes, and a gap is always announced by a resync.
    expect(received.length).toBeLessThan(changes);
    let last = Number(received[0]?.id);
    for (const frame of received.slice(1)) {
      const id = Number(frame.id);
      if (frame.event === 'change') expect(id).toBe(last + 1);
      else expect(frame.event).toBe('resync');
      expect(id).toBeGreaterThan(last);
      last = id;
    }
    expect(resync.data.version).toBeGreaterThan(1);
  }, 60_000);

  it('holds a bounded number of changes while it reads the cart, then resyncs instead', async () => {
    const storage = new SlowReadStorage();
    api = await startCartApi({ storage, cart: { reserveOnAdd: false } });
    const service = api.runtime.service;
    await service.addItem('default', { name: 'A' });
    const gate = storage.holdNextRead();
    const opening = events();
    await gate.reached; // subscribed; its version read is held
    // More changes than a stream holds while it starts.
    for (let i = 0; i < 1_100; i++) await service.setQuantity('default', 'A', (i % 2) + 2);
    gate.open();
    const stream = await opening;
    const resync = await stream.parser.waitFor((f) => f.event === 'resync');
    expect(resync.id).toBe('1101');
    expect(stream.parser.events.map((f) => [f.event, f.id])).toEqual([
      ['ready', '1101'],
      ['resync', '1101'],
    ]);
    await service.setQuantity('default', 'A', 7);
    await stream.parser.waitFor(byId(1102));
    expect(stream.parser.events.map((f) => f.event)).toEqual(['ready', 'resync', 'change']);
  });
});
