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
    const started = performance.now();
    const { line } = await service.addItem('c1', { name: 'Product1', quantity: 2 });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(100);
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
    // Retries reused their job's key: one key per line, however many calls.
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

  it('a service down for good fails every job after the maximum attempts; none stays pending', async () => {
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
    expect(await storage.listJobs()).toEqual([]);
    expect(fake.stats.reserveCalls).toBe(12);
  });

  it('reserve semantics: unknown item 404, twice while pending one job, after success the same reservation', async () => {
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

  it('a process killed with SIGKILL mid-flight loses nothing: the next one finishes all 50 jobs once each', async () => {
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

  it('two processes on one database run each of 100 jobs to success exactly once', async () => {
    fake.setFaults({ latencyMs: { min: 30, max: 80 } });
    const db = join(dir, 'shared.db');
    // Persist 100 jobs with no scheduler running them.
    const seeding = await start({}, { db });
    await seeding.scheduler.stop();
    for (let i = 0; i < 100; i++) await seeding.service.addItem('shared', { name: `item-${i}` });

    const a = run(db, fake.url, 'drain');
    const b = run(db, fake.url, 'drain');
    const [resultA, resultB] = await Promise.all([nextJson(a.lines), nextJson(b.lines)]);
    expect((resultA.successes ?? 0) + (resultB.successes ?? 0)).toBe(100);
    expect(resultA.successes).toBeGreaterThan(0); // both processes really worked
    expect(resultB.successes).toBeGreaterThan(0);
    expect(fake.stats.reservationsMade).toBe(100);
    const lines = await seeding.service.listItems('shared');
    expect(lines.every((l) => l.reservation?.status === 'reserved')).toBe(true);
  }, 60_000);
});
