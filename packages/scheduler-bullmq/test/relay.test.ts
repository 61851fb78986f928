import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import {
  type Cart,
  type CartStorage,
  ErrorCode,
  newTask,
  type Outbox,
  type ReservationTask,
  type TaskDelivery,
  type TaskHandler,
} from '@cartkit/core';
import { type BullmqScheduler, createBullmqScheduler, jobIdOf } from '@cartkit/scheduler-bullmq';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { describeEngines, requireEngines } from '../../../scripts/vitest/engines.js';
import { openStorage } from '../../storage-postgres/test/support.js';
import { freshQueue } from './support.js';

/** Records deliveries; `until` waits for a condition on them (re-checked on every change). */
class Recorder implements TaskHandler {
  readonly runs: Array<[string, number]> = [];
  #waiters: Array<() => void> = [];
  constructor(
    readonly behaviour: (task: ReservationTask, d: TaskDelivery) => Promise<void> = async () => {},
  ) {}
  async handle(task: ReservationTask, delivery: TaskDelivery): Promise<void> {
    this.runs.push([task.id, delivery.attempt]);
    try {
      await this.behaviour(task, delivery);
    } finally {
      for (const w of this.#waiters.splice(0)) w();
    }
  }
  async until(check: () => boolean): Promise<void> {
    while (!check()) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}

async function commit(storage: CartStorage, ids: string[]): Promise<void> {
  const cart: Cart = { id: `cart-${ids[0]}`, version: 1, lines: [], createdAt: '', updatedAt: '' };
  const tasks = ids.map((id, i) =>
    newTask({ id, kind: 'reserve', cartId: cart.id, itemName: `i${i}`, quantity: 1, now: i }),
  );
  await storage.saveCart(cart, { expectedVersion: 0, tasks });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A Redis of this test's own (so stopping it disturbs no other test), with AOF on. */
async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' },
  );
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50 });
  client.on('error', () => undefined);
  await client.connect().catch(() => undefined);
  await client.ping();
  client.disconnect();
  return child;
}

describeEngines('BullMQ outbox relay', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  const scheduler = (
    outbox: Outbox,
    queueName: string,
    url = requireEngines().redisUrl,
    extra = {},
  ) => {
    const s = createBullmqScheduler({
      outbox,
      url,
      queueName,
      relayLeaseMs: 300,
      pollIntervalMs: 50,
      lockDurationMs: 5_000,
      ...extra,
    });
    cleanups.push(() => s.stop({ timeoutMs: 1_000 }));
    return s;
  };

  it('neither loses nor doubles a task when the relay dies between queue.add and outbox.complete', async () => {
    const storage = await openStorage();
    cleanups.push(() => storage.close());
    const queueName = freshQueue();
    // The first relay "dies" after every add: its completes never reach the outbox.
    const dying: Outbox = {
      claim: (o) => storage.claim(o),
      complete: async () => {
        throw new Error('process died');
      },
      release: (...a) => storage.release(...a),
      nextDueAt: () => storage.nextDueAt(),
    };
    const h = new Recorder();
    const first = scheduler(dying, queueName);
    await first.start(h);
    await commit(storage, ['t1', 't2', 't3']);
    first.notify();
    await h.until(() => h.runs.length === 3);
    await first.stop();
    expect(await storage.nextDueAt()).not.toBeUndefined(); // still in the outbox
    // Another instance re-relays them once their leases lapse: BullMQ knows the job ids.
    const second = scheduler(storage, queueName);
    await second.start(h);
    second.notify();
    while ((await storage.nextDueAt()) !== undefined) await second.whenIdle();
    await second.whenIdle();
    expect(h.runs.map(([id]) => id).sort()).toEqual(['t1', 't2', 't3']);
  });

  it('keeps a task in the outbox while Redis is down, and delivers it once Redis is back', async () => {
    const storage = await openStorage();
    cleanups.push(() => storage.close());
    const port = await freePort();
    const dir = requireEngines().servicesDir ?? '/tmp';
    const redisDir = `${dir}/relay-redis-${port}`;
    await import('node:fs/promises').then((fs) => fs.mkdir(redisDir, { recursive: true }));
    let redis = await startRedis(port, redisDir);
    cleanups.push(async () => {
      redis.kill('SIGKILL');
    });
    const url = `redis://127.0.0.1:${port}`;
    const h = new Recorder();
    const s = scheduler(storage, freshQueue(), url);
    await s.start(h);
    await commit(storage, ['before']);
    s.notify();
    await h.until(() => h.runs.length === 1);

    redis.kill('SIGKILL');
    await once(redis, 'exit');
    await commit(storage, ['during']);
    s.notify();
    // The relay cannot add it: it stays in the outbox, given back for a later try.
    let due: number | undefined;
    for (let i = 0; i < 50 && due === undefined; i++) due = await storage.nextDueAt();
    expect(due).not.toBeUndefined();
    expect(h.runs.map(([id]) => id)).toEqual(['before']);

    redis = await startRedis(port, redisDir);
    await h.until(() => h.runs.length === 2);
    await s.whenIdle();
    expect(h.runs.map(([id]) => id)).toEqual(['before', 'during']);
    expect(await storage.nextDueAt()).toBeUndefined();
  });

  it('fails start with STORAGE_UNAVAILABLE naming the server when Redis is unreachable', async () => {
    const storage = await openStorage();
    cleanups.push(() => storage.close());
    const port = await freePort();
    const s: BullmqScheduler = scheduler(
      storage,
      freshQueue(),
      `redis://:secret@127.0.0.1:${port}`,
    );
    const error = await s.start(new Recorder()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.STORAGE_UNAVAILABLE });
    expect((error as Error).message).toMatch(/connection refused/);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    expect((error as Error).message).not.toContain('secret');
  });

  it('rejects bad options with a ConfigurationError naming the option', () => {
    const outbox = {
      claim: async () => [],
      complete: async () => true,
      release: async () => true,
      nextDueAt: async () => undefined,
    };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ outbox, url: 'http://x' }, 'url'],
      [{ outbox: {}, url: 'redis://x' }, 'outbox'],
      [{ outbox, url: 'redis://x', concurrency: 0 }, 'concurrency'],
      [{ outbox, url: 'redis://x', queueName: 'a:b' }, 'queueName'],
      [{ outbox, url: 'redis://x', retry: { maxAttempts: 0 } }, 'retry.maxAttempts'],
      [{ outbox, url: 'redis://x', colour: 1 }, 'colour'],
    ];
    for (const [options, option] of cases) {
      expect(() => createBullmqScheduler(options as never), option).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_OPTION, details: { option } }),
      );
    }
  });

  it('derives job ids from task ids one to one, in a form BullMQ accepts', () => {
    expect(jobIdOf('3f2a-uuid')).toBe('t.3f2a-uuid');
    expect(jobIdOf('123')).not.toBe(jobIdOf('t.123'));
    expect(jobIdOf('a:b')).toMatch(/^b\./);
    expect(jobIdOf('a:b')).not.toContain(':');
    expect(new Set(['a:b', 'a;b', 'x', '1', 'b.YTpi'].map(jobIdOf)).size).toBe(5);
  });
});
