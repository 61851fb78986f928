import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteCartStorage } from '../src/index.js';
import { assertPackageBuilt, killFixtures, startFixture } from './support/fixtures.js';
import { createTempDir } from './support/temp-dir.js';

describe('durability: acknowledged writes survive kill -9', () => {
  const dir = createTempDir();
  beforeAll(() => assertPackageBuilt());
  afterEach(() => killFixtures());
  afterAll(() => dir.remove());

  it.each([
    ['NORMAL', 300],
    ['FULL', 150],
  ])(
    'synchronous %s: every acknowledged cart and task is there after SIGKILL',
    async (synchronous, target) => {
      const path = dir.file();
      const writer = startFixture('ack-writes', [path, synchronous]);
      await writer.next('ready');
      let acked = -1;
      await new Promise<void>((resolve) => {
        writer.child.on('message', (message: { type: string; i?: number }) => {
          if (message.type !== 'ack' || message.i === undefined) return;
          acked = Math.max(acked, message.i);
          // Kill in the middle of the stream: the writer is busy with the next write.
          if (acked + 1 >= target && writer.child.signalCode === null) {
            writer.child.kill('SIGKILL');
            resolve();
          }
        });
      });
      const { signal } = await writer.exited;
      expect(signal).toBe('SIGKILL');
      expect(acked + 1).toBeGreaterThanOrEqual(target);

      const storage = await createSqliteCartStorage({ path });
      const missing: string[] = [];
      for (let i = 0; i <= acked; i++) {
        if ((await storage.getCart(`k-${i}`))?.version !== 1) missing.push(`k-${i}`);
      }
      const tasks = await storage.claim({ owner: 'check', limit: 100_000, leaseMs: 1_000 });
      const byId = new Map(tasks.map(({ task }) => [task.id, task.cartId]));
      for (let i = 0; i <= acked; i++) {
        if (byId.get(`j-${i}`) !== `k-${i}`) missing.push(`j-${i}`);
      }
      expect(missing).toEqual([]);
      expect(tasks.length).toBeGreaterThanOrEqual(acked + 1);
      await storage.close();
    },
  );
});
