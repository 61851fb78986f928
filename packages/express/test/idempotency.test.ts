import { MemoryCartStorage } from '@cartkit/core';
import { DEFAULT_IDEMPOTENCY_TTL_MS } from '@cartkit/express';
import { FakeClock } from '@cartkit/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { requestFingerprint } from '../src/idempotency/idempotency-key.js';
import { type CartApi, startCartApi } from './support/cart-api.js';
import { GatedStorage } from './support/gated-storage.js';

let api: CartApi;
afterEach(async () => {
  await api?.close();
});

const key = (value: string) => ({ 'idempotency-key': value });

describe('Idempotency-Key on POST /items', () => {
  it('replays the first response to a retry and changes nothing', async () => {
    api = await startCartApi();
    const first = await api.post('/items', { name: 'Apple', quantity: 2 }, key('k-1'));
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    await api.runtime.scheduler.whenIdle();
    const stored = await api.stored();

    const retry = await api.post('/items', { quantity: 2, name: 'Apple' }, key('"k-1"'));
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(retry.headers.get('location')).toBe(first.headers.get('location'));
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await api.stored()).toEqual(stored);
    expect((await api.get('/items')).body.items[0].quantity).toBe(2);
  });

  it('runs requests with different keys (or none) each time', async () => {
    api = await startCartApi();
    await api.post('/items', { name: 'Apple' }, key('a'));
    await api.post('/items', { name: 'Apple' }, key('b'));
    await api.post('/items', { name: 'Apple' });
    expect((await api.get('/items')).body.items[0].quantity).toBe(3);
  });

  it('refuses the same key with another body or path with 422', async () => {
    api = await startCartApi();
    expect((await api.post('/items', { name: 'Apple' }, key('k-2'))).status).toBe(201);
    await api.runtime.scheduler.whenIdle();
    const stored = await api.stored();

    const otherBody = await api.post('/items', { name: 'Apple', quantity: 5 }, key('k-2'));
    expect(otherBody.status).toBe(422);
    expect(otherBody.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const otherPath = await api.post('/reserve', { name: 'Apple' }, key('k-2'));
    expect(otherPath.status).toBe(422);
    expect(otherPath.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await api.stored()).toEqual(stored);
  });

  it('answers 409 while the first request is still running, then replays it', async () => {
    const storage = new GatedStorage();
    api = await startCartApi({ storage });
    const gate = storage.holdNextSave();
    const first = api.post('/items', { name: 'Apple' }, key('slow'));
    await gate.reached;

    const concurrent = await api.post('/items', { name: 'Apple' }, key('slow'));
    expect(concurrent.status).toBe(409);
    expect(concurrent.body.code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
    expect(concurrent.headers.get('retry-after')).toBe('1');
    const otherBody = await api.post('/items', { name: 'Pear' }, key('slow'));
    expect(otherBody.status).toBe(422);

    gate.open();
    expect((await first).status).toBe(201);
    const retry = await api.post('/items', { name: 'Apple' }, key('slow'));
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect((await api.get('/items')).body.items).toMatchObject([{ name: 'Apple', quantity: 1 }]);
  });

  it('releases the key when the first request fails, so a corrected retry runs', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    const failed = await api.post('/reserve', { name: 'Apple' }, key('k-3'));
    expect(failed.status).toBe(404);
    await api.post('/items', { name: 'Apple' });

    const retried = await api.post('/reserve', { name: 'Apple' }, key('k-3'));
    expect(retried.status).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
  });

  it('leaves the key alone when the request is refused before it runs', async () => {
    api = await startCartApi();
    const invalid = await api.post('/items', { name: 'Apple', quantity: 0 }, key('k-4'));
    expect(invalid.status).toBe(400);
    const stale = await api.post('/items', { name: 'Apple' }, { ...key('k-4'), 'if-match': '"9"' });
    expect(stale.status).toBe(412);
    const valid = await api.post('/items', { name: 'Apple' }, key('k-4'));
    expect(valid.status).toBe(201);
    expect(valid.headers.get('idempotent-replayed')).toBeNull();
    expect(await api.storage.idempotency?.get('http:7:default:k-4')).toMatchObject({
      status: 'completed',
      response: { status: 201 },
    });
  });

  it('records the answer in the same write as the cart change (no separate completion)', async () => {
    const storage = new MemoryCartStorage();
    const complete = vi.spyOn(storage.idempotency, 'complete');
    api = await startCartApi({ storage });
    const first = await api.post('/items', { name: 'Apple' }, key('atomic'));
    expect(first.status).toBe(201);
    expect(complete).not.toHaveBeenCalled();
    const retry = await api.post('/items', { name: 'Apple' }, key('atomic'));
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body).toEqual(first.body);
  });

  it('lets a retry take over a claim whose request died, once its lease has passed', async () => {
    const clock = new FakeClock(Date.now());
    const storage = new MemoryCartStorage({ clock });
    api = await startCartApi({ storage, router: { clock, idempotencyLeaseMs: 5_000 } });
    // What a process killed mid-request leaves behind: a claim, and no cart change.
    const body = { name: 'Apple' };
    await storage.idempotency.claim({
      key: 'http:7:default:orphan',
      fingerprint: requestFingerprint('POST', '/items', body),
      status: 'in-progress',
      response: null,
      leaseUntil: clock.now() + 5_000,
      expiresAt: clock.now() + DEFAULT_IDEMPOTENCY_TTL_MS,
    });
    const early = await api.post('/items', body, key('orphan'));
    expect(early.status).toBe(409);
    expect(early.body.code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
    const otherBody = await api.post('/items', { name: 'Pear' }, key('orphan'));
    expect(otherBody.status).toBe(422);

    await clock.advance(5_000);
    const retry = await api.post('/items', body, key('orphan'));
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    const again = await api.post('/items', body, key('orphan'));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await api.get('/items')).body.items).toMatchObject([{ name: 'Apple', quantity: 1 }]);
  });

  it('applies a request once when a retry takes over while the first still runs', async () => {
    // Two server instances on one storage; the first overruns its lease.
    const clock = new FakeClock(Date.now());
    const storage = new GatedStorage({ clock });
    const router = { clock, idempotencyLeaseMs: 1_000 };
    api = await startCartApi({ storage, router });
    const other = await startCartApi({ storage, router });
    try {
      const gate = storage.holdNextSave();
      const first = api.post('/items', { name: 'Apple' }, key('overrun'));
      await gate.reached;
      await clock.advance(1_000);

      const takeover = await other.post('/items', { name: 'Apple' }, key('overrun'));
      expect(takeover.status).toBe(201);
      expect(takeover.headers.get('idempotent-replayed')).toBeNull();
      gate.open();
      const late = await first;
      // The first run lost: its write saved nothing and it answers as the winner did.
      expect(late.status).toBe(201);
      expect(late.body).toEqual(takeover.body);
      expect(late.headers.get('idempotent-replayed')).toBe('true');
      expect((await api.get('/items')).body.items).toMatchObject([{ name: 'Apple', quantity: 1 }]);
    } finally {
      await other.close();
    }
  });

  it('applies a request once when its take-over is combined into the same save as the first run', async () => {
    // One instance: the first run waits behind a save in flight past its lease; the
    // retry takes the key over and queues behind the same save, so both runs of the
    // request are in one combined write, each with a record for the same key.
    const clock = new FakeClock(Date.now());
    const storage = new GatedStorage({ clock });
    api = await startCartApi({ storage, router: { clock, idempotencyLeaseMs: 1_000 } });
    const service = api.runtime.service;
    const original = service.addItem.bind(service);
    let calls = 0;
    const reached: Array<() => void> = [];
    const called = (n: number) =>
      new Promise<void>((resolve) => {
        reached[n] = resolve;
      });
    const secondCall = called(2);
    const thirdCall = called(3);
    service.addItem = (...args: Parameters<typeof original>) => {
      const written = original(...args);
      reached[++calls]?.();
      return written;
    };
    const gate = storage.holdNextSave();
    const inFlight = api.post('/items', { name: 'Pear' });
    await gate.reached;
    const first = api.post('/items', { name: 'Apple' }, key('twice'));
    await secondCall;
    await clock.advance(1_000);
    const takeover = api.post('/items', { name: 'Apple' }, key('twice'));
    await thirdCall;
    gate.open();
    expect((await inFlight).status).toBe(201);
    const answers = await Promise.all([first, takeover]);
    expect(answers.map((a) => a.status)).toEqual([201, 201]);
    expect(answers[1]?.body).toEqual(answers[0]?.body);
    expect(answers[1]?.headers.get('etag')).toBe(answers[0]?.headers.get('etag'));
    expect(answers.map((a) => a.headers.get('idempotent-replayed'))).toEqual([null, 'true']);
    expect((await api.get('/items')).body.items).toMatchObject([
      { name: 'Pear', quantity: 1 },
      { name: 'Apple', quantity: 1 },
    ]);
  });

  it('forgets keys after the TTL', async () => {
    const clock = new FakeClock(Date.now());
    const storage = new GatedStorage({ clock });
    api = await startCartApi({ storage, router: { clock, idempotencyTtlMs: 60_000 } });
    await api.post('/items', { name: 'Apple' }, key('k-5'));
    await clock.advance(59_999);
    expect(
      (await api.post('/items', { name: 'Apple' }, key('k-5'))).headers.get('idempotent-replayed'),
    ).toBe('true');
    await clock.advance(1);
    const after = await api.post('/items', { name: 'Apple' }, key('k-5'));
    expect(after.headers.get('idempotent-replayed')).toBeNull();
    expect(after.body.item.quantity).toBe(2);
  });
});

