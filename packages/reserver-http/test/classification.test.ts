import { randomUUID } from 'node:crypto';
import { type Clock, ReservationError, systemClock } from '@cartkit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpReserver, type HttpReserverOptions } from '../src/index.js';
import {
  answer,
  type Script,
  type ScriptedServer,
  startScriptedServer,
} from './support/scripted-server.js';

const servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const request = (name = 'Product1') => ({
  name,
  quantity: 2,
  idempotencyKey: randomUUID(),
  cartId: 'c1',
});

/** Reserves once against a server running `script`; returns the id or the error. */
async function reserveAgainst(
  script: Script,
  options: Omit<HttpReserverOptions, 'url'> = {},
): Promise<{ id?: string; error?: ReservationError }> {
  const server = await startScriptedServer(script);
  servers.push(server);
  const reserver = createHttpReserver({ url: server.url, ...options });
  try {
    const { reservationId } = await reserver.reserve(request());
    return { id: reservationId };
  } catch (error) {
    if (!ReservationError.is(error)) throw error;
    return { error };
  } finally {
    await reserver.close();
  }
}

describe('status classification', () => {
  it.each([
    [200, { reservation_id: 'r-200' }, 'r-200'],
    [201, { reservation_id: 'r-201' }, 'r-201'],
    [201, { id: 'by-id' }, 'by-id'],
    [201, { id: 42 }, '42'],
    [202, { reservation_id: 'r', id: 'ignored' }, 'r'],
  ])('%i %j succeeds with id %s', async (status, body, id) => {
    expect(await reserveAgainst(answer(status, body))).toEqual({ id });
  });

  it.each([400, 404, 409, 410, 422, 401, 403, 405, 413, 415])(
    '%i is a permanent RESERVATION_REFUSED',
    async (status) => {
      const { error } = await reserveAgainst(answer(status, { error: 'no' }));
      expect(error).toMatchObject({ code: 'RESERVATION_REFUSED', transient: false, status });
    },
  );

  it.each([408, 425, 429, 500, 502, 503, 504, 599])(
    '%i is a transient RESERVATION_UNAVAILABLE',
    async (status) => {
      const { error } = await reserveAgainst(answer(status, { error: 'later' }));
      expect(error).toMatchObject({
        code: 'RESERVATION_UNAVAILABLE',
        transient: true,
        status,
        retryAfterMs: undefined,
      });
    },
  );

  it.each([
    [301, { location: 'http://elsewhere.example/r' }],
    [302, {}],
    [307, { location: '/other' }],
  ])(
    '%i is a permanent RESERVATION_BAD_RESPONSE (redirects are not followed)',
    async (status, headers) => {
      const { error } = await reserveAgainst(answer(status, undefined, headers));
      expect(error).toMatchObject({ code: 'RESERVATION_BAD_RESPONSE', transient: false, status });
      expect(error?.message).toMatch(/redirects are not followed/);
    },
  );

  it('treats a status outside 1xx-5xx as a bad response', async () => {
    const { error } = await reserveAgainst(answer(600, { reservation_id: 'x' }));
    expect(error).toMatchObject({
      code: 'RESERVATION_BAD_RESPONSE',
      transient: false,
      status: 600,
    });
  });
});

describe('Retry-After', () => {
  const frozenClock: Clock = {
    now: () => Date.UTC(2026, 0, 1, 12, 0, 0),
    setTimer: systemClock.setTimer,
  };

  it('reads delta-seconds', async () => {
    const { error } = await reserveAgainst(answer(503, { error: 'down' }, { 'retry-after': '7' }));
    expect(error).toMatchObject({ transient: true, status: 503, retryAfterMs: 7_000 });
    expect(error?.message).toMatch(/retry after 7000 ms/);
  });

  it('reads an HTTP-date against the clock', async () => {
    const date = new Date(Date.UTC(2026, 0, 1, 12, 0, 30)).toUTCString();
    const { error } = await reserveAgainst(answer(429, undefined, { 'retry-after': date }), {
      clock: frozenClock,
    });
    expect(error).toMatchObject({ transient: true, status: 429, retryAfterMs: 30_000 });
  });

  it('gives 0 for a date in the past and nothing for garbage', async () => {
    const past = new Date(Date.UTC(2025, 0, 1)).toUTCString();
    const before = await reserveAgainst(answer(503, undefined, { 'retry-after': past }), {
      clock: frozenClock,
    });
    expect(before.error?.retryAfterMs).toBe(0);
    const garbage = await reserveAgainst(answer(503, undefined, { 'retry-after': 'soon' }));
    expect(garbage.error).toMatchObject({ transient: true, retryAfterMs: undefined });
  });

  it('is honoured on 425 (a key still in progress)', async () => {
    const { error } = await reserveAgainst(answer(425, undefined, { 'retry-after': '2' }));
    expect(error).toMatchObject({ transient: true, status: 425, retryAfterMs: 2_000 });
  });
});

