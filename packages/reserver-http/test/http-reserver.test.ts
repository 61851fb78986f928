import { randomUUID } from 'node:crypto';
import { ConfigurationError, type Logger } from '@cartkit/core';
import { type FakeReservationService, startFakeReservationService } from '@cartkit/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpReserver, type HttpReserver, type HttpReserverOptions } from '../src/index.js';
import { failure } from './support/failure.js';
import {
  answer,
  closedPort,
  type ScriptedServer,
  startScriptedServer,
} from './support/scripted-server.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function fake(options: Parameters<typeof startFakeReservationService>[0] = {}) {
  const service = await startFakeReservationService(options);
  cleanups.push(() => service.close());
  return service;
}

async function scripted(...args: Parameters<typeof startScriptedServer>) {
  const server = await startScriptedServer(...args);
  cleanups.push(() => server.close());
  return server;
}

function reserverFor(
  target: FakeReservationService | ScriptedServer | string,
  options: Omit<HttpReserverOptions, 'url'> = {},
): HttpReserver {
  const url = typeof target === 'string' ? target : target.url;
  const reserver = createHttpReserver({ url, ...options });
  cleanups.push(() => reserver.close());
  return reserver;
}

const request = (key: string = randomUUID(), name = 'Product1') => ({
  name,
  quantity: 2,
  idempotencyKey: key,
  cartId: 'c1',
});

describe('the default protocol on the wire', () => {
  it('POSTs {"name","quantity"} as JSON with the idempotency key, the same on a retry', async () => {
    const server = await scripted(answer(201, { reservation_id: 'r1' }));
    const reserver = reserverFor(server);
    const key = randomUUID();
    await reserver.reserve(request(key));
    await reserver.reserve(request(key));
    expect(server.requests).toHaveLength(2);
    for (const seen of server.requests) {
      expect(seen.method).toBe('POST');
      expect(seen.url).toBe('/reservations');
      expect(seen.headers['idempotency-key']).toBe(key);
      expect(seen.headers['content-type']).toBe('application/json');
      expect(seen.headers['user-agent']).toBe('@cartkit/reserver-http');
      expect(JSON.parse(seen.body)).toEqual({ name: 'Product1', quantity: 2 });
    }
  });

  it('gets the first reservation back from an idempotent service on a retry', async () => {
    const service = await fake();
    const reserver = reserverFor(service);
    const key = randomUUID();
    const first = await reserver.reserve(request(key));
    const again = await reserver.reserve(request(key));
    expect(again).toEqual(first);
    expect(service.callsForKey(key)).toBe(2);
    expect(service.stats.reservationsMade).toBe(1);
  });

  it('fails transiently while the same key is in progress (425 + Retry-After)', async () => {
    const service = await fake({ faults: { latencyMs: 1_500 }, inProgressRetryAfterSeconds: 2 });
    const reserver = reserverFor(service);
    const key = randomUUID();
    const first = reserver.reserve(request(key));
    while (service.stats.inProgress === 0) await new Promise((r) => setTimeout(r, 5));
    const error = await failure(reserver.reserve(request(key)));
    expect(error).toMatchObject({ transient: true, status: 425, retryAfterMs: 2_000 });
    await first;
    expect(service.stats.reservationsMade).toBe(1);
  });

  it('sends custom headers and a custom idempotency header name', async () => {
    const server = await scripted(answer(201, { id: 'r1' }));
    const reserver = reserverFor(server, {
      headers: { Authorization: 'Bearer s3cret', 'X-Tenant': 'shop-1' },
      idempotencyHeader: 'X-Request-Id',
    });
    await reserver.reserve(request('key-1'));
    const [seen] = server.requests;
    expect(seen?.headers.authorization).toBe('Bearer s3cret');
    expect(seen?.headers['x-tenant']).toBe('shop-1');
    expect(seen?.headers['x-request-id']).toBe('key-1');
    expect(seen?.headers['idempotency-key']).toBeUndefined();
  });

  it('keeps the per-call idempotency key over a same-named static header', async () => {
    const server = await scripted(answer(201, { id: 'r1' }));
    const reserver = reserverFor(server, { headers: { 'Idempotency-Key': 'static' } });
    await reserver.reserve(request('per-call'));
    expect(server.requests[0]?.headers['idempotency-key']).toBe('per-call');
  });
});

