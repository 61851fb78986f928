import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type FakeReservationService, startFakeReservationService } from '@cartkit/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEngines, requireEngines } from '../../../scripts/vitest/engines.js';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * This file's own Redis (so restarting it disturbs no other suite), with the
 * persistence BullMQ asks for in production: AOF, fsync on every write.
 */
class OwnRedis {
  child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--dir',
        this.dir,
      ],
      { stdio: 'ignore' },
    );
    const ping = () =>
      promisify(execFile)('redis-cli', ['-p', String(this.port), 'ping']).then(
        ({ stdout }) => stdout.trim() === 'PONG',
        () => false,
      );
    await until(ping, 'Redis to answer PING', 10_000);
  }
  /** A clean restart: SIGTERM (Redis writes its AOF and exits), then start again. */
  async restart(): Promise<void> {
    const child = this.child;
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await this.start();
  }
  async stop(): Promise<void> {
    if (this.child !== undefined && this.child.exitCode === null) {
      this.child.kill('SIGKILL');
      await once(this.child, 'exit');
    }
  }
}

interface Line {
  name: string;
  quantity: number;
  reservation: {
    status: string;
    id: string | null;
    attempts: number;
    lastError: { code: string; message: string } | null;
  } | null;
}

/** The example server's retry budget per task (core's `defaultRetryPolicy.maxAttempts`). */
const MAX_ATTEMPTS = 8;

async function items(server: ServerProcess, cartId: string): Promise<Line[]> {
  const res = await fetch(`${server.url}/items`, { headers: { 'x-cart-id': cartId } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: Line[] }).items;
}

