import { readFileSync, readSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Cart, ReservationTask } from '@cartkit/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../src/documents.js';
import { createSqliteCartStorage } from '../src/index.js';
import {
  acquireShmDescriptor,
  checksum,
  isConsistent,
  onlyOwnCommits,
  releaseShmDescriptor,
  WAL_INDEX_VERSION,
} from '../src/wal-index.js';
import { assertPackageBuilt, killFixtures, startFixture } from './support/fixtures.js';
import { createTempDir } from './support/temp-dir.js';

const at = new Date(0).toISOString();
const cart = (version: number, quantity: number, id = 'c1'): Cart => ({
  id,
  version,
  lines: [{ name: 'A', quantity, reservation: null, addedAt: at, updatedAt: at }],
  createdAt: at,
  updatedAt: at,
});

const task = (id: string): ReservationTask => ({
  id,
  idempotencyKey: id,
  kind: 'reserve',
  cartId: 'c1',
  itemName: 'A',
  quantity: 1,
  reservationId: null,
  createdAt: 1,
});

// Every statement sqlite3 runs in this process (both connections of every storage):
// @keyv/sqlite binds `Database#all` when it connects, so this wraps it before any opens.
const sqlite3 = createRequire(createRequire(import.meta.url).resolve('@keyv/sqlite'))(
  'sqlite3',
) as { Database: { prototype: { all: (...args: unknown[]) => unknown } } };
let statements = 0;
const all = sqlite3.Database.prototype.all;
sqlite3.Database.prototype.all = function (this: unknown, ...args: unknown[]) {
  statements++;
  return all.apply(this, args);
};
afterAll(() => {
  sqlite3.Database.prototype.all = all;
});

/**
 * The first 96 bytes of a WAL database's `-shm` file: both copies of the header,
 * read through the process's shared descriptor (opening and closing another one
 * would drop this process's SQLite locks on the file).
 */
function header(path: string): Buffer {
  const shm = `${path}-shm`;
  const fd = acquireShmDescriptor(shm);
  try {
    const buffer = Buffer.alloc(96);
    readSync(fd, buffer, 0, 96, 0);
    return buffer;
  } finally {
    releaseShmDescriptor(shm);
  }
}

/** The next message of `type` from a worker thread. */
function nextMessage(worker: Worker, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Record<string, unknown>) => {
      if (message.type !== type) return;
      worker.off('message', onMessage);
      worker.off('error', reject);
      resolve(message);
    };
    worker.on('message', onMessage);
    worker.on('error', reject);
  });
}

/** The POSIX locks this process holds on the file with inode number `inode` (Linux: /proc/locks). */
function locksHeldOn(inode: number): string[] {
  return (
    readFileSync('/proc/locks', 'utf8')
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => {
        const owner = fields.indexOf(String(process.pid));
        return (
          fields.includes('POSIX') &&
          owner > 0 &&
          fields[owner + 1]?.split(':')[2] === String(inode)
        );
      })
      // Without the line's leading ordinal: it numbers every lock on the machine, so it
      // moves when another process takes or drops a lock on any file.
      .map((fields) => fields.slice(1).join(' '))
      .sort()
  );
}
const wordsOf = (buffer: Buffer) => new Uint32Array(buffer.buffer, buffer.byteOffset, 24);

describe('the wal-index header check (SQLite walIndexTryHdr)', () => {
  const dir = createTempDir();
  afterAll(() => dir.remove());

  it('accepts the header SQLite wrote and refuses a torn, uninitialised or damaged one', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    const good = header(path);
    await storage.close();
    expect(wordsOf(good)[0]).toBe(WAL_INDEX_VERSION);
    expect(isConsistent(good, wordsOf(good))).toBe(true);

    // A commit writing the header right now: the second copy new, the first still old.
    const torn = Buffer.from(good);
    torn.writeUInt32LE(torn.readUInt32LE(48 + 16) + 1, 48 + 16); // copy 2's mxFrame
    expect(isConsistent(torn, wordsOf(torn))).toBe(false);

    // Both copies equal but the checksum does not match their content.
    const damaged = Buffer.from(good);
    for (const copy of [0, 48]) damaged.writeUInt32LE(damaged.readUInt32LE(copy + 8) + 1, copy + 8);
    expect(isConsistent(damaged, wordsOf(damaged))).toBe(false);
    // …and with the checksum recomputed, accepted.
    const words = wordsOf(damaged);
    const [s1, s2] = checksum(words, 10);
    for (const copy of [0, 12]) {
      words[copy + 10] = s1;
      words[copy + 11] = s2;
    }
    expect(isConsistent(damaged, words)).toBe(true);

    const uninitialised = Buffer.from(good);
    uninitialised[12] = 0;
    uninitialised[48 + 12] = 0;
    expect(isConsistent(uninitialised, wordsOf(uninitialised))).toBe(false);
    expect(isConsistent(Buffer.alloc(96), wordsOf(Buffer.alloc(96)))).toBe(false);
  });
});