describe('untrusted response bodies', () => {
  it.each([
    ['an empty 204', answer(204), /body is empty/],
    ['an empty 200', answer(200, ''), /body is empty/],
    ['an object without an id', answer(200, { ok: true }), /no reservation id/],
    ['a blank id', answer(201, { reservation_id: '  ' }), /no reservation id/],
    ['a boolean id', answer(201, { reservation_id: true }), /no reservation id/],
    ['a JSON array', answer(201, [1, 2]), /no reservation id/],
    ['a JSON string', answer(201, '"just-a-string"'), /no reservation id/],
    [
      'HTML',
      answer(200, '<html>oops</html>', { 'content-type': 'text/html' }),
      /not JSON \(content-type "text\/html", starts with "<html>oops<\/html>"\)/,
    ],
    ['truncated JSON', answer(201, '{"reservation_id": "ab'), /not JSON/],
    [
      'an id with control characters',
      answer(201, { reservation_id: 'a\nb' }),
      /control characters/,
    ],
    [
      'an overlong id',
      answer(201, { reservation_id: 'x'.repeat(513) }),
      /longer than 512 characters/,
    ],
  ])('rejects %s as a permanent RESERVATION_BAD_RESPONSE', async (_label, script, message) => {
    const { error } = await reserveAgainst(script);
    expect(error).toMatchObject({ code: 'RESERVATION_BAD_RESPONSE', transient: false });
    expect(error?.message).toMatch(message);
  });

  it('rejects an oversized body announced by Content-Length without reading it', async () => {
    const { error } = await reserveAgainst(
      answer(201, { reservation_id: 'r', padding: 'x'.repeat(10_000) }),
      { maxResponseBytes: 1_024 },
    );
    expect(error).toMatchObject({
      code: 'RESERVATION_BAD_RESPONSE',
      transient: false,
      status: 201,
    });
    expect(error?.message).toMatch(/larger than 1024 bytes/);
  });

  it('cuts off an endless streamed body at the limit instead of buffering it', async () => {
    let timer: NodeJS.Timeout | undefined;
    const endless: Script = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"reservation_id": "r", "padding": "');
      timer = setInterval(() => response.write('x'.repeat(512)), 5);
      response.on('close', () => clearInterval(timer));
    };
    const started = performance.now();
    const { error } = await reserveAgainst(endless, { maxResponseBytes: 4_096, timeoutMs: 20_000 });
    clearInterval(timer);
    expect(error).toMatchObject({ code: 'RESERVATION_BAD_RESPONSE', transient: false });
    expect(error?.message).toMatch(/larger than 4096 bytes/);
    // Well before the 20 s timeout: it stopped at the limit rather than waiting for the end.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('keeps a transient status transient when its body is oversized or garbage', async () => {
    const big = await reserveAgainst(answer(503, 'x'.repeat(5_000)), { maxResponseBytes: 100 });
    expect(big.error).toMatchObject({ code: 'RESERVATION_UNAVAILABLE', transient: true });
    const html = await reserveAgainst(
      answer(502, '<h1>Bad gateway</h1>', { 'content-type': 'text/html' }),
    );
    expect(html.error).toMatchObject({ code: 'RESERVATION_UNAVAILABLE', transient: true });
    expect(html.error?.message).not.toContain('<h1>');
  });
});

describe("the service's reason in messages", () => {
  it('quotes {"error"} of a refusal', async () => {
    const { error } = await reserveAgainst(answer(409, { error: 'Out of stock' }));
    expect(error?.message).toBe('Reservation of "Product1" got 409 Conflict: Out of stock.');
  });

  it.each([
    ['message', { message: 'bad quantity' }, 'bad quantity'],
    ['problem+json detail', { title: 'Invalid', detail: 'quantity too high' }, 'quantity too high'],
    ['nested error object', { error: { message: 'nested reason' } }, 'nested reason'],
  ])('quotes %s', async (_label, body, reason) => {
    const { error } = await reserveAgainst(answer(422, body));
    expect(error?.message).toContain(reason);
  });

  it('quotes a text/plain body', async () => {
    const { error } = await reserveAgainst(
      answer(400, 'missing field\r\n  name', { 'content-type': 'text/plain' }),
    );
    expect(error?.message).toContain(': missing field name.');
  });

  it('bounds the length of a quoted reason', async () => {
    const { error } = await reserveAgainst(answer(409, { error: 'y'.repeat(5_000) }));
    expect(error?.message.length).toBeLessThan(300);
    expect(error?.message).toContain('…');
  });
});