describe('mapping hooks', () => {
  it('fits a service with another request and response shape', async () => {
    const server = await scripted(answer(200, { data: { hold: { ref: 'H-77' } } }));
    const reserver = reserverFor(server, {
      mapRequest: (r) => ({ sku: r.name, units: r.quantity, cart: r.cartId }),
      mapResponse: (body, status) => {
        const ref = (body as { data?: { hold?: { ref?: unknown } } }).data?.hold?.ref;
        return status === 200 && typeof ref === 'string' ? ref : undefined;
      },
    });
    expect(await reserver.reserve(request())).toEqual({ reservationId: 'H-77' });
    expect(JSON.parse(server.requests[0]?.body ?? '')).toEqual({
      sku: 'Product1',
      units: 2,
      cart: 'c1',
    });
  });

  it('hands response headers to mapResponse (an id in Location)', async () => {
    const server = await scripted(answer(201, undefined, { location: '/reservations/loc-9' }));
    const reserver = reserverFor(server, {
      mapResponse: (_body, _status, headers) =>
        typeof headers.location === 'string' ? headers.location.split('/').pop() : undefined,
    });
    expect(await reserver.reserve(request())).toEqual({ reservationId: 'loc-9' });
  });

  it('reports a mapResponse that finds nothing or throws as a bad response', async () => {
    const server = await scripted(answer(201, { reservation_id: 'r' }));
    const none = reserverFor(server, { mapResponse: () => undefined });
    expect(await failure(none.reserve(request()))).toMatchObject({
      code: 'RESERVATION_BAD_RESPONSE',
      transient: false,
    });
    const throws = reserverFor(server, {
      mapResponse: () => {
        throw new Error('shape changed');
      },
    });
    const error = await failure(throws.reserve(request()));
    expect(error).toMatchObject({ code: 'RESERVATION_BAD_RESPONSE', transient: false });
    expect(error.message).toContain('mapResponse threw: shape changed');
    expect((error.cause as Error).message).toBe('shape changed');
  });

  it('fails a throwing mapRequest permanently, without calling the service', async () => {
    const server = await scripted(answer(201, { reservation_id: 'r' }));
    const reserver = reserverFor(server, {
      mapRequest: () => {
        throw new Error('no sku for this name');
      },
    });
    const error = await failure(reserver.reserve(request()));
    expect(error).toMatchObject({
      code: 'INVALID_OPTION',
      transient: false,
      details: { option: 'mapRequest' },
    });
    expect(server.requests).toHaveLength(0);
  });

  it('releases at a custom releaseUrl', async () => {
    const server = await scripted(answer(204));
    const reserver = reserverFor(server, {
      releaseUrl: (id) => `${server.origin}/holds/${encodeURIComponent(id)}/cancel`,
    });
    await reserver.release?.('a b');
    expect(server.requests[0]).toMatchObject({ method: 'DELETE', url: '/holds/a%20b/cancel' });
  });

  it('has no release method with release: false', () => {
    const reserver = reserverFor('http://127.0.0.1:9/reservations', { release: false });
    expect(reserver.release).toBeUndefined();
  });
});

describe('release', () => {
  it('DELETEs <url>/<id> with the id URL-encoded, keeping a query string', async () => {
    const server = await scripted(answer(204));
    const reserver = reserverFor(`${server.url}?tenant=1`);
    await reserver.release?.('id/with space?&');
    expect(server.requests[0]).toMatchObject({
      method: 'DELETE',
      url: '/reservations/id%2Fwith%20space%3F%26?tenant=1',
    });
  });

  it.each([200, 202, 204, 404, 410])('treats %i as released', async (status) => {
    const server = await scripted(answer(status, status === 204 ? undefined : {}));
    await expect(reserverFor(server).release?.('r1')).resolves.toBeUndefined();
  });

  it('classifies other statuses like reservations', async () => {
    const busy = await scripted(answer(503, { error: 'busy' }, { 'retry-after': '3' }));
    expect(await failure(reserverFor(busy).release?.('r1') ?? Promise.resolve())).toMatchObject({
      code: 'RESERVATION_UNAVAILABLE',
      transient: true,
      retryAfterMs: 3_000,
    });
    expect(busy.requests).toHaveLength(1); // no retries of its own: the scheduler retries
    const locked = await scripted(answer(409, { error: 'shipped already' }));
    const error = await failure(reserverFor(locked).release?.('r1') ?? Promise.resolve());
    expect(error).toMatchObject({ code: 'RESERVATION_REFUSED', transient: false, status: 409 });
    expect(error.message).toBe('Release of reservation "r1" got 409 Conflict: shipped already.');
  });

  it('releases at the fake service', async () => {
    const service = await fake();
    const reserver = reserverFor(service);
    const { reservationId } = await reserver.reserve(request());
    await reserver.release?.(reservationId);
    expect(service.stats).toMatchObject({ releases: 1, held: 0 });
  });
});

