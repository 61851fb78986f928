import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type CartRuntime, createCart, type RetryPolicy } from '@cartkit/core';
import { createHttpReserver } from '@cartkit/reserver-http';
import { createSqliteCartStorage } from '@cartkit/storage-sqlite';
import { type FakeReservationService, startFakeReservationService } from '@cartkit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTimerScheduler } from '../src/index.js';

// The whole chain, for real: SQLite file ↔ CartService ↔ TimerScheduler ↔ HTTP reserver ↔ fake service on loopback.

const script = fileURLToPath(new URL('./fixtures/reservation-process.mjs', import.meta.url));
let dir: string;
let fake: FakeReservationService;
const runtimes: CartRuntime[] = [];
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cartkit-bg-'));
  fake = await startFakeReservationService();
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const runtime of runtimes.splice(0)) await runtime.close({ timeoutMs: 500 });
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(
  retry: Partial<RetryPolicy> = {},
  options: { timeoutMs?: number; db?: string } = {},
) {
  const runtime = await createCart({
    storage: await createSqliteCartStorage({ path: options.db ?? join(dir, 'cart.db') }),
    reserver: createHttpReserver({ url: fake.url, timeoutMs: options.timeoutMs ?? 5_000 }),
    scheduler: (deps) =>
      createTimerScheduler({
        ...deps,
        retry: { baseDelayMs: 5, maxDelayMs: 50, attemptTimeoutMs: 3_000, ...retry },
      }),
  });
  runtimes.push(runtime);
  return runtime;
}

function run(...args: string[]): { child: ChildProcess; lines: AsyncIterator<string> } {
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[
    Symbol.asyncIterator
  ]();
  return { child, lines };
}

async function nextJson(lines: AsyncIterator<string>): Promise<Record<string, number>> {
  const { value, done } = await lines.next();
  if (done === true) throw new Error('child exited without output');
  return JSON.parse(value as string) as Record<string, number>;
}

