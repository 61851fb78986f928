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

async function serve() {
  const sqlite = await createSqliteCartStorage({ path: join(dir, 'cart.db') });
  let saves = 0;
  // The SQLite storage, counting cart saves (every other call goes straight to it).
  const storage = new Proxy(sqlite, {
    get(target, property) {
      if (property === 'saveCart') {
        return (...args: Parameters<CartStorage['saveCart']>) => {
          saves++;
          return target.saveCart(...args);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as CartStorage;
  const reserver = new MemoryReserver();
  const cart = await createCart({ storage, reserver });
  const app = createApp({
    service: cart.service,
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
  return { url, saves: () => saves, cart, reserver };
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
});
