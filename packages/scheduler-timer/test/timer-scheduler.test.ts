import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  type Cart,
  type JobHandler,
  MemoryCartStorage,
  newJob,
  ReservationError,
  type ReservationJob,
} from '@cartkit/core';
import { describe, expect, it } from 'vitest';
import { createTimerScheduler, TimerScheduler } from '../src/index.js';

async function persistJob(storage: MemoryCartStorage, id: string): Promise<ReservationJob> {
  const job = newJob({
    id,
    kind: 'reserve',
    cartId: 'c1',
    itemName: 'A',
    quantity: 1,
    now: Date.now(),
  });
  const cart: Cart = { id: `cart-${id}`, version: 1, lines: [], createdAt: '', updatedAt: '' };
  await storage.saveCart(cart, { expectedVersion: 0, jobs: [job] });
  return job;
}

describe('TimerScheduler', () => {
  it('validates its options up front, naming the option', () => {
    const storage = new MemoryCartStorage();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ storage: undefined }, 'storage'],
      [{ concurrency: 0 }, 'concurrency'],
      [{ retry: { maxAttempts: 0 } }, 'retry.maxAttempts'],
      [{ retry: { baseDelayMs: -1 } }, 'retry.baseDelayMs'],
      [{ retry: { baseDelayMs: 100, maxDelayMs: 10 } }, 'retry.maxDelayMs'],
      [{ leaseMs: 100, retry: { attemptTimeoutMs: 1000 } }, 'leaseMs'],
      [{ stopTimeoutMs: -5 }, 'stopTimeoutMs'],
      [{ owner: '' }, 'owner'],
    ];
    for (const [override, option] of cases) {
      expect(() => createTimerScheduler({ storage, ...override } as never), option).toThrow(
        expect.objectContaining({
          code: 'INVALID_OPTION',
          details: expect.objectContaining({ option }),
        }),
      );
    }
  });

  it('emits attempt, retry, success and failure events', async () => {
    const storage = new MemoryCartStorage();
    const scheduler = createTimerScheduler({
      storage,
      retry: { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 },
    });
    const events: string[] = [];
    scheduler.on('attempt', ({ job, attempt }) => events.push(`attempt ${job.id} ${attempt}`));
    scheduler.on('retry', ({ job, error }) => events.push(`retry ${job.id} ${error.code}`));
    scheduler.on('success', ({ job }) => events.push(`success ${job.id}`));
    scheduler.on('failure', ({ job, error }) => events.push(`failure ${job.id} ${error.code}`));
    const handler: JobHandler = {
      run: async (job, { attempt }) => {
        if (job.id === 'flaky' && attempt === 1) throw ReservationError.unavailable('503');
        if (job.id === 'refused') throw ReservationError.refused('no');
      },
      onRetry: async () => {},
      onFailure: async () => {},
    };
    await scheduler.start(handler);
    scheduler.enqueue(await persistJob(storage, 'flaky'));
    await scheduler.whenIdle();
    scheduler.enqueue(await persistJob(storage, 'refused'));
    await scheduler.whenIdle();
    await scheduler.stop();
    expect(events).toEqual([
      'attempt flaky 1',
      'retry flaky RESERVATION_UNAVAILABLE',
      'attempt flaky 2',
      'success flaky',
      'attempt refused 1',
      'failure refused RESERVATION_REFUSED',
    ]);
  });

  it('survives a throwing event listener', async () => {
    const storage = new MemoryCartStorage();
    const scheduler = createTimerScheduler({ storage });
    scheduler.on('success', () => {
      throw new Error('listener bug');
    });
    let runs = 0;
    await scheduler.start({
      run: async () => void runs++,
      onRetry: async () => {},
      onFailure: async () => {},
    });
    scheduler.enqueue(await persistJob(storage, 'a'));
    scheduler.enqueue(await persistJob(storage, 'b'));
    await scheduler.whenIdle();
    expect(runs).toBe(2);
    await scheduler.stop();
  });

  it('names its leases after the host and process by default', () => {
    const scheduler = new TimerScheduler({ storage: new MemoryCartStorage() });
    expect(scheduler.owner).toContain(`:${process.pid}:`);
  });

  it('supports await using (stops on scope exit)', async () => {
    const storage = new MemoryCartStorage();
    let scheduler: TimerScheduler | undefined;
    {
      await using s = createTimerScheduler({ storage });
      scheduler = s;
      await s.start({ run: async () => {}, onRetry: async () => {}, onFailure: async () => {} });
    }
    const job = await persistJob(storage, 'after-stop');
    scheduler.enqueue(job);
    expect(await storage.getJob(job.id)).toBeDefined();
  });

  it('does not keep the process alive while jobs wait for a retry (timers are unref-ed)', async () => {
    const script = fileURLToPath(new URL('./fixtures/waiting-process.mjs', import.meta.url));
    const started = Date.now();
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [script], { stdio: 'inherit' });
      const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('error', reject);
      child.on('exit', (exitCode) => {
        clearTimeout(guard);
        resolve(exitCode);
      });
    });
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
