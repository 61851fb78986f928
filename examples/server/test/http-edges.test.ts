import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeReservationService, startFakeReservationService } from '@cartkit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

// Slow clients and shutdown against the real example server process, over raw sockets
// where a well-behaved HTTP client would not do what is being tested.

let dir: string;
let fake: FakeReservationService;
const servers: ServerProcess[] = [];
const sockets: Socket[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cartkit-edges-'));
  fake = await startFakeReservationService();
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) await server.stop('SIGKILL');
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess({
    DATABASE_URL: join(dir, 'cart.db'),
    RESERVATION_URL: fake.url,
    RATE_LIMIT_PER_MINUTE: '0',
    ...env,
  });
  servers.push(server);
  return server;
}

/** A raw TCP connection to `url`: what was received so far, and all of it once closed. */
async function rawConnection(url: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  sockets.push(socket);
  socket.setEncoding('latin1');
  let received = '';
  const listeners: Array<() => void> = [];
  socket.on('data', (chunk: string) => {
    received += chunk;
    for (const listener of listeners.splice(0)) listener();
  });
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  await once(socket, 'connect');
  return {
    socket,
    closed,
    /** Resolves once the received text matches `pattern`. */
    async receivedMatching(pattern: RegExp): Promise<string> {
      while (!pattern.test(received)) {
        await new Promise<void>((resolve) => listeners.push(resolve));
      }
      return received;
    },
  };
}

const timeouts = {
  REQUEST_TIMEOUT_MS: '1500',
  HEADERS_TIMEOUT_MS: '1000',
  KEEP_ALIVE_TIMEOUT_MS: '2000',
};

describe('example server: slow and idle clients', () => {
  it('answers 408 and closes a request whose body never finishes (REQUEST_TIMEOUT_MS)', async () => {
    const server = await start(timeouts);
    const client = await rawConnection(server.url);
    client.socket.write(
      'POST /items HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n' +
        'Content-Length: 100\r\n\r\n{"name":',
    );
    // Without a request timeout Node would hold this connection for 300 s.
    expect(await client.closed).toMatch(/^HTTP\/1\.1 408 /);
    expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
  });

  it('answers 408 and closes a request whose headers never finish (HEADERS_TIMEOUT_MS)', async () => {
    const server = await start(timeouts);
    const client = await rawConnection(server.url);
    client.socket.write('GET /items HTTP/1.1\r\nHost: test\r\nX-Slow: ');
    expect(await client.closed).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('announces its keep-alive timeout and closes an idle connection after it (KEEP_ALIVE_TIMEOUT_MS)', async () => {
    const server = await start(timeouts);
    const client = await rawConnection(server.url);
    client.socket.write('GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n');
    const response = await client.receivedMatching(/\r\n\r\n\{"status":"ok"\}/);
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(response).toMatch(/\r\nKeep-Alive: timeout=2\r\n/i);
    // The server, not the client, ends the idle connection.
    await client.closed;
  });

  it('refuses to start with a headers timeout above the request timeout', async () => {
    await expect(start({ REQUEST_TIMEOUT_MS: '1000', HEADERS_TIMEOUT_MS: '5000' })).rejects.toThrow(
      /exited with 1[\s\S]*HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS/,
    );
  });
});

describe('example server: shutdown as a load balancer sees it', () => {
  const post = (url: string, agent?: Agent) =>
    new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = request(
        `${url}/items`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          ...(agent === undefined ? {} : { agent }),
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }),
          );
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ name: 'Drain' }));
    });

  it('on SIGTERM keeps accepting and serving while readiness says 503, then closes and exits 0', async () => {
    const server = await start({ SHUTDOWN_DRAIN_MS: '600000' });
    const exited = server.stop('SIGTERM');
    const draining = await server.waitForLog(/^shutting down: draining/);
    expect(draining.drainMs).toBe(600_000);

    // New connections are still accepted: the probe sees 503, writes still succeed.
    const ready = await fetch(`${server.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ code: 'SHUTTING_DOWN' });
    expect(await post(server.url)).toEqual({ status: 201, connection: 'close' });
    expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
    expect(
      server.logs.some((entry) => String(entry.msg).startsWith('shutting down: closing')),
    ).toBe(false);

    // A second signal (SIGINT here) ends the drain; the server closes and exits cleanly.
    server.child.kill('SIGINT');
    expect(await exited).toBe(0);
    const messages = server.logs.map((entry) => entry.msg);
    expect(
      messages.indexOf('shutting down: closing (no new connections; in-flight requests finish)'),
    ).toBeGreaterThan(messages.indexOf(draining.msg));
    await expect(fetch(`${server.url}/health/live`)).rejects.toThrow();

    const restarted = await start();
    const items = (await (await fetch(`${restarted.url}/items`)).json()) as {
      items: Array<{ quantity: number }>;
    };
    expect(items.items[0]?.quantity).toBe(1);
  });

  it('ends the drain by itself after SHUTDOWN_DRAIN_MS, then closes', async () => {
    const server = await start({ SHUTDOWN_DRAIN_MS: '200' });
    expect(await server.stop('SIGTERM')).toBe(0);
    const messages = server.logs.map((entry) => String(entry.msg));
    const drained = messages.findIndex((msg) => msg.startsWith('shutting down: draining'));
    const closing = messages.findIndex((msg) => msg.startsWith('shutting down: closing'));
    expect(drained).toBeGreaterThanOrEqual(0);
    expect(closing).toBeGreaterThan(drained);
    expect(messages.at(-1)).toMatch(/^shut down cleanly/);
  });

  it('on SIGINT (Ctrl-C) closes without a drain', async () => {
    const server = await start({ SHUTDOWN_DRAIN_MS: '600000' });
    expect(await server.stop('SIGINT')).toBe(0);
    const draining = server.logs.find((entry) =>
      String(entry.msg).startsWith('shutting down: draining'),
    );
    expect(draining?.drainMs).toBe(0);
  });
});
