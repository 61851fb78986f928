import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteCartStorage } from '@cartkit/storage-sqlite';
import { type FakeReservationService, startFakeReservationService } from '@cartkit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

// The real example server, killed with SIGKILL while 50 clients post to the shared
// cart with unique Idempotency-Keys, then restarted on the same database: every key
// a client resends must complete (fresh or replayed), each change applied once.
// Writes to one cart queue behind each other, so at any moment many requests hold a
// claim on their key and have not committed yet: the kill lands mid-request.

const CLIENTS = 50;
/** Answers before the kill: enough that the server is busy with every client. */
const ANSWERS_BEFORE_KILL = 150;
const LEASE_MS = 1_000;

let dir: string;
let fake: FakeReservationService;
const servers: ServerProcess[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cartkit-idem-crash-'));
  fake = await startFakeReservationService();
});

afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop('SIGKILL');
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<ServerProcess> {
  const server = await startServerProcess({
    DATABASE_URL: join(dir, 'cart.db'),
    RESERVATION_URL: fake.url,
    RATE_LIMIT_PER_MINUTE: '0',
    IDEMPOTENCY_LEASE_MS: String(LEASE_MS),
  });
  servers.push(server);
  return server;
}

interface Sent {
  readonly key: string;
  readonly name: string;
  /** The answer before the kill, if one came. */
  answer?: { status: number; body: unknown };
}

function post(url: string, sent: Sent): Promise<Response> {
  return fetch(`${url}/items`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'idempotency-key': sent.key,
    },
    body: JSON.stringify({ name: sent.name }),
  });
}

/** Resends until the answer is not 409 (the retry protocol), within a deadline. */
async function resend(url: string, sent: Sent, deadline: number): Promise<Response> {
  for (;;) {
    const res = await post(url, sent);
    if (res.status !== 409) return res;
    await res.body?.cancel();
    if (Date.now() > deadline) {
      throw new Error(`key ${sent.key} still answers 409 IDEMPOTENCY_KEY_IN_PROGRESS`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('Idempotency-Key across a crash (kill -9)', () => {
  it('completes every resent key after a restart, each change applied once', async () => {
    const first = await start();
    const sent: Sent[] = [];
    let answered = 0;
    let killed = false;
    let reachedKillPoint!: () => void;
    const killPoint = new Promise<void>((resolve) => {
      reachedKillPoint = resolve;
    });
    const client = async (c: number) => {
      for (let n = 0; !killed; n++) {
        const request: Sent = { key: `k-${c}-${n}`, name: `item-${c}-${n}` };
        sent.push(request);
        try {
          const res = await post(first.url, request);
          request.answer = { status: res.status, body: await res.json() };
          if (++answered === ANSWERS_BEFORE_KILL) reachedKillPoint();
        } catch {
          return; // the server died under this request: it was never answered
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
    await killPoint;
    killed = true;
    await first.stop('SIGKILL');
    await Promise.all(clients);

    const unanswered = sent.filter((s) => s.answer === undefined);
    expect(sent.filter((s) => s.answer !== undefined).every((s) => s.answer?.status === 201)).toBe(
      true,
    );
    // The kill landed mid-request: some keys were claimed and never answered.
    const storage = await createSqliteCartStorage({ path: join(dir, 'cart.db') });
    const scoped = (s: Sent) => `http:7:default:${s.key}`; // the router's key for the shared cart
    const inProgress = (
      await Promise.all(unanswered.map((s) => storage.idempotency.get(scoped(s))))
    ).filter((record) => record?.status === 'in-progress');
    await storage.close();
    expect(unanswered.length).toBeGreaterThan(0);
    expect(inProgress.length).toBeGreaterThan(0);

    const second = await start();
    const deadline = Date.now() + 15_000;
    for (const request of sent) {
      const res = await resend(second.url, request, deadline);
      expect(res.status, `${request.key}`).toBe(201);
      const body = await res.json();
      if (request.answer !== undefined) {
        // Answered before the crash: the retry replays that very answer.
        expect(res.headers.get('idempotent-replayed')).toBe('true');
        expect(body).toEqual(request.answer.body);
      }
    }

    // Every key's change is in the cart exactly once; nothing else is.
    const cart = (await (await fetch(`${second.url}/items`)).json()) as {
      items: Array<{ name: string; quantity: number }>;
    };
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect(cart.items.map(({ name, quantity }) => ({ name, quantity })).sort(byName)).toEqual(
      sent.map((s) => ({ name: s.name, quantity: 1 })).sort(byName),
    );
  }, 60_000);
});
