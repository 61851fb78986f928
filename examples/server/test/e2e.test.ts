import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeReservationService, startFakeReservationService } from '@cartkit/testing';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

// The real example server, as a child process, with a real fake reservation service on loopback.

let dir: string;
let fake: FakeReservationService;
const servers: ServerProcess[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cartkit-e2e-'));
  fake = await startFakeReservationService();
});

afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop('SIGKILL');
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess({
    DATABASE_URL: join(dir, 'cart.db'),
    RESERVATION_URL: fake.url,
    RATE_LIMIT_PER_MINUTE: '0',
    ...env,
  });
  servers.push(server);
  return server;
}

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

async function items(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/items`, { headers });
  return (await res.json()) as {
    version: number;
    items: Array<{
      name: string;
      quantity: number;
      reservation: { status: string; id: string | null } | null;
    }>;
  };
}

async function until<T>(
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`not reached in time: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('example server, end to end', () => {
  it("walks the seed's flow: POST /items, GET /items, reservation reserved with the service's id", async () => {
    const { url } = await start();
    const created = await fetch(`${url}/items`, json({ name: 'Product1', quantity: 2 }));
    expect(created.status).toBe(201);
    expect(created.headers.get('x-request-id')).toBeTruthy();
    const cart = await until(
      () => items(url),
      (c) => c.items[0]?.reservation?.status === 'reserved',
    );
    expect(cart.items).toHaveLength(1);
    expect(cart.items[0]).toMatchObject({ name: 'Product1', quantity: 2 });
    expect(fake.reservations().map((r) => r.reservationId)).toEqual([
      cart.items[0]?.reservation?.id,
    ]);

    const reserve = await fetch(`${url}/reserve`, json({ name: 'Product1' }));
    expect(reserve.status).toBe(200);
    const missing = await fetch(`${url}/reserve`, json({ name: 'Nope' }));
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/application\/problem\+json/);
  });

  it('answers every kind of bad input with a 4xx problem and leaves the cart unchanged', async () => {
    const { url } = await start();
    await fetch(`${url}/items`, json({ name: 'Keep', quantity: 1 }));
    const settled = (c: Awaited<ReturnType<typeof items>>) =>
      c.items[0]?.reservation?.status === 'reserved';
    const before = await until(() => items(url), settled);
    const cases: Array<[RequestInit & { path?: string }, number, string]> = [
      [
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' },
        400,
        'MALFORMED_JSON',
      ],
      [
        { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'Product1' },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [json({ name: 'x'.repeat(20_000) }), 413, 'PAYLOAD_TOO_LARGE'],
      [json({ name: 'A', quantity: 1, price: 0 }), 400, 'UNKNOWN_PROPERTY'],
      [json({ name: '' }), 400, 'INVALID_ITEM_NAME'],
      [json({ name: 42 }), 400, 'INVALID_ITEM_NAME'],
      [json({ name: 'A', quantity: 0 }), 400, 'INVALID_QUANTITY'],
      [json({ name: 'A', quantity: 1.5 }), 400, 'INVALID_QUANTITY'],
      [json({ name: 'A', quantity: 1e9 }), 400, 'QUANTITY_LIMIT_EXCEEDED'],
      [json({ name: 'A' }, { 'if-match': '"99"' }), 412, 'VERSION_MISMATCH'],
      [
        {
          ...json({ name: 'Keep' }),
          path: '/reserve',
          headers: { 'content-type': 'application/json', 'idempotency-key': 'x'.repeat(500) },
        },
        400,
        'INVALID_IDEMPOTENCY_KEY',
      ],
      [
        {
          method: 'PATCH',
          path: '/items/Nope',
          headers: { 'content-type': 'application/json' },
          body: '{"quantity":2}',
        },
        404,
        'ITEM_NOT_FOUND',
      ],
      [{ method: 'GET', path: '/nowhere' }, 404, 'ROUTE_NOT_FOUND'],
    ];
    for (const [init, status, code] of cases) {
      const res = await fetch(`${url}${init.path ?? '/items'}`, init);
      const body = (await res.json()) as { code?: string; status?: number; stack?: unknown };
      expect([res.status, body.code], `${init.method} ${init.path ?? '/items'}`).toEqual([
        status,
        code,
      ]);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(body.stack).toBeUndefined();
    }
    expect(await items(url)).toEqual(before);
  });

  it('replays an idempotent retry, refuses the key with another body, and changes nothing', async () => {
    const { url } = await start();
    const first = await fetch(
      `${url}/items`,
      json({ name: 'A', quantity: 2 }, { 'idempotency-key': 'k-1' }),
    );
    const again = await fetch(
      `${url}/items`,
      json({ name: 'A', quantity: 2 }, { 'idempotency-key': 'k-1' }),
    );
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual(await first.json());
    const other = await fetch(
      `${url}/items`,
      json({ name: 'A', quantity: 3 }, { 'idempotency-key': 'k-1' }),
    );
    expect(other.status).toBe(422);
    expect((await items(url)).items[0]?.quantity).toBe(2);
  });

  it('uses ETags for optimistic concurrency: a stale If-Match gets 412', async () => {
    const { url } = await start({ RESERVATION_URL: fake.url });
    fake.setFaults({ latencyMs: 5_000 }); // keep reservations pending so versions stay put
    const created = await fetch(`${url}/items`, json({ name: 'A' }));
    const etag = created.headers.get('etag') as string;
    const ok = await fetch(`${url}/items/A`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'if-match': etag },
      body: '{"quantity":3}',
    });
    expect(ok.status).toBe(200);
    const stale = await fetch(`${url}/items/A`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'if-match': etag },
      body: '{"quantity":5}',
    });
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as { code: string }).code).toBe('VERSION_MISMATCH');
    expect((await items(url)).items[0]?.quantity).toBe(3);
  });

  it('two servers on one SQLite file: a read never serves what the other process replaced', async () => {
    fake.setFaults({ latencyMs: 5_000 }); // reservations stay pending: versions change only by our writes
    const a = await start();
    const b = await start();
    const readA = async () => {
      const res = await fetch(`${a.url}/items`);
      const body = (await res.json()) as {
        version: number;
        items: Array<{ name: string; quantity: number }>;
      };
      return {
        etag: res.headers.get('etag'),
        version: body.version,
        lines: body.items.map((i) => [i.name, i.quantity]),
      };
    };
    expect((await fetch(`${a.url}/items`, json({ name: 'A' }))).status).toBe(201);
    for (let round = 1; round <= 5; round++) {
      // Read twice on A (the second read may reuse what A decoded and serialised)...
      await readA();
      const before = await readA();
      expect(before.lines).toEqual([['A', round]]);
      // ...then write on B: A's next read shows B's write.
      const written = await fetch(`${b.url}/items`, json({ name: 'A' }));
      expect(written.status).toBe(201);
      const after = await readA();
      expect(after.etag).toBe(written.headers.get('etag'));
      expect(after.version).toBe(before.version + 1);
      expect(after.lines).toEqual([['A', round + 1]]);
    }
  });

  it('keeps two identities apart: one can never read, change or reserve in the other cart', async () => {
    const { url } = await start({ CART_IDENTITY: 'header' });
    const alice = { 'x-cart-id': 'alice' };
    const bob = { 'x-cart-id': 'bob' };
    await fetch(`${url}/items`, json({ name: 'Secret', quantity: 1 }, alice));
    expect((await items(url, bob)).items).toEqual([]);
    expect((await fetch(`${url}/items/Secret`, { headers: bob })).status).toBe(404);
    expect((await fetch(`${url}/reserve`, json({ name: 'Secret' }, bob))).status).toBe(404);
    expect((await fetch(`${url}/items/Secret`, { method: 'DELETE', headers: bob })).status).toBe(
      404,
    );
    expect((await fetch(`${url}/items`, { method: 'DELETE', headers: bob })).status).toBeLessThan(
      300,
    );
    expect((await items(url, alice)).items.map((i) => i.name)).toEqual(['Secret']);
    const anonymous = await fetch(`${url}/items`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { detail: string }).detail).toMatch(/X-Cart-Id/);
  });

  it('1,000 concurrent POST /items of one name end with quantity exactly 1,000', async () => {
    const { url } = await start();
    const statuses = await Promise.all(
      Array.from({ length: 1_000 }, () =>
        fetch(`${url}/items`, json({ name: 'Hot' })).then((r) => r.status),
      ),
    );
    expect(statuses.every((s) => s === 201)).toBe(true);
    const cart = await items(url);
    expect(cart.items).toHaveLength(1);
    expect(cart.items[0]?.quantity).toBe(1_000);
  }, 60_000);

  it('refuses to start on a taken port with a one-line hint, exit code 1', async () => {
    const { url } = await start();
    const port = new URL(url).port;
    await expect(start({ PORT: port })).rejects.toThrow(
      /exited with 1[\s\S]*port is taken; set PORT/,
    );
  });

  it('limits writes per client when configured, with a 429 problem', async () => {
    const { url } = await start({ RATE_LIMIT_PER_MINUTE: '3' });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await fetch(`${url}/items`, json({ name: 'A' }))).status);
    expect(statuses).toEqual([201, 201, 201, 429, 429]);
    expect((await fetch(`${url}/items`)).status).toBe(200);
  });

  it('drains on SIGTERM under load: every accepted write is kept, pending tasks resume after restart', async () => {
    fake.setFaults({ latencyMs: 400 });
    // No drain period: this is about closing under load (the drain has its own tests).
    const first = await start({ SHUTDOWN_DRAIN_MS: '0' });
    let firstAccepted: () => void = () => {};
    const someAccepted = new Promise<void>((resolve) => {
      firstAccepted = resolve;
    });
    const attempts = Array.from({ length: 300 }, (_, i) =>
      fetch(`${first.url}/items`, json({ name: `item-${i % 20}` })).then(
        (r) => {
          if (r.status === 201) firstAccepted();
          return r.status;
        },
        () => 0, // refused after shutdown began: never accepted
      ),
    );
    // Signal while the rest are in flight: once one write has been acknowledged.
    await someAccepted;
    const exitCode = first.stop('SIGTERM');
    const statuses = await Promise.all(attempts);
    expect(await exitCode).toBe(0);
    expect(statuses.every((s) => s === 201 || s === 0 || s === 503)).toBe(true);
    const accepted = statuses.filter((s) => s === 201).length;
    expect(accepted).toBeGreaterThan(0);

    fake.resetFaults();
    const second = await start();
    const cart = await until(
      () => items(second.url),
      (c) => c.items.every((i) => i.reservation?.status === 'reserved'),
    );
    expect(cart.items.reduce((sum, i) => sum + i.quantity, 0)).toBe(accepted);
    expect(fake.stats.held).toBe(cart.items.length);
  }, 60_000);

  it('drains a busy keep-alive connection on SIGTERM: its next response closes it, nothing is cut', async () => {
    const server = await start({ SHUTDOWN_DRAIN_MS: '600000', SHUTDOWN_TIMEOUT_MS: '10000' });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const post = () =>
      new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const req = request(
          `${server.url}/items`,
          { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }),
            );
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ name: 'KeepAlive' }));
      });
    expect(await post()).toEqual({ status: 201, connection: 'keep-alive' });
    const exited = server.stop('SIGTERM');
    // `kill` only sends the signal: until the server has handled it, a request on the
    // kept-alive connection is served as before. Wait for the server to say so.
    await server.waitForLog(/^shutting down: draining/);
    const results: Array<{ status: number; connection: string | undefined }> = [];
    for (let i = 0; i < 3; i++) {
      const result = await post();
      results.push(result);
      if (result.connection === 'close') break;
    }
    // The first request after the signal is served in full and closes its connection.
    expect(results).toEqual([{ status: 201, connection: 'close' }]);
    server.child.kill('SIGINT'); // end the drain
    expect(await exited).toBe(0);
    agent.destroy();
    const restarted = await start();
    expect((await items(restarted.url)).items[0]?.quantity).toBe(2);
  }, 30_000);

  it('survives a fuzz of random requests: no 5xx, still alive, cart unchanged by rejections', async () => {
    const { url } = await start({ CART_IDENTITY: 'header' });
    const headers = { 'x-cart-id': 'fuzz' };
    await fetch(`${url}/items`, json({ name: 'Stable', quantity: 3 }, headers));
    // What a rejected request must not change: the lines and their quantities
    // (reservation states move on by themselves in the background).
    const contents = async () =>
      (await items(url, headers)).items.map((i) => `${i.name}×${i.quantity}`);
    let baseline = await contents();
    const method = fc.constantFrom('GET', 'POST', 'PATCH', 'PUT', 'DELETE');
    const path = fc.oneof(
      fc.constantFrom('/items', '/reserve', '/items/Stable', '/openapi.json', '/health/ready'),
      fc.string({ maxLength: 30 }).map((s) => `/${encodeURIComponent(s)}`),
      fc.string({ maxLength: 30 }).map((s) => `/items/${encodeURIComponent(s)}x`),
    );
    const body = fc.oneof(
      fc.string({ maxLength: 200, unit: 'binary' }),
      fc.json().map(String),
      fc
        .record({ name: fc.anything(), quantity: fc.anything() })
        .map((v) => JSON.stringify(v) ?? ''),
    );
    const contentType = fc.constantFrom(
      'application/json',
      'text/plain',
      'application/merge-patch+json',
      '',
    );
    const ifMatch = fc.option(fc.constantFrom('"0"', '*', 'W/"1"', 'garbage', '"1", "2"'), {
      nil: undefined,
    });
    await fc.assert(
      fc.asyncProperty(method, path, body, contentType, ifMatch, async (m, p, b, ct, im) => {
        const h: Record<string, string> = { ...headers };
        if (ct) h['content-type'] = ct;
        if (im) h['if-match'] = im;
        const res = await fetch(`${url}${p}`, {
          method: m,
          headers: h,
          ...(m === 'GET' ? {} : { body: b }),
        });
        await res.arrayBuffer();
        expect(res.status).toBeLessThan(500);
        const now = await contents();
        if (res.status >= 400) expect(now).toEqual(baseline);
        baseline = now;
      }),
      { numRuns: 1_500, seed: 20261124 },
    );
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
  }, 120_000);
});
