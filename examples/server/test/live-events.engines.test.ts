import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openEventStream } from '../../../packages/express/test/support/sse-client.js';
import { describeEngines, requireEngines } from '../../../scripts/vitest/engines.js';
import { describeBrowser, launchBrowser } from './support/browser.js';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * What this file runs on, apart from the other engine suites that share the servers:
 * its own database on the test PostgreSQL (their relays would take its outbox tasks,
 * and their counts would see its carts) and its own throwaway Redis (its queue and
 * change-feed channel are the example server's defaults).
 */
class OwnEngines {
  redis: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'cartkit-live-'));
  readonly database = `cartkit_live_${randomBytes(4).toString('hex')}`;
  redisPort = 0;

  get redisUrl(): string {
    return `redis://127.0.0.1:${this.redisPort}`;
  }

  get databaseUrl(): string {
    const url = new URL(requireEngines().pgUrl);
    url.pathname = `/${this.database}`;
    return url.toString();
  }

  async start(): Promise<void> {
    const { pgUrl, pgAdminUrl } = requireEngines();
    if (pgAdminUrl === null)
      throw new Error('the live-events suite needs CARTKIT_TEST_PG_ADMIN_URL');
    const owner = decodeURIComponent(new URL(pgUrl).username);
    await run('psql', [pgAdminUrl, '-Xqc', `CREATE DATABASE ${this.database} OWNER "${owner}"`]);
    this.redisPort = await freePort();
    this.redis = spawn(
      'redis-server',
      ['--bind', '127.0.0.1', '--port', String(this.redisPort), '--save', '', '--dir', this.dir],
      { stdio: 'ignore' },
    );
    // Start-up only: poll until the new server answers.
    for (let attempt = 0; ; attempt++) {
      const pong = await run('redis-cli', ['-p', String(this.redisPort), 'ping']).then(
        ({ stdout }) => stdout.trim() === 'PONG',
        () => false,
      );
      if (pong) break;
      if (attempt > 100) throw new Error('Redis did not answer PING');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    if (this.redis !== undefined && this.redis.exitCode === null) {
      this.redis.kill('SIGKILL');
      await once(this.redis, 'exit');
    }
    const admin = requireEngines().pgAdminUrl;
    if (admin !== null) {
      await run('psql', [admin, '-Xqc', `DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function addItem(server: ServerProcess, name: string): Promise<void> {
  const res = await fetch(`${server.url}/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  await res.arrayBuffer();
  expect(res.status).toBe(201);
}

describeEngines('live carts across two example servers on one PostgreSQL and one Redis', () => {
  const engines = new OwnEngines();
  const servers: ServerProcess[] = [];
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    await engines.start();
    const start = async () => {
      const server = await startServerProcess({
        DATABASE_URL: engines.databaseUrl,
        REDIS_URL: engines.redisUrl,
        RATE_LIMIT_PER_MINUTE: '0',
        DEMO_RESERVATION_LATENCY_MS: '0',
        SHUTDOWN_DRAIN_MS: '0',
      });
      servers.push(server);
      return server;
    };
    // One after the other: the first creates the tables.
    a = await start();
    b = await start();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop('SIGKILL')));
    await engines.stop();
  }, 60_000);

  it('streams on instance A the changes made through instance B, and resumes on B where A left off', async () => {
    const onA = await openEventStream(`${a.url}/events`);
    try {
      const ready = await onA.parser.waitFor((f) => f.event === 'ready');
      await addItem(b, 'from-b');
      const seen = await onA.parser.waitFor(
        (f) => f.event === 'change' && f.data.itemName === 'from-b',
      );
      expect(seen.data.kind).toBe('item-added');
      // Every version after `ready`, in order, none skipped (reservations settling in
      // the background add their own versions).
      const ids = onA.parser.events.map((f) => Number(f.id));
      expect(ids).toEqual(ids.map((_, i) => Number(ready.id) + i));
    } finally {
      onA.close();
    }
    const lastSeenOnA = Number(
      onA.parser.events.filter((f) => f.id !== undefined).at(-1)?.id ?? Number.NaN,
    );
    // Changes while the client is away, through A; it comes back through B.
    await addItem(a, 'while-away-1');
    await addItem(a, 'while-away-2');
    const onB = await openEventStream(`${b.url}/events`, { 'last-event-id': String(lastSeenOnA) });
    try {
      await onB.parser.waitFor((f) => f.event === 'change' && f.data.itemName === 'while-away-2');
      const events = onB.parser.events;
      expect(events[0]?.event).toBe('ready');
      const replayed = events.slice(1);
      expect(replayed.every((f) => f.event === 'change')).toBe(true);
      expect(replayed.map((f) => Number(f.id))).toEqual(
        replayed.map((_, i) => lastSeenOnA + 1 + i),
      );
      expect(replayed.map((f) => f.data.itemName)).toContain('while-away-1');
    } finally {
      onB.close();
    }
  });

  describeBrowser('in a real browser', () => {
    it('shows, on a page subscribed to instance A, the change a POST made through instance B', async () => {
      const browser = await launchBrowser();
      try {
        const page = await browser.context.newPage();
        await page.goto(`${a.url}/health/live`);
        await page.evaluate(() => {
          const seen: Array<{ type: string; id: string; data: { itemName?: string } }> = [];
          (globalThis as unknown as { seen: typeof seen }).seen = seen;
          const source = new EventSource('/events');
          for (const type of ['ready', 'change', 'resync']) {
            source.addEventListener(type, (event) => {
              const message = event as unknown as { lastEventId: string; data: string };
              seen.push({ type, id: message.lastEventId, data: JSON.parse(message.data) });
            });
          }
        });
        await page.waitForFunction(() =>
          (globalThis as unknown as { seen: Array<{ type: string }> }).seen.some(
            (e) => e.type === 'ready',
          ),
        );
        await addItem(b, 'made-through-b');
        const change = await page.waitForFunction(() =>
          (
            globalThis as unknown as { seen: Array<{ type: string; data: { itemName?: string } }> }
          ).seen.find((e) => e.type === 'change' && e.data.itemName === 'made-through-b'),
        );
        expect(await change.jsonValue()).toMatchObject({
          type: 'change',
          data: { kind: 'item-added', itemName: 'made-through-b' },
        });
      } finally {
        await browser.close();
      }
    });
  });
});
