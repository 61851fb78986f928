import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { expressServerClasses } from '../src/index.js';

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

describe('expressServerClasses', () => {
  async function serve(app: express.Express, withClasses: boolean) {
    const seen: boolean[] = [];
    const server = createServer(withClasses ? expressServerClasses(app) : {}, (req, res) => {
      // What express's app.handle will find: its own prototypes already in place.
      seen.push(
        Object.getPrototypeOf(req) === app.request && Object.getPrototypeOf(res) === app.response,
      );
      app(req, res);
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, seen };
  }

  function appUnderTest(): express.Express {
    const app = express();
    app.set('label', 'the app');
    app.use(express.json());
    app.post('/echo', (req, res) => {
      res
        .status(201)
        .set('X-Label', String(req.app.get('label')))
        .json({ body: req.body, header: req.get('x-test') ?? null, sameApp: req.app === app });
    });
    return app;
  }

  it('creates requests and responses with the app prototypes, so express changes none', async () => {
    const app = appUnderTest();
    const { url, seen } = await serve(app, true);
    const changes = countPrototypeChanges();
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-test': `t${i}` },
        body: JSON.stringify({ i }),
      });
      expect(res.status).toBe(201);
      expect(res.headers.get('x-label')).toBe('the app');
      expect(await res.json()).toEqual({ body: { i }, header: `t${i}`, sameApp: true });
    }
    expect(seen).toEqual([true, true, true]);
    expect(changes.changes).toBe(0);
  });

  it('without them express changes both prototypes on every request', async () => {
    const app = appUnderTest();
    const { url, seen } = await serve(app, false);
    const changes = countPrototypeChanges();
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ i }),
      });
      expect(res.status).toBe(201);
      expect(await res.json()).toEqual({ body: { i }, header: null, sameApp: true });
    }
    expect(seen).toEqual([false, false, false]);
    expect(changes.changes).toBe(6);
  });
});