async function until(predicate: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('background reservations end to end', () => {
  it('adding returns at once; the line goes pending, then reserved with the service id', async () => {
    fake.setFaults({ latencyMs: 2_000 });
    const { service, scheduler } = await start();
    const { line } = await service.addItem('c1', { name: 'Product1', quantity: 2 });
    // Order, not timing: the add has answered while the service (2 s per call) has
    // not answered any reservation yet — the add never waits for it.
    expect(fake.stats.reservationsMade).toBe(0);
    expect(line.reservation?.status).toBe('pending');
    await scheduler.whenIdle();
    const reservation = await service.getReservation('c1', 'Product1');
    expect(reservation?.status).toBe('reserved');
    expect(fake.reservations().map((r) => [r.reservationId, r.name, r.quantity])).toEqual([
      [reservation?.reservationId, 'Product1', 2],
    ]);
  });

  it('with half the calls failing 503, every line ends reserved, each exactly once at the service', async () => {
    fake.setFaults({ unavailableRate: 0.5 });
    const { service, scheduler } = await start({ maxAttempts: 30 });
    for (let i = 0; i < 30; i++) await service.addItem('c1', { name: `item-${i}` });
    await scheduler.whenIdle();
    const lines = await service.listItems('c1');
    expect(lines.map((l) => l.reservation?.status)).toEqual(Array(30).fill('reserved'));
    expect(fake.stats.reservationsMade).toBe(30);
    expect(new Set(fake.reservations().map((r) => r.name)).size).toBe(30);
    expect(fake.stats.byStatus.get(503)).toBeGreaterThan(0);
    // Retries reused their task's key: one key per line, however many calls.
    expect(fake.stats.callsByKey.size).toBe(30);
    expect(fake.stats.reserveCalls).toBeGreaterThan(30);
  });

  it('a hung service times attempts out and retries them; one reservation results', async () => {
    fake.setFaults({ hangRate: 1 });
    const { service, scheduler } = await start({ attemptTimeoutMs: 300 }, { timeoutMs: 5_000 });
    await service.addItem('c1', { name: 'A' });
    await until(() => fake.stats.hung >= 2);
    fake.resetFaults();
    await scheduler.whenIdle();
    const reservation = await service.getReservation('c1', 'A');
    expect(reservation?.status).toBe('reserved');
    expect(reservation?.attempts).toBeGreaterThanOrEqual(3);
    expect(fake.stats.reservationsMade).toBe(1);
  });

  it('a refused name fails at once with the reason, without retry', async () => {
    fake.setFaults({ refuse: ['Forbidden'] });
    const { service, scheduler } = await start();
    await service.addItem('c1', { name: 'Forbidden' });
    await scheduler.whenIdle();
    const reservation = await service.getReservation('c1', 'Forbidden');
    expect(reservation).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: { code: 'RESERVATION_REFUSED' },
    });
    expect(reservation?.lastError?.message).toMatch(/Forbidden|refus/i);
    expect(fake.stats.reserveCalls).toBe(1);
  });

  it('a service down for good fails every task after the maximum attempts; none stays pending', async () => {
    fake.setFaults({ down: true });
    const { service, scheduler, storage } = await start({ maxAttempts: 4 });
    for (const name of ['A', 'B', 'C']) await service.addItem('c1', { name });
    await scheduler.whenIdle();
    const lines = await service.listItems('c1');
    for (const line of lines) {
      expect(line.reservation).toMatchObject({
        status: 'failed',
        attempts: 4,
        lastError: { code: 'RESERVATION_UNAVAILABLE' },
      });
    }
    expect(await storage.nextDueAt()).toBeUndefined();
    expect(fake.stats.reserveCalls).toBe(12);
  });

  it('reserve semantics: unknown item 404, twice while pending one task, after success the same reservation', async () => {
    fake.setFaults({ latencyMs: 300 });
    const { service, scheduler } = await start();
    await service.addItem('c1', { name: 'A' });
    await expect(service.requestReservation('c1', 'Nope')).rejects.toMatchObject({
      code: 'ITEM_NOT_FOUND',
    });
    const whilePending = await service.requestReservation('c1', 'A');
    expect(whilePending.created).toBe(false);
    await scheduler.whenIdle();
    const reserved = await service.getReservation('c1', 'A');
    const afterSuccess = await service.requestReservation('c1', 'A');
    expect(afterSuccess.created).toBe(false);
    expect(afterSuccess.line.reservation?.reservationId).toBe(reserved?.reservationId);
    await scheduler.whenIdle();
    expect(fake.stats.reservationsMade).toBe(1);
  });

  it('changing the quantity of, or removing, a reserved line releases its reservation at the service', async () => {
    const { service, scheduler } = await start();
    await service.addItem('c1', { name: 'A', quantity: 1 });
    await service.addItem('c1', { name: 'B', quantity: 1 });
    await scheduler.whenIdle();
    const oldA = (await service.getReservation('c1', 'A'))?.reservationId;
    await service.setQuantity('c1', 'A', 3);
    await service.removeItem('c1', 'B');
    await scheduler.whenIdle();
    const newA = await service.getReservation('c1', 'A');
    expect(newA).toMatchObject({ status: 'reserved', quantity: 3 });
    expect(fake.reservations().map((r) => [r.reservationId, r.name, r.quantity])).toEqual([
      [newA?.reservationId, 'A', 3],
    ]);
    expect(fake.reservations().some((r) => r.reservationId === oldA)).toBe(false);
    expect(fake.stats.releases).toBe(2);
  });

  it('a process killed with SIGKILL mid-flight loses nothing: the next one finishes all 50 tasks once each', async () => {
    fake.setFaults({ latencyMs: { min: 50, max: 250 } });
    const db = join(dir, 'crash.db');
    const first = run(db, fake.url, 'add', '50');
    expect(await nextJson(first.lines)).toEqual({ added: 50 });
    await until(() => fake.stats.reserveCalls >= 10);
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const before = fake.stats.reservationsMade;
    expect(before).toBeLessThan(50);

    const second = run(db, fake.url, 'drain');
    await nextJson(second.lines);
    const { service } = await start({}, { db });
    const lines = await service.listItems('shared');
    expect(lines).toHaveLength(50);
    expect(lines.every((l) => l.reservation?.status === 'reserved')).toBe(true);
    expect(fake.stats.reservationsMade).toBe(50);
    expect(new Set(fake.reservations().map((r) => r.name)).size).toBe(50);
  }, 60_000);

  it('two processes on one database run each of 100 tasks to success exactly once', async () => {
    fake.setFaults({ latencyMs: { min: 30, max: 80 } });
    const db = join(dir, 'shared.db');
    // Commit 100 tasks with no scheduler delivering them.
    const seeding = await start({}, { db });
    await seeding.scheduler.stop();
    for (let i = 0; i < 100; i++) await seeding.service.addItem('shared', { name: `item-${i}` });

    const a = run(db, fake.url, 'drain');
    const b = run(db, fake.url, 'drain');
    const [resultA, resultB] = await Promise.all([nextJson(a.lines), nextJson(b.lines)]);
    // How the 100 split between the two depends on which process starts first (on a
    // loaded machine one may drain everything before the other polls), so only the
    // total is asserted: together exactly 100 successes, each made once at the fake.
    expect((resultA.successes ?? 0) + (resultB.successes ?? 0)).toBe(100);
    expect(fake.stats.reservationsMade).toBe(100);
    const lines = await seeding.service.listItems('shared');
    expect(lines.every((l) => l.reservation?.status === 'reserved')).toBe(true);
  }, 60_000);

  it('a process killed with SIGKILL while holding claimed work: the other, still running, takes it over; one reservation each', async () => {
    // Slow answers, so the doomed process is surely mid-call (holding leases) when killed.
    fake.setFaults({ latencyMs: { min: 400, max: 800 } });
    const db = join(dir, 'takeover.db');
    // The survivor starts first and keeps running throughout.
    const survivor = run(db, fake.url, 'serve');
    expect(await nextJson(survivor.lines)).toEqual({ serving: true });
    const attemptsSeen: number[] = [];
    const counting = (async () => {
      for (;;) {
        const { value, done } = await survivor.lines.next();
        if (done === true) return;
        const event = JSON.parse(value as string) as { success?: number };
        if (event.success !== undefined) attemptsSeen.push(event.success);
      }
    })();
    const doomed = run(db, fake.url, 'add', '20');
    expect(await nextJson(doomed.lines)).toEqual({ added: 20 });
    // Wait until the doomed process has calls in flight at the service, then kill it.
    await until(() => fake.stats.reserveCalls >= 4);
    doomed.child.kill('SIGKILL');
    await new Promise((resolve) => doomed.child.once('exit', resolve));
    fake.setFaults({ latencyMs: 10 });

    const storage = await createSqliteCartStorage({ path: db });
    try {
      const { service } = await createCart({ storage, scheduler: inertSchedulerFor() });
      await until(() => fake.stats.reservationsMade === 20, 30_000);
      await untilAsync(async () =>
        (await service.listItems('shared')).every((l) => l.reservation?.status === 'reserved'),
      );
      await untilAsync(async () => (await storage.nextDueAt()) === undefined);
      // Exactly one reservation per line at the service, replays included.
      expect(fake.stats.reservationsMade).toBe(20);
      expect(new Set(fake.reservations().map((r) => r.name)).size).toBe(20);
      expect(fake.stats.callsByKey.size).toBe(20);
      // The survivor delivered work the dead process had claimed (second attempts).
      expect(attemptsSeen.some((attempt) => attempt >= 2)).toBe(true);
    } finally {
      await storage.close();
    }
    survivor.child.kill('SIGTERM');
    await counting;
  }, 60_000);
});