describe('no retries of its own', () => {
  it('calls the service once per reserve, whatever the failure', async () => {
    const service = await fake({ faults: { unavailableRate: 1 } });
    const reserver = reserverFor(service);
    await failure(reserver.reserve(request()));
    expect(service.stats.reserveCalls).toBe(1);
    const throttled = await fake({ faults: { throttleRate: 1, throttleRetryAfterSeconds: 0 } });
    await failure(reserverFor(throttled).reserve(request()));
    await failure(reserverFor(throttled).release?.('r1') ?? Promise.resolve());
    expect(throttled.stats).toMatchObject({ reserveCalls: 1, releaseCalls: 1 });
  });
});

describe('timeouts and unreachable services', () => {
  it('times out a hung call with a transient error, well before a generous bound', async () => {
    const service = await fake({ faults: { hangRate: 1 } });
    const reserver = reserverFor(service, { timeoutMs: 300 });
    const started = performance.now();
    const error = await failure(reserver.reserve(request()));
    expect(error).toMatchObject({ code: 'RESERVATION_UNAVAILABLE', transient: true });
    expect(error.message).toBe('Reservation of "Product1" timed out after 300 ms.');
    expect(error.status).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('times out a slow body, not only a slow first byte', async () => {
    const server = await scripted((_request, response) => {
      response.writeHead(201, { 'content-type': 'application/json' });
      response.write('{"reservation_id": ');
    });
    const error = await failure(reserverFor(server, { timeoutMs: 300 }).reserve(request()));
    expect(error).toMatchObject({ code: 'RESERVATION_UNAVAILABLE', transient: true });
    expect(error.message).toMatch(/timed out after 300 ms/);
  });

  it('fails transiently on a refused connection, with the cause kept', async () => {
    const reserver = reserverFor(`http://127.0.0.1:${await closedPort()}/reservations`);
    const error = await failure(reserver.reserve(request()));
    expect(error).toMatchObject({ code: 'RESERVATION_UNAVAILABLE', transient: true });
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('fails transiently when the service resets the connection', async () => {
    const server = await scripted((_request, response) => response.socket?.destroy());
    const error = await failure(reserverFor(server).reserve(request()));
    expect(error).toMatchObject({ code: 'RESERVATION_UNAVAILABLE', transient: true });
  });

  it("never puts the HTTP client's error objects or header values in the error", async () => {
    const service = await fake({ faults: { hangRate: 1 } });
    const reserver = reserverFor(service, {
      timeoutMs: 100,
      headers: { authorization: 'Bearer top-secret-token' },
    });
    const error = await failure(reserver.reserve(request()));
    const chain: unknown[] = [];
    for (let e: unknown = error; e instanceof Error; e = e.cause) chain.push(e);
    for (const link of chain) {
      expect(link).not.toHaveProperty('options');
      expect(link).not.toHaveProperty('request');
      expect(JSON.stringify(link, Object.getOwnPropertyNames(link))).not.toContain('top-secret');
    }
  });
});

describe('abort and close', () => {
  it('rejects an already aborted call without sending it', async () => {
    const server = await scripted(answer(201, { reservation_id: 'r' }));
    const reserver = reserverFor(server);
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    const error = await failure(reserver.reserve(request(), { signal: controller.signal }));
    expect(error).toMatchObject({ code: 'RESERVATION_ABORTED', transient: true });
    expect(error.message).toBe('Reservation of "Product1" was aborted: shutting down');
    expect(error.cause).toBe(controller.signal.reason);
    expect(server.requests).toHaveLength(0);
  });

  it('aborts a call in flight', async () => {
    const service = await fake({ faults: { hangRate: 1 } });
    const reserver = reserverFor(service, { timeoutMs: 20_000 });
    const controller = new AbortController();
    const pending = failure(reserver.reserve(request(), { signal: controller.signal }));
    while (service.stats.hung === 0) await new Promise((r) => setTimeout(r, 5));
    const started = performance.now();
    controller.abort(new Error('attempt timed out'));
    const error = await pending;
    expect(error).toMatchObject({ code: 'RESERVATION_ABORTED', transient: true });
    expect(error.message).toMatch(/attempt timed out/);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('aborts a release too', async () => {
    const reserver = reserverFor('http://127.0.0.1:9/reservations');
    const error = await failure(
      reserver.release?.('r1', { signal: AbortSignal.abort() }) ?? Promise.resolve(),
    );
    expect(error).toMatchObject({ code: 'RESERVATION_ABORTED', transient: true });
  });

  it('fails calls in flight and later calls with a transient CLOSED after close()', async () => {
    const service = await fake({ faults: { hangRate: 1 } });
    const reserver = reserverFor(service, { timeoutMs: 20_000 });
    const pending = failure(reserver.reserve(request()));
    while (service.stats.hung === 0) await new Promise((r) => setTimeout(r, 5));
    await reserver.close();
    expect(await pending).toMatchObject({ code: 'CLOSED', transient: true });
    expect(await failure(reserver.reserve(request()))).toMatchObject({
      code: 'CLOSED',
      transient: true,
    });
    await reserver.close();
  });

  it('keeps 20 calls in flight without a listener-leak warning, and close() ends each', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const service = await fake({ faults: { hangRate: 1 } });
      const reserver = reserverFor(service, { timeoutMs: 20_000 });
      const pending = Array.from({ length: 20 }, () => failure(reserver.reserve(request())));
      while (service.stats.hung < 20) await new Promise((r) => setTimeout(r, 5));
      await reserver.close();
      const errors = await Promise.all(pending);
      expect(errors.map((error) => error.code)).toEqual(Array(20).fill('CLOSED'));
      // Node emits the warning on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('options', () => {
  const invalid: Array<[string, unknown, string]> = [
    ['a missing url', {}, 'url'],
    ['a relative url', { url: '/reservations' }, 'url'],
    ['an ftp url', { url: 'ftp://x/reservations' }, 'url'],
    ['a zero timeout', { url: 'http://x/r', timeoutMs: 0 }, 'timeoutMs'],
    ['a fractional timeout', { url: 'http://x/r', timeoutMs: 1.5 }, 'timeoutMs'],
    ['a negative size limit', { url: 'http://x/r', maxResponseBytes: -1 }, 'maxResponseBytes'],
    ['a non-function mapRequest', { url: 'http://x/r', mapRequest: 'x' }, 'mapRequest'],
    ['a non-function mapResponse', { url: 'http://x/r', mapResponse: {} }, 'mapResponse'],
    ['a non-function releaseUrl', { url: 'http://x/r', releaseUrl: 1 }, 'releaseUrl'],
    [
      'a bad idempotency header',
      { url: 'http://x/r', idempotencyHeader: 'a b' },
      'idempotencyHeader',
    ],
    ['a logger without methods', { url: 'http://x/r', logger: {} }, 'logger'],
    ['a non-boolean release', { url: 'http://x/r', release: 'yes' }, 'release'],
    [
      'a header value with a newline',
      { url: 'http://x/r', headers: { 'x-key': 'a\nb' } },
      'headers.x-key',
    ],
    ['a non-string header value', { url: 'http://x/r', headers: { 'x-n': 1 } }, 'headers.x-n'],
  ];

  it.each(invalid)(
    'rejects %s with a ConfigurationError naming the option',
    (_label, options, option) => {
      expect(() => createHttpReserver(options as HttpReserverOptions)).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', details: { option } }),
      );
      try {
        createHttpReserver(options as HttpReserverOptions);
      } catch (error) {
        expect(ConfigurationError.is(error)).toBe(true);
      }
    },
  );

  it('never echoes a header value in the configuration error', () => {
    expect(() =>
      createHttpReserver({ url: 'http://x/r', headers: { authorization: 'Bearer secret\n' } }),
    ).toThrow(expect.objectContaining({ message: expect.not.stringContaining('secret') }));
  });

  it('accepts a URL object', async () => {
    const service = await fake();
    const reserver = reserverFor(service.url);
    const viaObject = createHttpReserver({ url: new URL(service.url) });
    cleanups.push(() => viaObject.close());
    expect((await viaObject.reserve(request())).reservationId).toMatch(/^rsv_/);
    expect(reserver).toBeDefined();
  });
});

describe('logging', () => {
  it('logs one debug line per call, without headers or credentials', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const record = (fields: Record<string, unknown>) => {
      lines.push(fields);
    };
    const logger: Logger = { debug: record, info: record, warn: record, error: record };
    const service = await fake();
    const url = new URL(service.url);
    url.username = 'user';
    url.password = 'pass';
    const reserver = reserverFor(url.toString(), {
      logger,
      headers: { authorization: 'Bearer top-secret-token' },
    });
    await reserver.reserve(request('key-1'));
    expect(lines).toEqual([
      {
        method: 'POST',
        url: service.url,
        idempotencyKey: 'key-1',
        status: 201,
        durationMs: expect.any(Number),
      },
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/top-secret|pass/);
  });
});