describe("telling our own commit from anyone else's (iChange)", () => {
  const mark = (snapshot: number, change: number) => ({ snapshot, change });

  it('accepts exactly one commit more for one commit of ours, and an unchanged header for none', () => {
    expect(onlyOwnCommits(mark(3, 41), mark(4, 42), 1)).toBe(true);
    expect(onlyOwnCommits(mark(3, 41), mark(3, 41), 0)).toBe(true);
    // A counter that wrapped is still one more.
    expect(onlyOwnCommits(mark(3, 0xfffffffe), mark(4, 0xffffffff), 1)).toBe(true);
  });

  it('refuses anything else: another commit besides ours, a change without ours, none where ours should be, a counter at 0', () => {
    expect(onlyOwnCommits(mark(3, 41), mark(4, 43), 1)).toBe(false); // someone else committed too
    expect(onlyOwnCommits(mark(3, 41), mark(4, 42), 0)).toBe(false); // someone else committed
    expect(onlyOwnCommits(mark(3, 41), mark(4, 41), 0)).toBe(false); // a reset: not ours to vouch for
    expect(onlyOwnCommits(mark(3, 41), mark(3, 41), 1)).toBe(false);
    expect(onlyOwnCommits(mark(3, 41), mark(4, 41), 1)).toBe(false);
    // SQLite's recovery of a damaged header restarts the counter at 0.
    expect(onlyOwnCommits(mark(3, 0xffffffff), mark(4, 0), 1)).toBe(false);
  });
});

