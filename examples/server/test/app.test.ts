import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { type CreateCartOptions, createCart, MemoryCartStorage } from '@cartkit/core';
import express from 'express';
import helmet from 'helmet';
import { type Logger as PinoLogger, pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { type CartIdentity, readConfig } from '../src/config.js';
import { assignRequestId } from '../src/request-id.js';
import { requestLogging } from '../src/request-log.js';
import { securityHeaders } from '../src/security-headers.js';
import { startTestServer } from './support/in-process-server.js';

const closers: Array<() => Promise<void>> = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(
  ready: { value: boolean },
  options: { logger?: PinoLogger; cart?: CreateCartOptions; cartIdentity?: CartIdentity } = {},
) {
  const cart = await createCart(options.cart);
  const app = createApp({
    service: cart.service,
    storage: cart.storage,
    changeFeed: cart.changeFeed,
    logger: options.logger ?? pino({ level: 'silent' }),
    cartIdentity: options.cartIdentity ?? 'shared',
    rateLimitPerMinute: 0,
    isReady: () => ready.value,
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  closers.push(async () => {
    await new Promise((resolve) => server.close(resolve));
    await cart.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('example app', () => {
  it('answers liveness always and readiness until shutdown begins', async () => {
    const ready = { value: true };
    const url = await serve(ready);
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
    ready.value = false;
    const notReady = await fetch(`${url}/health/ready`);
    expect(notReady.status).toBe(503);
    expect(notReady.headers.get('content-type')).toBe('application/problem+json');
    expect(await notReady.json()).toMatchObject({ status: 503, code: 'SHUTTING_DOWN' });
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
  });

  it('answers a write over the rate limit with 429 RATE_LIMITED typed as the router types its problems', async () => {
    const server = await startTestServer(cleanups, { RATE_LIMIT_PER_MINUTE: '1' });
    const add = () =>
      fetch(`${server.url}/items`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":"A"}',
      });
    expect((await add()).status).toBe(201);
    const limited = await add();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toBe('application/problem+json');
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await limited.json()).toEqual({
      type: 'about:blank',
      title: 'Too Many Requests',
      status: 429,
      code: 'RATE_LIMITED',
      detail: 'At most 1 writes per minute per client.',
    });
  });

  it('echoes a sane X-Request-Id and replaces an unsafe one', async () => {
    const url = await serve({ value: true });
    const kept = await fetch(`${url}/items`, { headers: { 'x-request-id': 'abc-123' } });
    expect(kept.headers.get('x-request-id')).toBe('abc-123');
    const replaced = await fetch(`${url}/items`, { headers: { 'x-request-id': 'x'.repeat(300) } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses several X-Cart-Id headers (Node would join them into a third cart id)', async () => {
    const url = await serve({ value: true }, { cartIdentity: 'header' });
    const send = (cartIds: string | string[]) =>
      new Promise<{ status: number; body: { code?: string; items?: unknown[] } }>(
        (resolve, reject) => {
          const req = request(`${url}/items`, { headers: { 'x-cart-id': cartIds } }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          });
          req.on('error', reject);
          req.end();
        },
      );
    const twice = await send(['alice', 'bob']);
    expect(twice.status).toBe(400);
    expect(twice.body.code).toBe('INVALID_CART_ID');
    expect((await send(['alice', 'alice'])).body.code).toBe('INVALID_CART_ID');
    expect((await send(['', 'bob'])).body.code).toBe('INVALID_CART_ID');
    const once = await send('alice');
    expect(once.status).toBe(200);
    expect(once.body.items).toEqual([]);
  });

  it('sends security headers and no X-Powered-By', async () => {
    const url = await serve({ value: true });
    const res = await fetch(`${url}/items`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it("sends exactly helmet()'s headers on cart answers, errors and health checks", async () => {
    // The reference: helmet() itself in front of a bare express route.
    const reference = express();
    reference.use(helmet());
    reference.get('/x', (_req, res) => {
      res.end();
    });
    const server = reference.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const referenceRes = await fetch(
      `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`,
    );
    const plumbing = new Set(['content-length', 'date', 'connection', 'keep-alive']);
    const helmetHeaders = [...referenceRes.headers].filter(([name]) => !plumbing.has(name));
    expect(helmetHeaders.length).toBeGreaterThanOrEqual(10);

    const url = await serve({ value: true });
    for (const path of ['/items', '/items/nothing-here', '/nowhere', '/health/live']) {
      const res = await fetch(`${url}${path}`);
      for (const [name, value] of helmetHeaders) {
        expect({ path, name, value: res.headers.get(name) }).toEqual({ path, name, value });
      }
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
  });

  it('refuses to precompute helmet options that depend on the request', () => {
    expect(() =>
      securityHeaders({
        contentSecurityPolicy: {
          directives: {
            scriptSrc: [
              (_req, res) => `'nonce-${(res as unknown as { locals: { n: string } }).locals.n}'`,
            ],
          },
        },
      }),
    ).toThrow();
  });
});

describe('request logs', () => {
  type Line = { level: number; msg: string; res?: { statusCode: number } } & Record<
    string,
    unknown
  >;
  /** A pino logger (at `trace` unless told) whose lines are kept. */
  function capturingLogger(level = 'trace') {
    const lines: Line[] = [];
    const waiters: Array<{ test: (line: Line) => boolean; resolve: (line: Line) => void }> = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        for (const text of String(chunk).split('\n')) {
          if (!text) continue;
          const line = JSON.parse(text) as Line;
          lines.push(line);
          for (const waiter of waiters.splice(0)) {
            if (waiter.test(line)) waiter.resolve(line);
            else waiters.push(waiter);
          }
        }
        done();
      },
    });
    const logger: PinoLogger = pino({ level }, stream);
    /** The first line (seen or to come) that passes `test`. */
    const lineWhere = (test: (line: Line) => boolean) =>
      new Promise<Line>((resolve) => {
        const seen = lines.find(test);
        if (seen !== undefined) resolve(seen);
        else waiters.push({ test, resolve });
      });
    return { logger, lines, lineWhere };
  }
  /** A bare express app with only the request log in front of `routes`. */
  async function logged(logger: PinoLogger, routes: (app: express.Express) => void) {
    const app = express();
    const start = requestLogging(app, logger);
    app.use((req, res, next) => {
      assignRequestId(req, res);
      start(req, res);
      next();
    });
    routes(app);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const levelOf = (
    lines: ReturnType<typeof capturingLogger>['lines'],
    status: number,
  ): number | undefined =>
    lines.find((l) => l.msg?.startsWith('request') && l.res?.statusCode === status)?.level;

  it('logs one info line per request: request id, method, url, status, time; no headers', async () => {
    const { logger, lines } = capturingLogger();
    const url = await serve({ value: true }, { logger });
    const res = await fetch(`${url}/items?x=1`, {
      headers: { 'x-request-id': 'req-1', authorization: 'Bearer secret' },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const requestLines = lines.filter((l) => l.msg?.startsWith('request'));
    expect(requestLines).toHaveLength(1);
    const [line] = requestLines as unknown as [Record<string, unknown>];
    expect(line).toMatchObject({
      level: 30,
      msg: 'request completed',
      req: { id: 'req-1', method: 'GET', url: '/items?x=1' },
      res: { statusCode: 200 },
    });
    expect(Object.keys(line.req as object).sort()).toEqual(['id', 'method', 'url']);
    expect(Object.keys(line.res as object)).toEqual(['statusCode']);
    expect(typeof line.responseTime).toBe('number');
    expect(JSON.stringify(line)).not.toContain('secret');
  });

  it('logs a client mistake (4xx) at info, not warn; a server failure (5xx) at error', async () => {
    const { logger, lines } = capturingLogger();
    class FailingStorage extends MemoryCartStorage {
      override async getCart(cartId: string) {
        if (cartId === 'default') throw new Error('disk on fire');
        return super.getCart(cartId);
      }
    }
    const url = await serve({ value: true }, { logger });
    const bad = await fetch(`${url}/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":""}',
    });
    expect(bad.status).toBe(400);
    expect((await fetch(`${url}/nowhere`)).status).toBe(404);
    expect(levelOf(lines, 400)).toBe(30);
    expect(levelOf(lines, 404)).toBe(30);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);

    const failing = capturingLogger();
    const brokenUrl = await serve(
      { value: true },
      { logger: failing.logger, cart: { storage: new FailingStorage() } },
    );
    const broken = await fetch(`${brokenUrl}/items`);
    expect(broken.status).toBeGreaterThanOrEqual(500);
    expect(levelOf(failing.lines, broken.status)).toBe(50);
  });

  it('logs 5xx at error, and nothing else, at LOG_LEVEL=warn', async () => {
    const { logger, lines, lineWhere } = capturingLogger('warn');
    const url = await logged(logger, (app) => {
      app.get('/ok', (_req, res) => {
        res.json({});
      });
      app.get('/unavailable', (_req, res) => {
        res.status(503).end();
      });
    });
    expect((await fetch(`${url}/ok`)).status).toBe(200);
    expect((await fetch(`${url}/unavailable`)).status).toBe(503);
    await lineWhere((l) => l.res?.statusCode === 503);
    expect(lines).toMatchObject([
      { level: 50, msg: 'request errored', req: { method: 'GET', url: '/unavailable' } },
    ]);
  });

  it('logs a request whose client went away before the answer as aborted', async () => {
    const { logger, lineWhere } = capturingLogger();
    let arrived!: () => void;
    const handled = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const url = await logged(logger, (app) => {
      app.get('/never', () => arrived()); // never answers
    });
    const client = request(`${url}/never`);
    client.on('error', () => {}); // the socket hang-up of the request destroyed below
    client.end();
    await handled;
    client.destroy();
    expect(await lineWhere((l) => l.msg?.startsWith('request'))).toMatchObject({
      level: 30,
      msg: 'request aborted',
      req: { method: 'GET', url: '/never' },
    });
  });

  it('logs a response that failed at error with the error, once, and keeps serving', async () => {
    const { logger, lines, lineWhere } = capturingLogger();
    const url = await logged(logger, (app) => {
      app.get('/twice', (_req, res) => {
        res.end('done');
        res.write('more'); // the response emits ERR_STREAM_WRITE_AFTER_END
      });
    });
    expect(await (await fetch(`${url}/twice`)).text()).toBe('done');
    const line = await lineWhere((l) => l.msg?.startsWith('request'));
    expect(line).toMatchObject({
      level: 50,
      msg: 'request errored',
      err: { code: 'ERR_STREAM_WRITE_AFTER_END' },
    });
    expect((await fetch(`${url}/twice`)).status).toBe(200);
    await lineWhere((l) => l.msg?.startsWith('request') && l !== line);
    expect(lines.filter((l) => l.msg?.startsWith('request'))).toHaveLength(2);
  });

  it('makes req.log, a child bound to the request, only for requests that use it', async () => {
    const { logger, lineWhere } = capturingLogger();
    let children = 0;
    const child = logger.child.bind(logger);
    logger.child = ((...args: Parameters<typeof child>) => {
      children += 1;
      return child(...args);
    }) as typeof logger.child;
    const url = await logged(logger, (app) => {
      app.get('/quiet', (_req, res) => {
        res.end();
      });
      app.get('/chatty', (req, res) => {
        req.log.info({ step: 1 }, 'handler says');
        req.log.info({ step: 2 }, 'handler says');
        res.end();
      });
    });
    await fetch(`${url}/quiet`, { headers: { 'x-request-id': 'q-1' } });
    await lineWhere((l) => l.msg === 'request completed');
    expect(children).toBe(0);
    await fetch(`${url}/chatty?a=1`, { headers: { 'x-request-id': 'c-1' } });
    expect(await lineWhere((l) => l.msg === 'handler says')).toMatchObject({
      req: { id: 'c-1', method: 'GET', url: '/chatty?a=1' },
      step: 1,
    });
    await lineWhere((l) => l.msg === 'request completed' && (l.req as { id: string }).id === 'c-1');
    expect(children).toBe(1);
  });
});

describe('configuration', () => {
  it('has the documented defaults', () => {
    expect(readConfig({})).toEqual({
      port: 3000,
      host: '127.0.0.1',
      storage: 'sqlite',
      databasePath: './data/cartkit.db',
      postgresUrl: undefined,
      redisUrl: undefined,
      jobLockMs: 30_000,
      reservationUrl: undefined,
      logLevel: 'info',
      rateLimitPerMinute: 600,
      cartIdentity: 'shared',
      shutdownDrainMs: 5_000,
      shutdownTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
      demoLatencyMs: 200,
      idempotencyLeaseMs: 30_000,
    });
  });

  it('refuses a headers timeout longer than the request timeout', () => {
    expect(() => readConfig({ REQUEST_TIMEOUT_MS: '1000', HEADERS_TIMEOUT_MS: '2000' })).toThrow(
      /HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS/,
    );
    expect(readConfig({ REQUEST_TIMEOUT_MS: '0', HEADERS_TIMEOUT_MS: '2000' })).toMatchObject({
      requestTimeoutMs: 0,
      headersTimeoutMs: 2_000,
    });
  });

  it('selects PostgreSQL by a postgres:// DATABASE_URL and BullMQ by REDIS_URL', () => {
    const config = readConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/carts',
      REDIS_URL: 'redis://cache:6379',
      JOB_LOCK_MS: '5000',
    });
    expect(config).toMatchObject({
      storage: 'postgres',
      postgresUrl: 'postgres://u:p@db:5432/carts',
      redisUrl: 'redis://cache:6379',
      jobLockMs: 5_000,
    });
    expect(readConfig({ DATABASE_URL: 'postgresql://db/carts' }).storage).toBe('postgres');
  });

  it('names the variable of a malformed PostgreSQL or Redis URL', () => {
    expect(() => readConfig({ DATABASE_URL: 'postgres://' })).toThrow(
      /DATABASE_URL must be postgres:\/\/user:password@host:port\/database/,
    );
    expect(() => readConfig({ REDIS_URL: 'http://cache:6379' })).toThrow(
      /REDIS_URL must be a redis:\/\/host:port/,
    );
    expect(() => readConfig({ JOB_LOCK_MS: '10' })).toThrow(/JOB_LOCK_MS must be at least 1000/);
  });

  it('accepts file and sqlite URLs for DATABASE_URL', () => {
    expect(readConfig({ DATABASE_URL: 'file:/tmp/a%20b.db' }).databasePath).toBe('/tmp/a b.db');
    expect(readConfig({ DATABASE_URL: 'sqlite:///var/cart.db' }).databasePath).toBe('/var/cart.db');
  });

  it('selects in-memory storage with DATABASE_URL=memory:', () => {
    expect(readConfig({ DATABASE_URL: 'memory:' }).storage).toBe('memory');
    expect(readConfig({ DATABASE_URL: ':memory:' }).storage).toBe('sqlite');
  });

  it('refuses invalid settings, listing each', () => {
    expect(() =>
      readConfig({ PORT: 'abc', RESERVATION_URL: 'ftp://x', CART_IDENTITY: 'oauth' }),
    ).toThrow(/PORT[\s\S]*RESERVATION_URL[\s\S]*CART_IDENTITY/);
    expect(() => readConfig({ RATE_LIMIT_PER_MINUTE: '-1' })).toThrow(/RATE_LIMIT_PER_MINUTE/);
  });
});