async function add(server: ServerProcess, cartId: string, name: string): Promise<number> {
  const res = await fetch(`${server.url}/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-cart-id': cartId },
    body: JSON.stringify({ name }),
  });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Nothing left anywhere: no task in the outbox, no job waiting, delayed or running in
 * BullMQ, no call in progress at the fake. Lets one test's background work (superseded
 * tasks still retrying, say) finish before the next counts the fake's reservations.
 */
async function quiet(redisPort: number, fake: FakeReservationService): Promise<void> {
  const run = promisify(execFile);
  const queue = 'cartkit:cartkit-reservations';
  await until(async () => {
    const outbox = await run('psql', [
      requireEngines().pgUrl,
      '-XAtc',
      'SELECT count(*) FROM cartkit_outbox',
    ]);
    if (outbox.stdout.trim() !== '0') return false;
    for (const [command, key] of [
      ['LLEN', 'wait'],
      ['LLEN', 'active'],
      ['ZCARD', 'delayed'],
      ['ZCARD', 'prioritized'],
    ] as const) {
      const { stdout } = await run('redis-cli', [
        '-p',
        String(redisPort),
        command,
        `${queue}:${key}`,
      ]);
      if (stdout.trim() !== '0') return false;
    }
    return fake.stats.inProgress === 0;
  }, 'the instances to finish their background work');
}

/**
 * Waits until no line of the cart is pending: each is `reserved`, or `failed` because its
 * task ran out of attempts. Waiting for every line `reserved` would wait for what may never
 * come: the fake fails 30% of calls at random, so now and then a task gets a 503 on each
 * of its 8 attempts (0.3^8 per task, a few hundred tasks per run) and its line stays
 * `failed` for good. A lost task leaves its line pending: this gives up.
 */
async function settled(server: ServerProcess, cartId: string, what: string): Promise<Line[]> {
  let lines: Line[] = [];
  await until(async () => {
    lines = await items(server, cartId);
    return lines.every((l) => l.reservation?.status !== 'pending');
  }, what);
  return lines;
}

/**
 * Each line reserved exactly once at the fake, or failed with nothing held there, and only
 * after all its attempts met the service unavailable (its injected 503s): no other way
 * to fail is accepted.
 */
function expectReservedOnceOrOutOfAttempts(lines: Line[], fake: FakeReservationService): Line[] {
  const reserved = lines.filter((l) => l.reservation?.status === 'reserved');
  for (const line of lines) {
    const held = fake.reservations().filter((r) => r.name === line.name);
    if (line.reservation?.status === 'reserved') {
      expect(
        held.map((r) => r.reservationId),
        line.name,
      ).toEqual([line.reservation.id]);
    } else {
      expect(line.reservation, line.name).toMatchObject({
        status: 'failed',
        attempts: MAX_ATTEMPTS,
        lastError: { code: 'RESERVATION_UNAVAILABLE' },
      });
      expect(held, line.name).toEqual([]);
    }
  }
  return reserved;
}

/** Re-checks `check` after each of the fake service's requests and each poll of the cart. */
async function until(check: () => Promise<boolean>, what: string, limitMs = 120_000) {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Carts of this run (the database may hold earlier runs' carts). */
const run = randomBytes(4).toString('hex');

describeEngines('three example servers on one PostgreSQL and one Redis', () => {
  let redis: OwnRedis;
  let fake: FakeReservationService;
  let dir: string;
  const servers: ServerProcess[] = [];
  const start = async () => {
    const server = await startServerProcess({
      DATABASE_URL: requireEngines().pgUrl,
      REDIS_URL: redis.url,
      RESERVATION_URL: fake.url,
      CART_IDENTITY: 'header',
      RATE_LIMIT_PER_MINUTE: '0',
      JOB_LOCK_MS: '2000',
      SHUTDOWN_DRAIN_MS: '0',
      LOG_LEVEL: 'info', // the harness waits for the 'listening' line
    });
    servers.push(server);
    return server;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cartkit-scale-'));
    redis = new OwnRedis(await freePort(), dir);
    await redis.start();
    // 30% of calls fail with 503: every reservation needs retries now and then.
    fake = await startFakeReservationService({ faults: { unavailableRate: 0.3 }, seed: 11 });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    await fake?.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('ends 1,000 concurrent adds spread over three instances with the exact total', async () => {
    const trio = [await start(), await start(), await start()];
    const statuses = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        add(trio[i % 3] as ServerProcess, `cart-adds-${run}`, `P${i % 5}`),
      ),
    );
    expect(statuses.every((s) => s === 201)).toBe(true);
    const lines = await items(trio[1] as ServerProcess, `cart-adds-${run}`);
    expect(lines).toHaveLength(5);
    expect(lines.reduce((sum, l) => sum + l.quantity, 0)).toBe(1000);
    for (const line of lines) expect(line.quantity).toBe(200);
    // Let the reservations the adds caused settle before the next test counts its own.
    await settled(trio[2] as ServerProcess, `cart-adds-${run}`, 'the added lines settled');
    await quiet(redis.port, fake);
  }, 240_000);

  it('makes 200 reservations exactly once at a service failing 30% of calls, though one instance is SIGKILLed mid-run', async () => {
    const [a, b, c] = servers as [ServerProcess, ServerProcess, ServerProcess];
    const before = fake.stats.reservationsMade;
    const statuses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        add([a, b, c][i % 3] as ServerProcess, `cart-reserve-${run}`, `item-${run}-${i}`),
      ),
    );
    expect(statuses.every((s) => s === 201)).toBe(true);
    // Kill one instance while it is holding work (relay claims, running jobs).
    await until(async () => fake.stats.reservationsMade - before >= 40, '40 reservations');
    a.child.kill('SIGKILL');
    await once(a.child, 'exit');
    await settled(b, `cart-reserve-${run}`, 'every line settled');
    await quiet(redis.port, fake);
    const lines = await items(c, `cart-reserve-${run}`);
    expect(lines).toHaveLength(200);
    const reserved = expectReservedOnceOrOutOfAttempts(lines, fake);
    expect(new Set(reserved.map((l) => l.reservation?.id)).size).toBe(reserved.length);
    expect(fake.stats.reservationsMade - before).toBe(reserved.length);
    expect(fake.stats.byStatus.get(503) ?? 0).toBeGreaterThan(0);
  }, 300_000);

  it('loses and doubles no task when Redis restarts during a run', async () => {
    const live = servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
    const before = fake.stats.reservationsMade;
    const statuses = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        add(live[i % live.length] as ServerProcess, `cart-redis-${run}`, `thing-${run}-${i}`),
      ),
    );
    expect(statuses.every((s) => s === 201)).toBe(true);
    await until(async () => fake.stats.reservationsMade - before >= 20, '20 reservations');
    await redis.restart();
    await settled(
      live[0] as ServerProcess,
      `cart-redis-${run}`,
      'every line settled after the Redis restart',
    );
    await quiet(redis.port, fake);
    const lines = await items(live[1] as ServerProcess, `cart-redis-${run}`);
    expect(lines).toHaveLength(100);
    const reserved = expectReservedOnceOrOutOfAttempts(lines, fake);
    expect(fake.stats.reservationsMade - before).toBe(reserved.length);
  }, 240_000);
});
