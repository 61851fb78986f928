import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FakeClock } from '@cartkit/testing';
import { describe, expect, it } from 'vitest';
import {
  type DeliveryEvent,
  InProcessScheduler,
  MemoryCartStorage,
  newTask,
  ReservationError,
  type TaskDelivery,
} from '../src/index.js';

const task = (id: string, now = 0) =>
  newTask({ id, kind: 'reserve', cartId: 'c1', itemName: id, quantity: 1, now });

describe('InProcessScheduler', () => {
  it('validates its options up front, naming the option', () => {
    const outbox = new MemoryCartStorage();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ outbox: undefined }, 'outbox'],
      [{ concurrency: 0 }, 'concurrency'],
      [{ pollIntervalMs: 0 }, 'pollIntervalMs'],
      [{ leaseMs: 100, retry: { attemptTimeoutMs: 1000 } }, 'leaseMs'],
      [{ retry: { maxAttempts: 0 } }, 'retry.maxAttempts'],
    ];
    for (const [override, option] of cases) {
      expect(() => new InProcessScheduler({ outbox, ...override } as never), option).toThrow(
        expect.objectContaining({ details: expect.objectContaining({ option }) }),
      );
    }
  });

  it('backs off exponentially with full jitter, never sooner than Retry-After', async () => {
    const clock = new FakeClock();
    const outbox = new MemoryCartStorage({ clock });
    const events: DeliveryEvent[] = [];
    const scheduler = new InProcessScheduler({
      outbox,
      clock,
      retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 },
      random: () => 0.5,
      onEvent: (event) => events.push(event),
    });
    const deliveries: TaskDelivery[] = [];
    await scheduler.start({
      handle: async (_task, delivery) => {
        deliveries.push(delivery);
        if (delivery.attempt === 2)
          throw ReservationError.unavailable('429', { retryAfterMs: 700 });
        if (delivery.attempt < 4) throw ReservationError.unavailable('503');
      },
    });
    const start = clock.now();
    await outbox.enqueueTasks([task('t1', start)]);
    scheduler.notify();
    for (let i = 0; i < 20 && deliveries.length < 4; i++) await clock.advance(50);
    await scheduler.whenIdle();
    const retries = events.flatMap((e) => (e.type === 'retry' ? [e.retryAt - start] : []));
    // Attempt 1 fails at t=0: 0.5 × 100. Attempt 2 at 50: Retry-After 700 beats 0.5 × 200.
    // Attempt 3 at 750: 0.5 × 400.
    expect(retries).toEqual([50, 750, 950]);
    expect(deliveries.map((d) => [d.attempt, d.isLastAttempt])).toEqual([
      [1, false],
      [2, false],
      [3, false],
      [4, true],
    ]);
    await scheduler.stop();
  });

  it('stop stays bounded when aborted attempts cannot give their tasks back (storage stalled)', async () => {
    let stalled = false;
    const outbox = new (class extends MemoryCartStorage {
      override async release(taskId: string, owner: string, at: number): Promise<boolean> {
        if (stalled) await new Promise(() => {}); // never answers
        return super.release(taskId, owner, at);
      }
    })();
    await outbox.enqueueTasks([task('t1', Date.now())]);
    let running: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      running = resolve;
    });
    const scheduler = new InProcessScheduler({ outbox });
    await scheduler.start({
      handle: async () => {
        stalled = true; // from now on storage hangs
        running();
        await new Promise(() => {}); // ignores its abort signal
      },
    });
    await started;
    const outcome = await Promise.race([
      scheduler.stop({ timeoutMs: 50 }).then(() => 'stopped'),
      new Promise((resolve) => setTimeout(resolve, 10_000, 'hung')),
    ]);
    expect(outcome).toBe('stopped');
  });

  it('a process awaiting whenIdle() stays alive through a retry wait and exits 0 after the work', async () => {
    const script = fileURLToPath(new URL('./fixtures/await-idle.mjs', import.meta.url));
    const { code, output } = await new Promise<{ code: number | null; output: string }>(
      (resolve, reject) => {
        let output = '';
        const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
        });
        const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.on('error', reject);
        child.on('exit', (exitCode) => {
          clearTimeout(guard);
          resolve({ code: exitCode, output });
        });
      },
    );
    // Node exits with 13 when the top-level await never settles (nothing kept it alive).
    expect(code).toBe(0);
    expect(JSON.parse(output)).toEqual({ attempts: 2, status: 'reserved' });
  });
  it('runs 20 attempts at once without a listener-leak warning, and stop() aborts each', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const clock = new FakeClock();
      const outbox = new MemoryCartStorage({ clock });
      const events: DeliveryEvent[] = [];
      const scheduler = new InProcessScheduler({
        outbox,
        clock,
        concurrency: 20,
        onEvent: (event) => events.push(event),
      });
      let started = 0;
      let allStarted: () => void = () => {};
      const running = new Promise<void>((resolve) => {
        allStarted = resolve;
      });
      await scheduler.start({
        // Each attempt waits for its signal: stop() must reach all 20.
        handle: (_task, delivery) =>
          new Promise<void>((_, reject) => {
            delivery.signal.addEventListener('abort', () => reject(delivery.signal.reason));
            if (++started === 20) allStarted();
          }),
      });
      await outbox.enqueueTasks(Array.from({ length: 20 }, (_, i) => task(`t${i}`, clock.now())));
      scheduler.notify();
      await running;
      await scheduler.stop({ timeoutMs: 0 });
      expect(events.filter((e) => e.type === 'interrupted')).toHaveLength(20);
      // Node emits the warning on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
