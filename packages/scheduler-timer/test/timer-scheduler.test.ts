import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  type Cart,
  MemoryCartStorage,
  newTask,
  ReservationError,
  type ReservationTask,
  type TaskHandler,
} from '@cartkit/core';
import { describe, expect, it } from 'vitest';
import { createTimerScheduler, TimerScheduler } from '../src/index.js';

async function commitTask(storage: MemoryCartStorage, id: string): Promise<ReservationTask> {
  const task = newTask({
    id,
    kind: 'reserve',
    cartId: 'c1',
    itemName: 'A',
    quantity: 1,
    now: Date.now(),
  });
  const cart: Cart = { id: `cart-${id}`, version: 1, lines: [], createdAt: '', updatedAt: '' };
  await storage.saveCart(cart, { expectedVersion: 0, tasks: [task] });
  return task;
}

const noop: TaskHandler = { handle: async () => {} };

describe('TimerScheduler', () => {
  it('validates its options up front, naming the option', () => {
    const outbox = new MemoryCartStorage();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ outbox: undefined }, 'outbox'],
      [{ pollIntervalMs: 0 }, 'pollIntervalMs'],
      [{ concurrency: 0 }, 'concurrency'],
      [{ retry: { maxAttempts: 0 } }, 'retry.maxAttempts'],
      [{ retry: { baseDelayMs: -1 } }, 'retry.baseDelayMs'],
      [{ retry: { baseDelayMs: 100, maxDelayMs: 10 } }, 'retry.maxDelayMs'],
      [{ leaseMs: 100, retry: { attemptTimeoutMs: 1000 } }, 'leaseMs'],
      [{ stopTimeoutMs: -5 }, 'stopTimeoutMs'],
      [{ owner: '' }, 'owner'],
    ];
    for (const [override, option] of cases) {
      expect(() => createTimerScheduler({ outbox, ...override } as never), option).toThrow(
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
      outbox: storage,
      retry: { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 },
    });
    const events: string[] = [];
    scheduler.on('attempt', ({ task, attempt }) => events.push(`attempt ${task.id} ${attempt}`));
    scheduler.on('retry', ({ task, error }) => events.push(`retry ${task.id} ${error.code}`));
    scheduler.on('success', ({ task }) => events.push(`success ${task.id}`));
    scheduler.on('failure', ({ task, error }) => events.push(`failure ${task.id} ${error.code}`));
    const handler: TaskHandler = {
      handle: async (task, { attempt }) => {
        if (task.id === 'flaky' && attempt === 1) throw ReservationError.unavailable('503');
        if (task.id === 'refused') throw ReservationError.refused('no');
      },
    };
    await scheduler.start(handler);
    await commitTask(storage, 'flaky');
    scheduler.notify();
    await scheduler.whenIdle();
    await commitTask(storage, 'refused');
    scheduler.notify();
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
    const scheduler = createTimerScheduler({ outbox: storage });
    scheduler.on('success', () => {
      throw new Error('listener bug');
    });
    let runs = 0;
    await scheduler.start({ handle: async () => void runs++ });
    await commitTask(storage, 'a');
    await commitTask(storage, 'b');
    scheduler.notify();
    await scheduler.whenIdle();
    expect(runs).toBe(2);
    await scheduler.stop();
  });

  it('names its leases after the host and process by default', () => {
    const scheduler = new TimerScheduler({ outbox: new MemoryCartStorage() });
    expect(scheduler.owner).toContain(`:${process.pid}:`);
  });

  it('supports await using (stops on scope exit)', async () => {
    const storage = new MemoryCartStorage();
    let scheduler: TimerScheduler | undefined;
    {
      await using s = createTimerScheduler({ outbox: storage });
      scheduler = s;
      await s.start(noop);
    }
    const task = await commitTask(storage, 'after-stop');
    scheduler.notify();
    expect(storage.outboxTasks().map((t) => t.task.id)).toEqual([task.id]);
  });

  it('does not keep the process alive while tasks wait for a retry (timers are unref-ed)', async () => {
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
