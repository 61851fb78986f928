import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CartStorage, createCart, MemoryReserver } from '@cartkit/core';
import { createSqliteCartStorage } from '@cartkit/storage-sqlite';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';

// Concurrent POST /items to ONE cart through the real express router on SQLite: the
// adds queued behind a save in flight are combined into one save (fewer saves than
// requests), yet the total is exact and every idempotent request replays its own answer.

let dir: string;
const closers: Array<() => Promise<void>> = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cartkit-combined-'));
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves when `count` calls were made; `calls()` says how many so far. */
function callCounter() {
  let count = 0;
  const waiting: Array<{ count: number; resolve: () => void }> = [];
  return {
    called() {
      count++;
      for (const waiter of waiting.filter((w) => w.count <= count)) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve();
      }
    },
    reached: (wanted: number) =>
      new Promise<void>((resolve) => {
        if (count >= wanted) resolve();
        else waiting.push({ count: wanted, resolve });
      }),
  };
}

async function serve() {
  const sqlite = await createSqliteCartStorage({ path: join(dir, 'cart.db') });
  let saves = 0;
  let held: { reached: () => void; release: Promise<void> } | undefined;
  // The SQLite storage, counting cart saves and able to hold the next one (every
  // other call goes straight to it).
  const storage = new Proxy(sqlite, {
    get(target, property) {
      if (property === 'saveCart') {
        return async (...args: Parameters<CartStorage['saveCart']>) => {
          saves++;
          const gate = held;
          held = undefined;
          if (gate !== undefined) {
            gate.reached();
            await gate.release;
          }
          return target.saveCart(...args);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as CartStorage;
  /** Holds the next cart save until `release()`; `reached` settles once it waits. */
  const holdNextSave = () => {
    let release = () => {};
    let reached = () => {};
    const reachedPromise = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const releasePromise = new Promise<void>((resolve) => {
      release = resolve;
    });
    held = { reached, release: releasePromise };
    return { reached: reachedPromise, release };
  };
  const reserver = new MemoryReserver();
  const cart = await createCart({ storage, reserver });
  // The service, telling when a write reached it (and so the cart's write queue: the
  // service queues the write in the same call).
  const writes = callCounter();
  const service = new Proxy(cart.service, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property === 'addItem' || property === 'removeItem' || property === 'setQuantity') {
        return (...args: unknown[]) => {
          const result = value.apply(target, args);
          writes.called();
          return result;
        };
      }
      return value.bind(target);
    },
  });
  const app = createApp({
    service,
    storage: cart.storage,
    logger: pino({ level: 'silent' }),
    cartIdentity: 'shared',
    rateLimitPerMinute: 0,
    isReady: () => true,
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  closers.push(async () => {
    await new Promise((resolve) => server.close(resolve));
    await cart.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, saves: () => saves, cart, reserver, holdNextSave, writes };
}

const post = (url: string, name: string, key?: string) =>
  fetch(`${url}/items`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    },
    body: JSON.stringify({ name }),
  });

describe('POST /items to one cart on SQLite, concurrently', () => {
  it('sums 120 concurrent adds exactly in fewer saves than requests; each keyed request replays its own answer', async () => {
    const { url, saves, cart } = await serve();
    const sent = Array.from({ length: 120 }, (_, i) => ({
      name: i % 3 === 0 ? `Item${i % 6}` : 'Hot',
      key: i % 2 === 0 ? `key-${i}` : undefined,
    }));
    const answers = await Promise.all(
      sent.map(async ({ name, key }) => {
        const response = await post(url, name, key);
        return {
          status: response.status,
          etag: response.headers.get('etag'),
          body: (await response.json()) as {
            item: { name: string; quantity: number };
            version: number;
          },
        };
      }),
    );
    for (const [i, answer] of answers.entries()) {
      expect(answer.status, `request ${i}`).toBe(201);
      expect(answer.body.item.name).toBe(sent[i]?.name);
      expect(answer.etag).toBe(`"${answer.body.version}"`);
    }
    const items = (await (await fetch(`${url}/items`)).json()) as {
      items: Array<{ name: string; quantity: number }>;
    };
    const quantities = Object.fromEntries(items.items.map((item) => [item.name, item.quantity]));
    expect(quantities).toEqual({ Hot: 80, Item0: 20, Item3: 20 });
    // Every answer shows its item as saved in the version its ETag names: answers
    // with one version agree, a later version never shows less, the last shows all.
    for (const name of ['Hot', 'Item0', 'Item3']) {
      const byVersion = new Map<number, number>();
      for (const answer of answers.filter((a) => a.body.item.name === name)) {
        const known = byVersion.get(answer.body.version);
        if (known !== undefined) expect(answer.body.item.quantity).toBe(known);
        byVersion.set(answer.body.version, answer.body.item.quantity);
      }
      const inOrder = [...byVersion.entries()].sort(([a], [b]) => a - b).map(([, q]) => q);
      expect(inOrder).toEqual([...inOrder].sort((a, b) => a - b));
      expect(inOrder.at(-1)).toBe(quantities[name]);
    }
    // Combined: fewer cart saves than adds (the reservation worker saves some too, so
    // the cart's version is the count of all saves).
    const stored = await cart.storage.getCart('default');
    expect(saves()).toBeLessThan(120);
    expect(stored?.version).toBeLessThanOrEqual(saves());

    // Each keyed request, sent again, replays its own answer — not its round's neighbours'.
    for (const [i, { name, key }] of sent.entries()) {
      if (key === undefined) continue;
      const again = await post(url, name, key);
      expect(again.status).toBe(201);
      expect(again.headers.get('etag')).toBe(answers[i]?.etag);
      expect(await again.json()).toEqual(answers[i]?.body);
    }
    const after = (await (await fetch(`${url}/items`)).json()) as {
      items: Array<{ name: string; quantity: number }>;
    };
    expect(after.items.find((item) => item.name === 'Hot')?.quantity).toBe(80);
  });

  it('answers a POST whose line a DELETE of the same round removes with the line at its own version, never a line its ETag lacks', async () => {
    const { url, holdNextSave, writes } = await serve();
    const gate = holdNextSave();
    const opening = post(url, 'Opening');
    await gate.reached;
    await writes.reached(1);
    // Queued behind the save in flight, in this order: add X, remove X, add Y.
    const added = post(url, 'X', 'key-x');
    await writes.reached(2);
    const removed = fetch(`${url}/items/X`, { method: 'DELETE' });
    await writes.reached(3);
    const other = post(url, 'Y');
    await writes.reached(4);
    gate.release();
    expect((await opening).status).toBe(201);
    const [addedRes, removedRes, otherRes] = await Promise.all([added, removed, other]);
    expect(addedRes.status).toBe(201);
    expect(removedRes.status).toBe(204);
    expect(otherRes.status).toBe(201);
    const body = (await addedRes.json()) as { item: { name: string }; version: number };
    expect(body.item.name).toBe('X');
    expect(addedRes.headers.get('etag')).toBe(`"${body.version}"`);
    // The removal is a later version than the add: at the add's version X existed.
    const removedAt = Number(removedRes.headers.get('etag')?.replaceAll('"', ''));
    expect(removedAt).toBe(body.version + 1);
    expect(((await otherRes.json()) as { version: number }).version).toBe(removedAt);
    // The item is gone now, as of a later version; its Location says so.
    const location = addedRes.headers.get('location') ?? '';
    expect(location).toBe('/items/X');
    const now = await fetch(`${url}${location}`);
    expect(now.status).toBe(404);
    const items = (await (await fetch(`${url}/items`)).json()) as {
      items: Array<{ name: string }>;
      version: number;
    };
    expect(items.items.map((item) => item.name)).toEqual(['Opening', 'Y']);
    // A retry of the keyed POST replays the same, consistent answer.
    const again = await post(url, 'X', 'key-x');
    expect(again.status).toBe(201);
    expect(again.headers.get('etag')).toBe(addedRes.headers.get('etag'));
    expect(await again.json()).toEqual(body);
  });
});