/** A scheduler that delivers nothing (this test process only reads). */
function inertSchedulerFor() {
  return {
    start: async () => {},
    notify: () => {},
    whenIdle: async () => {},
    stop: async () => {},
  };
}

async function untilAsync(predicate: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('uncertain outcomes leave nothing held at the service', () => {
  const outcomes: Array<[string, Parameters<FakeReservationService['setFaults']>[0]]> = [
    ['a timeout', { hangRate: 1, hangMode: 'after-processing' }],
    ['a 5xx', { lostAnswerRate: 1, lostAnswerAs: 'server-error' }],
    ['a connection reset', { lostAnswerRate: 1, lostAnswerAs: 'reset' }],
    ['a 2xx without a reservation id', { lostAnswerRate: 1, lostAnswerAs: 'bad-body' }],
  ];

  async function failedButHeld(faults: Parameters<FakeReservationService['setFaults']>[0]) {
    fake.setFaults(faults);
    const runtime = await start({ maxAttempts: 1, attemptTimeoutMs: 300 }, { timeoutMs: 5_000 });
    await runtime.service.addItem('c1', { name: 'A' });
    await runtime.scheduler.whenIdle();
    fake.resetFaults();
    const failed = await runtime.service.getReservation('c1', 'A');
    expect(failed?.status).toBe('failed');
    expect(fake.stats.held).toBe(1); // the service did reserve
    return { ...runtime, failed };
  }

  it.each(outcomes)(
    'after %s, asking again recovers the one reservation instead of a second',
    async (_, faults) => {
      const { service, scheduler, failed } = await failedButHeld(faults);
      await service.requestReservation('c1', 'A');
      await scheduler.whenIdle();
      const reservation = await service.getReservation('c1', 'A');
      expect(reservation?.status).toBe('reserved');
      expect(reservation?.idempotencyKey).toBe(failed?.idempotencyKey);
      expect(fake.reservations().map((r) => r.reservationId)).toEqual([reservation?.reservationId]);
      expect(fake.stats.reservationsMade).toBe(1);
    },
  );

  it.each(outcomes)(
    'after %s, removing the line releases what the service holds',
    async (_, faults) => {
      const { service, scheduler } = await failedButHeld(faults);
      await service.removeItem('c1', 'A');
      await scheduler.whenIdle();
      expect(fake.stats.held).toBe(0);
      expect(fake.stats.reservationsMade).toBe(1);
    },
  );

  it.each(outcomes)(
    'after %s, changing the quantity releases the old reservation and makes one new',
    async (_, faults) => {
      const { service, scheduler } = await failedButHeld(faults);
      await service.setQuantity('c1', 'A', 2);
      await scheduler.whenIdle();
      const reservation = await service.getReservation('c1', 'A');
      expect(reservation).toMatchObject({ status: 'reserved', quantity: 2 });
      expect(fake.reservations().map((r) => [r.reservationId, r.quantity])).toEqual([
        [reservation?.reservationId, 2],
      ]);
    },
  );
});
