import { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestServer } from './support/in-process-server.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Counts the `Object.setPrototypeOf` calls that give a request or response a prototype
 * it does not already have (what express's `app.handle` does on every request unless
 * the server creates them with its prototypes).
 */
function countPrototypeChanges(): { readonly changes: number } {
  const counter = { changes: 0 };
  const original = Object.setPrototypeOf;
  vi.spyOn(Object, 'setPrototypeOf').mockImplementation((target: object, proto: object | null) => {
    if (
      (target instanceof IncomingMessage || target instanceof ServerResponse) &&
      Object.getPrototypeOf(target) !== proto
    ) {
      counter.changes++;
    }
    return original(target, proto);
  });
  return counter;
}

describe('example server: express prototypes', () => {
  it('the example server answers without changing a prototype per request', async () => {
    const server = await startTestServer(cleanups, { CART_IDENTITY: 'header' });
    const changes = countPrototypeChanges();
    const headers = { 'content-type': 'application/json', 'x-cart-id': 'proto' };
    const added = await fetch(`${server.url}/items`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'Pear' }),
    });
    expect(added.status).toBe(201);
    const reserved = await fetch(`${server.url}/reserve`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'Pear' }),
    });
    expect([200, 202]).toContain(reserved.status);
    expect(reserved.headers.get('etag')).toMatch(/^"\d+"$/);
    const read = await fetch(`${server.url}/items`, { headers });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { items: unknown[] }).items).toHaveLength(1);
    expect(changes.changes).toBe(0);
  });
});
