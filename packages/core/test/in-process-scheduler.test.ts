import { describe, expect, it } from 'vitest';
import {
  InProcessScheduler,
  MemoryCartStorage,
  newJob,
  type ReservationJob,
} from '../src/index.js';

describe('InProcessScheduler.stop', () => {
  it('stays bounded when aborted attempts cannot hand their jobs back (storage stalled)', async () => {
    let stalled = false;
    const storage = new (class extends MemoryCartStorage {
      override async updateJob(job: ReservationJob, expectedVersion: number): Promise<void> {
        if (stalled) await new Promise(() => {}); // never answers
        return super.updateJob(job, expectedVersion);
      }
    })();
    const job = newJob({
      id: 'j1',
      kind: 'reserve',
      cartId: 'c1',
      itemName: 'A',
      quantity: 1,
      now: Date.now(),
    });
    await storage.saveCart(
      { id: 'c1', version: 1, lines: [], createdAt: '', updatedAt: '' },
      { expectedVersion: 0, jobs: [job] },
    );
    let running: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      running = resolve;
    });
    const scheduler = new InProcessScheduler({ storage });
    await scheduler.start({
      run: async () => {
        stalled = true; // the claim is written; from now on storage hangs
        running();
        await new Promise(() => {}); // ignores its abort signal
      },
      onRetry: async () => {},
      onFailure: async () => {},
    });
    scheduler.enqueue(job);
    await started;
    const begun = Date.now();
    const outcome = await Promise.race([
      scheduler.stop({ timeoutMs: 50 }).then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('hung'), 3_000)),
    ]);
    expect(outcome).toBe('stopped');
    expect(Date.now() - begun).toBeLessThan(1_000);
  });
});
