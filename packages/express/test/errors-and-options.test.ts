import type { AddressInfo } from 'node:net';
import {
  type CartRuntime,
  ConfigurationError,
  createCart,
  NotFoundError,
  StorageError,
} from '@cartkit/core';
import express from 'express';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CartRouterOptions,
  createCartRouter,
  HttpProblem,
  problemErrorHandler,
} from '../src/index.js';
import { type CartApi, startCartApi } from './support/cart-api.js';
import { recordingLogger } from './support/recording-logger.js';

describe('router options', () => {
  let runtime: CartRuntime;
  beforeEach(async () => {
    runtime = await createCart();
  });
  afterEach(async () => {
    await runtime.close();
  });

  const invalid: [string, (base: CartRouterOptions) => unknown][] = [
    ['service', (o) => ({ ...o, service: {} })],
    ['service', (o) => ({ ...o, service: undefined })],
    ['storage', (o) => ({ ...o, storage: { getCart: () => undefined } })],
    ['resolveCartId', (o) => ({ ...o, resolveCartId: 'alice' })],
    ['bodyLimit', (o) => ({ ...o, bodyLimit: 0 })],
    ['bodyLimit', (o) => ({ ...o, bodyLimit: '16kb' })],
    ['idempotencyTtlMs', (o) => ({ ...o, idempotencyTtlMs: 1.5 })],
    ['clock', (o) => ({ ...o, clock: {} })],
    ['logger', (o) => ({ ...o, logger: { info: () => {} } })],
    ['authChallenge', (o) => ({ ...o, authChallenge: 'Bearer\r\nX-Evil: 1' })],
    ['handleUnknownRoutes', (o) => ({ ...o, handleUnknownRoutes: 'yes' })],
    ['openApi', (o) => ({ ...o, openApi: { title: 3 } })],
    ['options', () => undefined],
  ];

  it.each(invalid)(
    'refuses an invalid %s up front with a ConfigurationError naming it',
    (option, make) => {
      const base = { service: runtime.service, storage: runtime.storage };
      let thrown: unknown;
      try {
        createCartRouter(make(base) as CartRouterOptions);
      } catch (error) {
        thrown = error;
      }
      expect(ConfigurationError.is(thrown)).toBe(true);
      expect((thrown as ConfigurationError).details.option).toBe(option);
    },
  );
});

describe('the router in an app', () => {
  let api: CartApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('applies the body limit option', async () => {
    api = await startCartApi({ router: { bodyLimit: 64 } });
    const res = await api.post('/items', { name: 'x'.repeat(80) });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', limit: 64 });
  });

  it('answers 503 with Retry-After when the storage is unavailable, without its message', async () => {
    const logger = recordingLogger();
    api = await startCartApi({ router: { logger } });
    await api.storage.close();
    const res = await api.get('/items');
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('CLOSED');
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.body.detail).not.toContain('closed');
    expect(logger.entries.filter((e) => e.level === 'error')).toHaveLength(1);
  });

  it('notes refused requests at debug level only', async () => {
    const logger = recordingLogger();
    api = await startCartApi({ router: { logger } });
    await api.post('/items', { name: '' });
    expect(logger.entries.map((e) => [e.level, e.fields.code])).toEqual([
      ['debug', 'INVALID_ITEM_NAME'],
    ]);
  });
});

/** Starts a bare express app; returns its base URL and a closer. */
async function listen(app: express.Express): Promise<{ url: string; close: () => Promise<void> }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('composing routes yourself', () => {
  it('lets later app routes answer when handleUnknownRoutes is off', async () => {
    const runtime = await createCart();
    const app = express();
    app.use(
      createCartRouter({
        service: runtime.service,
        storage: runtime.storage,
        handleUnknownRoutes: false,
      }),
    );
    app.get('/health', (_req, res) => {
      res.json({ ok: true });
    });
    const { url, close } = await listen(app);
    try {
      expect((await fetch(`${url}/health`)).status).toBe(200);
      expect((await fetch(`${url}/items`)).status).toBe(200);
      expect((await fetch(`${url}/items`, { method: 'PUT' })).status).toBe(405);
    } finally {
      await close();
      await runtime.close();
    }
  });

  it('renders errors of your own routes as problem documents', async () => {
    const logger = recordingLogger();
    const app = express();
    app.get('/missing', () => {
      throw new NotFoundError('ORDER_NOT_FOUND', 'Order 7 does not exist.');
    });
    app.get('/forbidden', () => {
      throw new HttpProblem(403, 'FORBIDDEN', 'Not your cart.');
    });
    app.get('/storage', () => {
      throw new StorageError('STORAGE_FAILURE', 'SQLITE_BUSY: database is locked');
    });
    app.get('/boom', () => {
      throw new TypeError("Cannot read properties of undefined (reading 'secret')");
    });
    app.post('/json', express.json(), (_req, res) => {
      res.end();
    });
    app.use(problemErrorHandler({ logger }));
    const { url, close } = await listen(app);
    try {
      const cases: [string, RequestInit, number, string][] = [
        ['/missing', {}, 404, 'ORDER_NOT_FOUND'],
        ['/forbidden', {}, 403, 'FORBIDDEN'],
        ['/storage', {}, 503, 'STORAGE_FAILURE'],
        ['/boom', {}, 500, 'INTERNAL_ERROR'],
        [
          '/json',
          { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } },
          400,
          'MALFORMED_JSON',
        ],
      ];
      for (const [path, init, status, code] of cases) {
        const res = await fetch(`${url}${path}`, init);
        const text = await res.text();
        expect({ path, status: res.status, type: res.headers.get('content-type') }).toEqual({
          path,
          status,
          type: 'application/problem+json',
        });
        const body = JSON.parse(text);
        expect(body).toMatchObject({
          type: 'about:blank',
          status,
          code,
          detail: expect.any(String),
        });
        expect(text).not.toMatch(/SQLITE_BUSY|secret|\.ts:\d+/);
      }
      expect(logger.entries.filter((e) => e.level === 'error').map((e) => e.fields.code)).toEqual([
        'STORAGE_FAILURE',
        'INTERNAL_ERROR',
      ]);
    } finally {
      await close();
    }
  });
});
