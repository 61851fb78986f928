import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { ConfigurationError, type Logger } from '@cartkit/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type FakeReservationService,
  type FakeReservationServiceOptions,
  seededRandom,
  startFakeReservationService,
} from '../src/index.js';

const services: FakeReservationService[] = [];

async function start(options: FakeReservationServiceOptions = {}) {
  const service = await startFakeReservationService(options);
  services.push(service);
  return service;
}

afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.close()));
});

interface CallOptions {
  readonly key?: string;
  readonly body?: unknown;
  readonly raw?: string;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
}

async function reserve(service: FakeReservationService, options: CallOptions = {}) {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(options.key === undefined ? {} : { 'idempotency-key': options.key }),
    ...options.headers,
  };
  const response = await fetch(service.url, {
    method: 'POST',
    headers,
    body: options.raw ?? JSON.stringify(options.body ?? { name: 'Product1', quantity: 2 }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return { status: response.status, headers: response.headers, body: await bodyOf(response) };
}

async function release(service: FakeReservationService, id: string) {
  const response = await fetch(`${service.url}/${encodeURIComponent(id)}`, { method: 'DELETE' });
  return { status: response.status, headers: response.headers, body: await bodyOf(response) };
}

async function bodyOf(response: Response): Promise<Record<string, unknown> | undefined> {
  const text = await response.text();
  return text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
}

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Sends raw bytes and returns the raw answer (or whatever came before the socket closed). */
function rawExchange(service: FakeReservationService, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(service.port, '127.0.0.1', () => socket.end(bytes));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('fake reservation service: protocol', () => {
  it('reserves with 201 and a reservation_id, and counts', async () => {
    const service = await start();
    expect(service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/reservations$/);
    const answer = await reserve(service, { key: 'k1' });
    expect(answer.status).toBe(201);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.body?.reservation_id).toEqual(expect.any(String));
    expect(service.reservations()).toEqual([
      {
        reservationId: answer.body?.reservation_id,
        name: 'Product1',
        quantity: 2,
        idempotencyKey: 'k1',
      },
    ]);
    expect(service.stats).toMatchObject({
      requests: 1,
      reserveCalls: 1,
      reservationsMade: 1,
      held: 1,
      inProgress: 0,
    });
    expect(service.stats.byStatus.get(201)).toBe(1);
  });

  it('replays the first answer for a repeated key and body', async () => {
    const service = await start();
    const first = await reserve(service, { key: 'same' });
    const again = await reserve(service, { key: 'same' });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(service.callsForKey('same')).toBe(2);
    expect(service.stats).toMatchObject({ reserveCalls: 2, reservationsMade: 1, replays: 1 });
  });

  it('makes a new reservation per call without a key, and per distinct key', async () => {
    const service = await start();
    const a = await reserve(service);
    const b = await reserve(service);
    const c = await reserve(service, { key: 'k' });
    const ids = new Set([a.body?.reservation_id, b.body?.reservation_id, c.body?.reservation_id]);
    expect(ids.size).toBe(3);
    expect(service.stats.reservationsMade).toBe(3);
  });

  it('answers 422 to a repeated key with another body', async () => {
    const service = await start();
    await reserve(service, { key: 'k' });
    const other = await reserve(service, { key: 'k', body: { name: 'Product1', quantity: 3 } });
    expect(other.status).toBe(422);
    expect(other.body?.error).toMatch(/different request body/);
    expect(service.stats.reservationsMade).toBe(1);
  });

  it('answers 425 with Retry-After while the first call with a key is running', async () => {
    const service = await start({ faults: { latencyMs: 2_000 }, inProgressRetryAfterSeconds: 3 });
    const first = reserve(service, { key: 'slow' });
    await waitFor(() => service.stats.inProgress === 1);
    service.setFaults({ latencyMs: 0 });
    const second = await reserve(service, { key: 'slow' });
    expect(second.status).toBe(425);
    expect(second.headers.get('retry-after')).toBe('3');
    expect(service.stats.reservationsMade).toBe(0);
    await service.close();
    await expect(first).rejects.toThrow();
  });

  it('releases with 204, then 404 for a released or unknown id', async () => {
    const service = await start();
    const made = await reserve(service, { key: 'k' });
    const id = String(made.body?.reservation_id);
    expect((await release(service, id)).status).toBe(204);
    expect((await release(service, id)).status).toBe(404);
    const unknown = await release(service, 'no such/id');
    expect(unknown.status).toBe(404);
    expect(unknown.body?.error).toContain('no such/id');
    expect(service.stats).toMatchObject({ releaseCalls: 3, releases: 1, held: 0 });
    expect(service.reservations()).toEqual([]);
  });

  it('shows a held reservation with GET', async () => {
    const service = await start();
    const made = await reserve(service);
    const id = String(made.body?.reservation_id);
    const shown = await fetch(`${service.url}/${id}`);
    expect(shown.status).toBe(200);
    expect(await shown.json()).toEqual({ reservation_id: id, name: 'Product1', quantity: 2 });
    expect((await fetch(`${service.url}/unknown`)).status).toBe(404);
  });

  it('serves a configured path', async () => {
    const service = await start({ path: '/api/v2/holds' });
    expect(service.url).toBe(`${service.origin}/api/v2/holds`);
    expect((await reserve(service)).status).toBe(201);
  });

  it('forgets everything on reset(), faults excepted', async () => {
    const service = await start({ faults: { refuse: ['Forbidden'] } });
    await reserve(service, { key: 'k' });
    service.reset();
    expect(service.stats).toMatchObject({ requests: 0, reservationsMade: 0, held: 0 });
    expect(service.callsForKey('k')).toBe(0);
    expect((await reserve(service, { key: 'k', body: { name: 'x', quantity: 9 } })).status).toBe(
      201,
    );
    expect(service.faults().refuse).toEqual(['Forbidden']);
  });

  it('remembers at most maxKeys idempotency keys, forgetting the oldest first', async () => {
    const service = await start({ maxKeys: 2 });
    const first = await reserve(service, { key: 'k1' });
    await reserve(service, { key: 'k2' });
    const third = await reserve(service, { key: 'k3' });
    expect(service.stats.callsByKey.size).toBe(2);
    expect(service.callsForKey('k1')).toBe(0);
    // The newest keys still replay; the forgotten one is a new call.
    const replay = await reserve(service, { key: 'k3' });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(third.body);
    const again = await reserve(service, { key: 'k1' });
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(again.body?.reservation_id).not.toBe(first.body?.reservation_id);
    expect(service.stats.callsByKey.size).toBe(2);
  });
});

describe('fake reservation service: faults', () => {
  it('refuses listed names with 409 and a reason, and replays the refusal', async () => {
    const service = await start({ faults: { refuse: ['Forbidden'] } });
    const refused = await reserve(service, { key: 'r', body: { name: 'Forbidden', quantity: 1 } });
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({ error: 'Item "Forbidden" cannot be reserved.' });
    const again = await reserve(service, { key: 'r', body: { name: 'Forbidden', quantity: 1 } });
    expect(again.status).toBe(409);
    expect(service.stats.reservationsMade).toBe(0);
  });

  it('refuses by predicate with 422 when asked', async () => {
    const service = await start({
      faults: { refuse: (name) => name.startsWith('X'), refuseStatus: 422 },
    });
    expect((await reserve(service, { body: { name: 'Xylophone', quantity: 1 } })).status).toBe(422);
    expect((await reserve(service, { body: { name: 'Drum', quantity: 1 } })).status).toBe(201);
  });

  it('injects 503 with Retry-After and frees the key for a retry', async () => {
    const service = await start({
      faults: { unavailableRate: 1, unavailableRetryAfterSeconds: 7 },
    });
    const failed = await reserve(service, { key: 'k' });
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('7');
    service.setFaults({ unavailableRate: 0 });
    const retried = await reserve(service, { key: 'k' });
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(service.stats.byStatus.get(503)).toBe(1);
  });

  it('injects 429 with Retry-After', async () => {
    const service = await start({ faults: { throttleRate: 1, throttleRetryAfterSeconds: 2 } });
    const throttled = await reserve(service, { key: 'k' });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('2');
    expect(service.stats.reservationsMade).toBe(0);
  });

  it('answers 503 to everything while down, and recovers at runtime', async () => {
    const service = await start();
    const made = await reserve(service);
    service.setFaults({ down: true, unavailableRetryAfterSeconds: 5 });
    const down = await reserve(service);
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    expect((await release(service, String(made.body?.reservation_id))).status).toBe(503);
    expect((await reserve(service, { raw: 'not even JSON' })).status).toBe(503);
    expect((await fetch(`${service.url}/${made.body?.reservation_id}`)).status).toBe(503);
    expect(service.stats).toMatchObject({ reserveCalls: 3, releaseCalls: 1, held: 1 });
    service.setFaults({ down: false });
    expect((await reserve(service)).status).toBe(201);
    service.resetFaults();
    expect(service.faults()).toEqual({});
  });

  it('decides fault shares from the seeded random source, reproducibly', async () => {
    const statuses = async (seed: number) => {
      const service = await start({ seed, faults: { unavailableRate: 0.5 } });
      const result: number[] = [];
      for (let i = 0; i < 20; i++) result.push((await reserve(service)).status);
      return result;
    };
    const first = await statuses(7);
    expect(await statuses(7)).toEqual(first);
    const random = seededRandom(7);
    const expected = Array.from({ length: 20 }, () => (random() < 0.5 ? 503 : 201));
    expect(first).toEqual(expected);
    expect(first).toContain(503);
    expect(first).toContain(201);
  });

  it('uses an injected random source', async () => {
    const never = await start({ random: () => 0.99, faults: { unavailableRate: 0.5 } });
    expect((await reserve(never)).status).toBe(201);
    const always = await start({ random: () => 0.01, faults: { unavailableRate: 0.5 } });
    expect((await reserve(always)).status).toBe(503);
  });

  it('delays answers by the latency', async () => {
    const service = await start({ faults: { latencyMs: { min: 150, max: 150 } } });
    const started = performance.now();
    expect((await reserve(service)).status).toBe(201);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('hangs after processing by default: the retry gets the first reservation', async () => {
    const service = await start({ faults: { hangRate: 1 } });
    await expect(
      reserve(service, { key: 'k', signal: AbortSignal.timeout(200) }),
    ).rejects.toThrow();
    expect(service.stats).toMatchObject({ hung: 1, reservationsMade: 1 });
    service.setFaults({ hangRate: 0 });
    const retried = await reserve(service, { key: 'k' });
    expect(retried.status).toBe(201);
    expect(retried.body?.reservation_id).toBe(service.reservations()[0]?.reservationId);
    expect(service.stats.reservationsMade).toBe(1);
  });

  it('hangs before processing when asked: nothing is reserved and the key is free', async () => {
    const service = await start({ faults: { hangRate: 1, hangMode: 'before-processing' } });
    await expect(
      reserve(service, { key: 'k', signal: AbortSignal.timeout(200) }),
    ).rejects.toThrow();
    expect(service.stats).toMatchObject({ hung: 1, reservationsMade: 0, inProgress: 0 });
    service.setFaults({ hangRate: 0 });
    expect((await reserve(service, { key: 'k' })).status).toBe(201);
  });

  it('applies faults to replays too: a hung or failing service does not answer retries', async () => {
    const service = await start();
    const first = await reserve(service, { key: 'k' });
    service.setFaults({ hangRate: 1 });
    await expect(
      reserve(service, { key: 'k', signal: AbortSignal.timeout(200) }),
    ).rejects.toThrow();
    service.setFaults({ hangRate: 0, unavailableRate: 1 });
    expect((await reserve(service, { key: 'k' })).status).toBe(503);
    service.resetFaults();
    const replay = await reserve(service, { key: 'k' });
    expect(replay.body).toEqual(first.body);
    expect(service.stats).toMatchObject({ hung: 1, replays: 1, reservationsMade: 1 });
  });

  it('rejects invalid fault settings with a ConfigurationError naming the field', async () => {
    await expect(start({ faults: { hangRate: 2 } })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      details: { option: 'faults.hangRate' },
    });
    await expect(start({ path: 'reservations' })).rejects.toSatisfy(
      (error: unknown) => ConfigurationError.is(error) && error.details.option === 'path',
    );
    await expect(start({ maxKeys: 0 })).rejects.toMatchObject({ details: { option: 'maxKeys' } });
    const service = await start();
    expect(() => service.setFaults({ latencyMs: { min: 5, max: 1 } })).toThrow(/latencyMs/);
    expect(() => service.setFaults({ refuseStatus: 400 as 409 })).toThrow(/refuseStatus/);
  });
});

describe('fake reservation service: malformed input', () => {
  it('answers 400 to bad JSON', async () => {
    const service = await start();
    const answer = await reserve(service, { raw: '{"name": "Product1",' });
    expect(answer.status).toBe(400);
    expect(answer.body?.error).toMatch(/not valid JSON/);
  });

  it.each([
    ['an array', '[1,2]', /JSON object/],
    ['a missing name', '{"quantity": 1}', /"name"/],
    ['a blank name', '{"name": "  ", "quantity": 1}', /"name"/],
    ['a zero quantity', '{"name": "a", "quantity": 0}', /"quantity"/],
    ['a fractional quantity', '{"name": "a", "quantity": 1.5}', /"quantity"/],
    ['a string quantity', '{"name": "a", "quantity": "2"}', /"quantity"/],
  ])('answers 422 to %s', async (_label, raw, message) => {
    const service = await start();
    const answer = await reserve(service, { raw });
    expect(answer.status).toBe(422);
    expect(answer.body?.error).toMatch(message);
  });

  it('answers 413 to an announced oversized body', async () => {
    const service = await start({ maxBodyBytes: 1_024 });
    const answer = await reserve(service, {
      raw: JSON.stringify({ name: 'x'.repeat(5_000), quantity: 1 }),
    });
    expect(answer.status).toBe(413);
    expect(service.stats.reservationsMade).toBe(0);
  });

  it('answers 413 to a streamed (chunked) oversized body without reading it all', async () => {
    const service = await start({ maxBodyBytes: 1_024 });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(service.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      req.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(`{"name": "${'x'.repeat(4_000)}`);
      // Never ends the body: the service must answer on its own.
    });
    expect(status).toBe(413);
  });

  it('answers 415 to a non-JSON content type and 400 to a bad key', async () => {
    const service = await start();
    const form = await reserve(service, { headers: { 'content-type': 'text/plain' } });
    expect(form.status).toBe(415);
    const badKey = await reserve(service, { key: 'x'.repeat(300) });
    expect(badKey.status).toBe(400);
    expect(badKey.body?.error).toMatch(/Idempotency-Key/);
  });

  it('answers 404 and 405 to unknown routes and methods', async () => {
    const service = await start();
    expect((await fetch(`${service.origin}/elsewhere`)).status).toBe(404);
    const wrong = await fetch(service.url, { method: 'PUT' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect((await fetch(`${service.url}/a/b`, { method: 'DELETE' })).status).toBe(404);
    expect((await fetch(`${service.url}/%E0%A4%A`, { method: 'DELETE' })).status).toBe(400);
  });

  it('survives garbage on the wire and keeps serving', async () => {
    const service = await start();
    const answer = await rawExchange(service, 'NOT HTTP AT ALL\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect((await reserve(service)).status).toBe(201);
  });

  it('survives a client that disconnects mid-body', async () => {
    const service = await start();
    await new Promise<void>((resolve) => {
      const socket = connect(service.port, '127.0.0.1', () => {
        socket.write(
          `POST /reservations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na`,
        );
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
    });
    expect((await reserve(service)).status).toBe(201);
  });
});

describe('fake reservation service: close and logging', () => {
  it('closes promptly with hung calls and calls waiting on latency open', async () => {
    const service = await start({ faults: { hangRate: 1 } });
    const hung = new Promise<string>((resolve) => {
      const req = httpRequest(service.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      req.on('response', () => resolve('answered'));
      req.end(JSON.stringify({ name: 'a', quantity: 1 }));
    });
    await waitFor(() => service.stats.hung === 1);
    service.setFaults({ hangRate: 0, latencyMs: 60_000 });
    const slow = reserve(service).catch(() => 'failed');
    await waitFor(() => service.stats.requests === 2);
    const started = performance.now();
    await service.close();
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await hung).toBe('ECONNRESET');
    expect(await slow).toBe('failed');
    await service.close(); // idempotent
  });

  it('logs one debug line per call through the logger', async () => {
    const lines: Array<{ fields: Record<string, unknown>; message: string | undefined }> = [];
    const record = (fields: Record<string, unknown>, message?: string) => {
      lines.push({ fields, message });
    };
    const logger: Logger = { debug: record, info: record, warn: record, error: record };
    const service = await start({ logger });
    await reserve(service, { key: 'k' });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.fields).toMatchObject({
      method: 'POST',
      path: '/reservations',
      status: 201,
      idempotencyKey: 'k',
    });
  });
});