describe('reads that skip SQLite while nothing was committed', () => {
  const dir = createTempDir();
  afterAll(() => dir.remove());

  it('runs no statement for reads of a cart while the file is unchanged, and reads again after a save by another connection', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    const first = await storage.getCart('c1');
    const before = statements;
    for (let i = 0; i < 100; i++) expect(await storage.getCart('c1')).toBe(first);
    expect(statements - before).toBe(0);

    // Another connection (a second storage on the file: to SQLite, another writer).
    const other = await createSqliteCartStorage({ path });
    await other.saveCart(cart(2, 2), { expectedVersion: 1 });
    const afterSave = statements;
    expect(await storage.getCart('c1')).toEqual(cart(2, 2));
    expect(statements - afterSave).toBe(1);
    await other.close();
    await storage.close();
  });

  it("makes no statement to read a cart after this storage's own save, whose commit was the only one", async () => {
    const storage = await createSqliteCartStorage({ path: dir.file() });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    const before = statements;
    expect(await storage.getCart('c1')).toEqual(cart(1, 1));
    await storage.saveCart(cart(2, 2), { expectedVersion: 1 });
    const read = await storage.getCart('c1');
    expect(read).toEqual(cart(2, 2));
    expect(Object.isFrozen(read)).toBe(true);
    expect(statements - before).toBe(1); // the save's upsert, and no read
    await storage.close();
  });

  it('also after reopening a file closed cleanly (an empty WAL, whose header records no page size)', async () => {
    const path = dir.file();
    const first = await createSqliteCartStorage({ path });
    await first.saveCart(cart(1, 1), { expectedVersion: 0 });
    await first.close();
    const storage = await createSqliteCartStorage({ path });
    expect(header(path).readUInt16LE(14)).toBe(0);
    const read = await storage.getCart('c1');
    const before = statements;
    for (let i = 0; i < 10; i++) expect(await storage.getCart('c1')).toBe(read);
    expect(statements - before).toBe(0);
    await storage.saveCart(cart(2, 2), { expectedVersion: 1 });
    expect(await storage.getCart('c1')).toEqual(cart(2, 2));
    await storage.close();
  });

  it("a save of another cart by another connection is a commit the next read asks SQLite about (and finds the same cart); this storage's own is not", async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    const other = await createSqliteCartStorage({ path });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    const first = await storage.getCart('c1');
    await storage.saveCart(cart(1, 1, 'c2'), { expectedVersion: 0 });
    let before = statements;
    expect(await storage.getCart('c1')).toBe(first);
    expect(statements - before).toBe(0);
    await other.saveCart(cart(1, 1, 'c3'), { expectedVersion: 0 });
    before = statements;
    expect(await storage.getCart('c1')).toBe(first);
    expect(statements - before).toBe(1);
    await other.close();
    await storage.close();
  });

  it("the outbox's claims, completions and releases by this storage do not make the next read ask SQLite", async () => {
    const storage = await createSqliteCartStorage({ path: dir.file() });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0, tasks: [task('t1'), task('t2')] });
    const first = await storage.getCart('c1');
    expect(first).toEqual(cart(1, 1));
    const [one, two] = await storage.claim({ owner: 'o', limit: 10, leaseMs: 1_000 });
    expect([one?.task.id, two?.task.id]).toEqual(['t1', 't2']);
    expect(await storage.complete('t1', 'o')).toBe(true);
    expect(await storage.release('t2', 'o', 0)).toBe(true);
    const before = statements;
    expect(await storage.getCart('c1')).toBe(first);
    expect(statements - before).toBe(0);
    await storage.close();
  });

  it.runIf(process.platform === 'linux')(
    "keeps SQLite's locks on the -shm file while open, though another storage of this process on the file closed",
    async () => {
      // Closing any descriptor of a file drops all of the process's POSIX locks on it:
      // a probe that closed its own -shm descriptor while SQLite connections were open
      // took away the lock that stops another process from re-initialising the
      // shared memory under them.
      const path = dir.file();
      const first = await createSqliteCartStorage({ path });
      await first.saveCart(cart(1, 1), { expectedVersion: 0 });
      const shm = statSync(`${path}-shm`).ino;
      const held = locksHeldOn(shm);
      expect(held.length).toBeGreaterThan(0);
      const second = await createSqliteCartStorage({ path });
      expect((await second.getCart('c1'))?.version).toBe(1);
      await second.close();
      expect(locksHeldOn(shm)).toEqual(held);
      header(path);
      expect(locksHeldOn(shm)).toEqual(held);
      await first.saveCart(cart(2, 2), { expectedVersion: 1 });
      expect((await first.getCart('c1'))?.version).toBe(2);
      await first.close();
      expect(locksHeldOn(shm)).toEqual([]);
    },
  );

  it.runIf(process.platform === 'linux')(
    "keeps SQLite's locks on the -shm file while a storage of any thread of this process is open on it",
    async () => {
      // The locks belong to the process; a storage of a worker thread has its own
      // registry of descriptors, and Node closes a worker's descriptors when it exits:
      // a worker's probe closing (or leaving behind) a descriptor on the -shm file, or
      // the main thread's probe closing its own while a worker's connections are open,
      // took the lock that stops another process re-initialising the shared memory.
      assertPackageBuilt();
      const path = dir.file();
      const main = await createSqliteCartStorage({ path });
      await main.saveCart(cart(1, 1), { expectedVersion: 0 });
      const shm = statSync(`${path}-shm`).ino;
      const locks = () => locksHeldOn(shm).map((line) => line.replace(/^\d+:\s*/, ''));
      const held = locks();
      expect(held.length).toBeGreaterThan(0);

      // A worker opens a storage on the file, reads, closes it and exits.
      const brief = new Worker(new URL('./fixtures/worker-storage.mjs', import.meta.url), {
        workerData: { path, stayOpen: false },
      });
      const briefExit = new Promise((resolve) => brief.once('exit', resolve));
      expect(await nextMessage(brief, 'open')).toMatchObject({ version: 1 });
      await nextMessage(brief, 'closed');
      expect(locks()).toEqual(held);
      await briefExit;
      expect(locks()).toEqual(held);

      // A worker's storage stays open while the main thread's closes.
      const lasting = new Worker(new URL('./fixtures/worker-storage.mjs', import.meta.url), {
        workerData: { path, stayOpen: true },
      });
      const lastingExit = new Promise((resolve) => lasting.once('exit', resolve));
      await nextMessage(lasting, 'open');
      await main.close();
      expect(locks()).toEqual(held);
      lasting.postMessage('close');
      await nextMessage(lasting, 'closed');
      await lastingExit;
      expect(locks()).toEqual([]);
    },
  );

  it('on :memory: (no -shm file) every read asks SQLite', async () => {
    const storage = await createSqliteCartStorage({ path: ':memory:' });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    const before = statements;
    for (let i = 0; i < 10; i++) expect(await storage.getCart('c1')).toEqual(cart(1, 1));
    expect(statements - before).toBe(10);
    await storage.saveCart(cart(2, 3), { expectedVersion: 1 });
    expect(await storage.getCart('c1')).toEqual(cart(2, 3));
    await storage.close();
  });

  it('a read after close is refused, as before', async () => {
    const storage = await createSqliteCartStorage({ path: dir.file() });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    await storage.getCart('c1');
    await storage.close();
    await expect(storage.getCart('c1')).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

// The hard requirement: never a stale read after another process wrote. Real second
// processes, each on its own connections to the same file.
describe('another process writing the file', () => {
  const dir = createTempDir();
  beforeAll(() => assertPackageBuilt());
  afterEach(() => killFixtures());
  afterAll(() => dir.remove());

  /** Another process with a plain connection; `run` sends statements, resolves with their rows. */
  async function otherProcess(path: string) {
    const other = startFixture('run-sql', [path]);
    await other.next('ready');
    return {
      run: async (...list: unknown[][]): Promise<Array<Array<Record<string, unknown>>>> => {
        other.send({ type: 'sql', statements: list });
        const answer = await other.next('result');
        if (answer.failed !== undefined) {
          const { message, code } = answer.failed as { message: string; code: string };
          throw Object.assign(new Error(message), { code });
        }
        return answer.results as Array<Array<Record<string, unknown>>>;
      },
      stop: async () => {
        other.send({ type: 'exit' });
        expect((await other.exited).code).toBe(0);
      },
    };
  }
  /**
   * Another process saving c1 300 times as fast as it can, started: `acknowledged` is
   * the last version it reported committed, `finished` turns true after the 300th.
   */
  async function startSaveLoop(path: string) {
    const fixture = startFixture('save-loop', [path, 'c1', '300']);
    await fixture.next('ready');
    const state = { acknowledged: 0, finished: false, exited: fixture.exited };
    fixture.child.on('message', (message: { type: string; version?: number }) => {
      if (message.type === 'saved') state.acknowledged = message.version ?? 0;
      if (message.type === 'finished') state.finished = true;
    });
    fixture.send({ type: 'go' });
    return state;
  }
  const setQuantity = (quantity: number) => [
    `UPDATE cartkit SET value = replace(value, '"quantity":' || json_extract(value, '$.value.data.lines[0].quantity'), '"quantity":${quantity}') WHERE key = ?`,
    keys.cart('c1'),
  ];

  it('never returns a version older than one the other process had saved when the read began', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    const other = await startSaveLoop(path);
    let reads = 0;
    let stale = 0;
    let previous = 0;
    while (!other.finished) {
      const saved = other.acknowledged; // committed before this read began
      const read = (await storage.getCart('c1'))?.version ?? 0;
      if (read < saved || read < previous) stale++;
      previous = read;
      reads++;
      // Let the other process's messages in between reads that skip SQLite.
      if (reads % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(stale).toBe(0);
    expect((await storage.getCart('c1'))?.version).toBe(300);
    expect(reads).toBeGreaterThan(0);
    expect((await other.exited).code).toBe(0);
    await storage.close();
  });

  it("never carries a cart forward over this storage's own claims, completions and releases when the other process wrote it in between", async () => {
    // The outbox's writer jobs move the carts this storage knows forward too (they write
    // no cart): only when their one commit was the only one. Another process saves c1
    // as fast as it can while this one claims, completes and releases tasks and reads c1.
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    const tasks = Array.from({ length: 50 }, (_, i) => task(`t${i}`));
    await storage.saveCart(cart(1, 1, 'c2'), { expectedVersion: 0, tasks });
    const other = await startSaveLoop(path);
    let stale = 0;
    let jobs = 0;
    while (!other.finished) {
      const saved = other.acknowledged; // committed before this read began
      const read = (await storage.getCart('c1'))?.version ?? 0;
      if (read < saved) stale++;
      const [claimed] = await storage.claim({ owner: 'o', limit: 1, leaseMs: 60_000 });
      if (claimed !== undefined) {
        const id = claimed.task.id;
        // Every other job gives the task back (due now), so the outbox never runs dry.
        if (jobs % 2 === 0) expect(await storage.release(id, 'o', 0)).toBe(true);
        else expect(await storage.complete(id, 'o')).toBe(true);
        if (jobs % 2 === 1) await storage.enqueueTasks([task(`${id}-again-${jobs}`)]);
      }
      jobs++;
    }
    expect(stale).toBe(0);
    expect(jobs).toBeGreaterThan(0);
    expect((await storage.getCart('c1'))?.version).toBe(300);
    expect((await other.exited).code).toBe(0);
    await storage.close();
  });

  it("never carries a cart forward over this storage's own saves when the other process wrote it in between", async () => {
    // This process saves its own cart c2 over and over while the other saves c1 as fast
    // as it can: each of this process's saves moves the carts it knows (c1) forward only
    // if its commit was the only one, so a c1 save of the other process landing between
    // the two looks at the header must make the next read of c1 ask SQLite.
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    const other = await startSaveLoop(path);
    let own = 0;
    let stale = 0;
    while (!other.finished) {
      const saved = other.acknowledged; // committed before this read began
      const read = (await storage.getCart('c1'))?.version ?? 0;
      if (read < saved) stale++;
      own++;
      await storage.saveCart(cart(own, own, 'c2'), { expectedVersion: own - 1 });
    }
    expect(stale).toBe(0);
    expect((await storage.getCart('c1'))?.version).toBe(300);
    expect((await storage.getCart('c2'))?.version).toBe(own);
    expect((await other.exited).code).toBe(0);
    await storage.close();
  });

  it('sees a write that keeps the version (only the text changes)', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    const other = await otherProcess(path);
    for (let quantity = 2; quantity <= 20; quantity++) {
      expect(await storage.getCart('c1')).toEqual(cart(1, quantity - 1));
      expect(await storage.getCart('c1')).toEqual(cart(1, quantity - 1)); // no statement
      await other.run(setQuantity(quantity));
      expect(await storage.getCart('c1')).toEqual(cart(1, quantity));
    }
    await other.stop();
    await storage.close();
  });

  it('sees every write after the other process reset the WAL (checkpoints), though the frame count repeats', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    const other = await otherProcess(path);
    const frames = new Set<number>();
    for (let quantity = 2; quantity <= 21; quantity++) {
      expect(await storage.getCart('c1')).toEqual(cart(1, quantity - 1));
      // TRUNCATE resets the WAL at once, RESTART makes the next write start it over:
      // either way the next write ends at the same frame as the previous round's.
      const mode = quantity % 2 === 0 ? 'TRUNCATE' : 'RESTART';
      const [checkpoint] = await other.run(
        [`PRAGMA wal_checkpoint(${mode})`],
        setQuantity(quantity),
      );
      expect(checkpoint?.[0]?.busy).toBe(0);
      frames.add(header(path).readUInt32LE(16));
      expect(await storage.getCart('c1')).toEqual(cart(1, quantity));
    }
    expect(frames.size).toBeLessThan(20); // the same mxFrame again and again
    await other.stop();
    await storage.close();
  });

  it('cannot be taken out of WAL mode by another process while open; its writes are seen', async () => {
    const path = dir.file();
    const storage = await createSqliteCartStorage({ path });
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    expect(await storage.getCart('c1')).toEqual(cart(1, 1));
    const other = await otherProcess(path);
    const switched = await other.run(['PRAGMA journal_mode = DELETE']).then(
      (results) => String(results[0]?.[0]?.journal_mode),
      (error: { code?: string }) => String(error.code),
    );
    expect(['wal', 'SQLITE_BUSY']).toContain(switched);
    await other.run(setQuantity(5));
    expect(await storage.getCart('c1')).toEqual(cart(1, 5));
    await storage.close();
    // Once this process is gone, it can: the shared lock was what kept it out.
    expect((await other.run(['PRAGMA journal_mode = DELETE']))[0]?.[0]?.journal_mode).toBe(
      'delete',
    );
    await other.run(setQuantity(6));
    await other.stop();
    const reopened = await createSqliteCartStorage({ path });
    expect(reopened.journalMode).toBe('wal');
    expect(await reopened.getCart('c1')).toEqual(cart(1, 6));
    await reopened.close();
  });

  it('a file renamed over it while open: reads answer what SQLite answers (the file it opened)', async () => {
    // (Another process writing the new file while this one is open would share this
    // file's -wal and -shm names: SQLite itself does not survive that — "How To
    // Corrupt An SQLite Database File", 2.4 — so it is not a case to test.)
    const path = dir.file();
    const replacement = dir.file();
    const storage = await createSqliteCartStorage({ path });
    const asking = await createSqliteCartStorage({ path }); // its first read is a statement
    await storage.saveCart(cart(1, 1), { expectedVersion: 0 });
    expect(await storage.getCart('c1')).toEqual(cart(1, 1));
    const elsewhere = await createSqliteCartStorage({ path: replacement });
    await elsewhere.saveCart(cart(1, 7), { expectedVersion: 0 });
    await elsewhere.close();
    renameSync(replacement, path);
    const before = statements;
    const read = await storage.getCart('c1');
    expect(statements - before).toBe(0);
    expect(read).toEqual(await asking.getCart('c1'));
    expect(statements - before).toBe(1);
    await asking.close();
    await storage.close();
  });
});