describe('Idempotency-Key on POST /reserve', () => {
  it('replays 202 (not 200) to a retry of the request that started the job', async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    const first = await api.post('/reserve', { name: 'Apple' }, key('r-1'));
    expect(first.status).toBe(202);
    expect(first.body.reservation.status).toBe('pending');
    await api.runtime.scheduler.whenIdle();

    const retry = await api.post('/reserve', { name: 'Apple' }, key('r-1'));
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual(first.body);
    const fresh = await api.post('/reserve', { name: 'Apple' });
    expect(fresh.status).toBe(200);
    expect(fresh.body.reservation.status).toBe('reserved');
    expect(api.reserver.distinctReservations).toBe(1);
  });

  it('records the answer of a request that changed nothing separately', async () => {
    const storage = new MemoryCartStorage();
    const complete = vi.spyOn(storage.idempotency, 'complete');
    api = await startCartApi({ storage, cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    await api.post('/reserve', { name: 'Apple' });
    const unchanged = await api.post('/reserve', { name: 'Apple' }, key('r-2'));
    expect(unchanged.status).toBe(200);
    expect(complete).toHaveBeenCalledTimes(1);
    const retry = await api.post('/reserve', { name: 'Apple' }, key('r-2'));
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body).toEqual(unchanged.body);
  });
});
