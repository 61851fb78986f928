import assert from 'node:assert/strict';
import {
  type Cart,
  CartService,
  type CartStorage,
  type Clock,
  ConflictError,
  ErrorCode,
  type IdempotencyRecord,
  newJob,
  type ReservationJob,
} from '@cartkit/core';
import { FakeClock } from '../fake-clock.js';
import { inertScheduler } from '../inert-scheduler.js';
import type { TestApi } from './test-api.js';

/** What a storage factory is given. */
export interface StorageFactoryContext {
  /** The clock the storage must use to expire idempotency records. */
  readonly clock: Clock;
}

/** Builds a fresh, empty storage for one test. */
export type StorageFactory = (context: StorageFactoryContext) => Promise<CartStorage> | CartStorage;

/** Optional abilities of a storage adapter, and hooks to test them. */
export interface StorageCapabilities {
  /**
   * Durable storage: reopen the same data after `close()` (a new instance on the
   * same file or database). Enables the persistence tests.
   */
  readonly reopen?: (previous: CartStorage, context: StorageFactoryContext) => Promise<CartStorage>;
}

const at = '2026-01-01T00:00:00.000Z';

function cart(id: string, version: number, names: string[] = []): Cart {
  return {
    id,
    version,
    createdAt: at,
    updatedAt: at,
    lines: names.map((name, i) => ({
      name,
      quantity: i + 1,
      reservation: null,
      addedAt: at,
      updatedAt: at,
    })),
  };
}

function job(id: string, runAt: number, cartId = 'c1'): ReservationJob {
  return {
    ...newJob({ id, kind: 'reserve', cartId, itemName: 'A', quantity: 1, now: runAt }),
    runAt,
  };
}

function record(key: string, expiresAt: number): IdempotencyRecord {
  return { key, fingerprint: 'f1', status: 'in-progress', response: null, expiresAt };
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, code);
    return true;
  });
}

/**
 * The {@link CartStorage} contract. Every storage adapter runs it, in full.
 *
 * @example
 * ```ts
 * import { describe, it, beforeEach, afterEach } from 'vitest';
 * storageContractSuite({ describe, it, beforeEach, afterEach }, 'sqlite', ({ clock }) =>
 *   createSqliteCartStorage({ path: tmpFile(), clock }));
 * ```
 */
export function storageContractSuite(
  test: TestApi,
  name: string,
  factory: StorageFactory,
  capabilities: StorageCapabilities = {},
): void {
  const { describe, it, beforeEach, afterEach } = test;

  describe(`CartStorage contract: ${name}`, () => {
    let storage: CartStorage;
    let clock: FakeClock;
    const opened: CartStorage[] = [];

    beforeEach(async () => {
      clock = new FakeClock();
      storage = await factory({ clock });
      opened.push(storage);
    });

    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close().catch(() => undefined);
    });

    describe('carts', () => {
      it('reads undefined for a cart never saved', async () => {
        assert.equal(await storage.getCart('nobody'), undefined);
      });

      it('reads back exactly what was saved', async () => {
        const saved = cart('c1', 1, ['Product1', 'Ünïcødé ✓', 'a "quoted" \\ name']);
        await storage.saveCart(saved, { expectedVersion: 0 });
        assert.deepEqual(await storage.getCart('c1'), saved);
      });

      it('keeps carts apart', async () => {
        await storage.saveCart(cart('c1', 1, ['A']), { expectedVersion: 0 });
        await storage.saveCart(cart('c2', 1, ['B']), { expectedVersion: 0 });
        assert.deepEqual(
          (await storage.getCart('c1'))?.lines.map((l) => l.name),
          ['A'],
        );
        assert.deepEqual(
          (await storage.getCart('c2'))?.lines.map((l) => l.name),
          ['B'],
        );
      });

      it('returns copies: changing a read value does not change the store', async () => {
        await storage.saveCart(cart('c1', 1, ['A']), { expectedVersion: 0 });
        const read = (await storage.getCart('c1')) as unknown as {
          lines: Array<{ quantity: number }>;
        };
        (read.lines[0] as { quantity: number }).quantity = 99;
        assert.equal((await storage.getCart('c1'))?.lines[0]?.quantity, 1);
      });

      it('saves a new version over the expected one', async () => {
        await storage.saveCart(cart('c1', 1, ['A']), { expectedVersion: 0 });
        await storage.saveCart(cart('c1', 2, ['A', 'B']), { expectedVersion: 1 });
        assert.equal((await storage.getCart('c1'))?.version, 2);
      });

      it('rejects a stale save with VERSION_CONFLICT and keeps the stored cart', async () => {
        await storage.saveCart(cart('c1', 1, ['A']), { expectedVersion: 0 });
        await storage.saveCart(cart('c1', 2, ['A', 'B']), { expectedVersion: 1 });
        await rejectsWithCode(
          storage.saveCart(cart('c1', 2, ['X']), { expectedVersion: 1 }),
          ErrorCode.VERSION_CONFLICT,
        );
        const stored = await storage.getCart('c1');
        assert.equal(stored?.version, 2);
        assert.deepEqual(
          stored?.lines.map((l) => l.name),
          ['A', 'B'],
        );
      });

      it('rejects creating a cart that already exists', async () => {
        await storage.saveCart(cart('c1', 1, ['A']), { expectedVersion: 0 });
        await assert.rejects(
          storage.saveCart(cart('c1', 1, ['B']), { expectedVersion: 0 }),
          (e: unknown) => ConflictError.is(e),
        );
        assert.deepEqual(
          (await storage.getCart('c1'))?.lines.map((l) => l.name),
          ['A'],
        );
      });

      it('rejects saving against a version of a cart that does not exist', async () => {
        await rejectsWithCode(
          storage.saveCart(cart('c1', 4), { expectedVersion: 3 }),
          ErrorCode.VERSION_CONFLICT,
        );
        assert.equal(await storage.getCart('c1'), undefined);
      });

      it('lets exactly one of many racing saves of one version win', async () => {
        await storage.saveCart(cart('c1', 1), { expectedVersion: 0 });
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            storage.saveCart(cart('c1', 2, [`w${i}`]), { expectedVersion: 1 }),
          ),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) if (r.status === 'rejected') assert.ok(ConflictError.is(r.reason));
        assert.equal((await storage.getCart('c1'))?.version, 2);
      });

      it('holds many carts and still reads each one correctly', async () => {
        const ids = Array.from({ length: 500 }, (_, i) => `cart-${i}`);
        for (let i = 0; i < ids.length; i += 50) {
          await Promise.all(
            ids
              .slice(i, i + 50)
              .map((id) => storage.saveCart(cart(id, 1, [id]), { expectedVersion: 0 })),
          );
        }
        for (const id of ['cart-0', 'cart-250', 'cart-499']) {
          assert.deepEqual(
            (await storage.getCart(id))?.lines.map((l) => l.name),
            [id],
          );
        }
        assert.equal(await storage.getCart('cart-500'), undefined);
      });
    });

    describe('read-modify-write through CartService', () => {
      it('loses no update under 200 concurrent adds to one cart from two writers', async () => {
        // Two services on one storage stand for two processes: their in-process
        // serialisation does not cover each other, so only compare-and-set does.
        const services = [0, 1].map(
          () => new CartService({ storage, scheduler: inertScheduler, clock, reserveOnAdd: false }),
        );
        await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            services[i % 2]?.addItem('shared', { name: 'Product1' }),
          ),
        );
        const stored = await storage.getCart('shared');
        assert.equal(stored?.lines.length, 1);
        assert.equal(stored?.lines[0]?.quantity, 200);
        assert.equal(stored?.version, 200);
      });

      it('loses no line under 200 concurrent adds of distinct names', async () => {
        const services = [0, 1].map(
          () => new CartService({ storage, scheduler: inertScheduler, clock, reserveOnAdd: false }),
        );
        await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            services[i % 2]?.addItem('shared', { name: `item-${i}` }),
          ),
        );
        const stored = await storage.getCart('shared');
        assert.equal(stored?.lines.length, 200);
        assert.equal(new Set(stored?.lines.map((l) => l.name)).size, 200);
      });

      it('persists the reservation job together with the line that wants it', async () => {
        const service = new CartService({ storage, scheduler: inertScheduler, clock });
        const { line } = await service.addItem('c1', { name: 'Product1', quantity: 2 });
        const jobId = line.reservation?.jobId as string;
        const stored = await storage.getJob(jobId);
        assert.equal(stored?.kind, 'reserve');
        assert.equal(stored?.quantity, 2);
        assert.equal(stored?.cartId, 'c1');
      });
    });

    describe('jobs', () => {
      it('stores jobs atomically with the cart', async () => {
        await storage.saveCart(cart('c1', 1), {
          expectedVersion: 0,
          jobs: [job('j1', 10), job('j2', 20)],
        });
        assert.equal((await storage.getJob('j1'))?.runAt, 10);
        assert.deepEqual(
          (await storage.listJobs()).map((j) => j.id),
          ['j1', 'j2'],
        );
      });

      it('refuses to store a job whose id is already stored, writing nothing', async () => {
        await storage.saveCart(cart('c1', 1), { expectedVersion: 0, jobs: [job('j1', 5)] });
        await rejectsWithCode(
          storage.saveCart(cart('c1', 2, ['A']), { expectedVersion: 1, jobs: [job('j1', 9)] }),
          ErrorCode.VERSION_CONFLICT,
        );
        assert.equal((await storage.getCart('c1'))?.version, 1);
        assert.equal((await storage.getJob('j1'))?.runAt, 5);
      });

      it('stores no job when the cart save loses', async () => {
        await storage.saveCart(cart('c1', 1), { expectedVersion: 0 });
        await assert.rejects(
          storage.saveCart(cart('c1', 1), { expectedVersion: 0, jobs: [job('lost', 1)] }),
        );
        assert.equal(await storage.getJob('lost'), undefined);
        assert.deepEqual(await storage.listJobs(), []);
      });

      it('reads back a job exactly', async () => {
        const j: ReservationJob = {
          ...job('j1', 5),
          kind: 'release',
          reservationId: 'r-1',
          attempts: 2,
          lease: { owner: 'me', until: 99 },
          lastError: { code: 'X', message: 'boom' },
        };
        await storage.saveCart(cart('c1', 1), { expectedVersion: 0, jobs: [j] });
        assert.deepEqual(await storage.getJob('j1'), j);
      });

      it('updates a job only over its expected version', async () => {
        await storage.saveCart(cart('c1', 1), { expectedVersion: 0, jobs: [job('j1', 5)] });
        const claimed = {
          ...job('j1', 5),
          attempts: 1,
          lease: { owner: 'a', until: 50 },
          version: 2,
        };
        await storage.updateJob(claimed, 1);
        assert.deepEqual(await storage.getJob('j1'), claimed);
        await rejectsWithCode(
          storage.updateJob({ ...claimed, lease: { owner: 'b', until: 60 } }, 1),
          ErrorCode.VERSION_CONFLICT,
        );
        assert.equal((await storage.getJob('j1'))?.lease?.owner, 'a');
      });

      it('lets exactly one of racing claims win', async () => {
        await storage.saveCart(cart('c1', 1), { expectedVersion: 0, jobs: [job('j1', 5)] });
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) =>
            storage.updateJob(
              { ...job('j1', 5), lease: { owner: `o${i}`, until: 9 }, version: 2 },
              1,
            ),
          ),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      });

      it('rejects updating or deleting a job that does not exist', async () => {
        await rejectsWithCode(
          storage.updateJob({ ...job('ghost', 1), version: 2 }, 1),
          ErrorCode.VERSION_CONFLICT,
        );
        await rejectsWithCode(storage.deleteJob('ghost', 1), ErrorCode.VERSION_CONFLICT);
      });

      it('deletes a job only at its expected version', async () => {
        await storage.saveCart(cart('c1', 1), { expectedVersion: 0, jobs: [job('j1', 5)] });
        await rejectsWithCode(storage.deleteJob('j1', 7), ErrorCode.VERSION_CONFLICT);
        await storage.deleteJob('j1', 1);
        assert.equal(await storage.getJob('j1'), undefined);
        assert.deepEqual(await storage.listJobs(), []);
      });

      it('lists jobs earliest first, filtered by due time and limited', async () => {
        await storage.saveCart(cart('c1', 1), {
          expectedVersion: 0,
          jobs: [job('late', 300), job('early', 100), job('mid', 200)],
        });
        await storage.saveCart(cart('c2', 1), {
          expectedVersion: 0,
          jobs: [job('other', 150, 'c2')],
        });
        assert.deepEqual(
          (await storage.listJobs()).map((j) => j.id),
          ['early', 'other', 'mid', 'late'],
        );
        assert.deepEqual(
          (await storage.listJobs({ dueBefore: 200 })).map((j) => j.id),
          ['early', 'other', 'mid'],
        );
        assert.deepEqual(
          (await storage.listJobs({ limit: 2 })).map((j) => j.id),
          ['early', 'other'],
        );
      });

      it('lists only unfinished jobs, however many carts there are', async () => {
        for (let i = 0; i < 100; i++) {
          await storage.saveCart(cart(`c${i}`, 1), {
            expectedVersion: 0,
            jobs: i % 10 === 0 ? [job(`j${i}`, i)] : [],
          });
        }
        await storage.deleteJob('j0', 1);
        assert.deepEqual(
          (await storage.listJobs()).map((j) => j.id),
          ['j10', 'j20', 'j30', 'j40', 'j50', 'j60', 'j70', 'j80', 'j90'],
        );
      });
    });

    describe('idempotency records', () => {
      it('creates a record once and reads it back', async () => {
        const r = record('k1', clock.now() + 1000);
        assert.equal(await storage.createIdempotencyRecord(r), true);
        assert.equal(await storage.createIdempotencyRecord({ ...r, fingerprint: 'f2' }), false);
        assert.deepEqual(await storage.getIdempotencyRecord('k1'), r);
      });

      it('lets exactly one of racing creates win', async () => {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            storage.createIdempotencyRecord({
              ...record('race', clock.now() + 1000),
              fingerprint: `f${i}`,
            }),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
      });

      it('completes a record with its response', async () => {
        await storage.createIdempotencyRecord(record('k1', clock.now() + 1000));
        const completed: IdempotencyRecord = {
          ...record('k1', clock.now() + 1000),
          status: 'completed',
          response: { status: 201, headers: { etag: '"3"' }, body: { name: 'A', quantity: 2 } },
        };
        await storage.putIdempotencyRecord(completed);
        assert.deepEqual(await storage.getIdempotencyRecord('k1'), completed);
      });

      it('hides expired records and lets their key be used again', async () => {
        await storage.createIdempotencyRecord(record('k1', clock.now() + 1000));
        clock.set(clock.now() + 1000);
        assert.equal(await storage.getIdempotencyRecord('k1'), undefined);
        assert.equal(await storage.createIdempotencyRecord(record('k1', clock.now() + 1000)), true);
      });

      it('deletes a record', async () => {
        await storage.createIdempotencyRecord(record('k1', clock.now() + 1000));
        await storage.deleteIdempotencyRecord('k1');
        assert.equal(await storage.getIdempotencyRecord('k1'), undefined);
        await storage.deleteIdempotencyRecord('never-there');
      });
    });

    describe('lifecycle', () => {
      it('fails with CLOSED after close', async () => {
        await storage.close();
        await rejectsWithCode(storage.getCart('c1'), ErrorCode.CLOSED);
        await rejectsWithCode(
          storage.saveCart(cart('c1', 1), { expectedVersion: 0 }),
          ErrorCode.CLOSED,
        );
      });

      if (capabilities.reopen !== undefined) {
        const reopen = capabilities.reopen;
        it('keeps carts, jobs and records across close and reopen', async () => {
          await storage.saveCart(cart('c1', 1, ['A']), {
            expectedVersion: 0,
            jobs: [job('j1', 5)],
          });
          await storage.createIdempotencyRecord(record('k1', clock.now() + 1000));
          await storage.close();
          const again = await reopen(storage, { clock });
          opened.push(again);
          assert.deepEqual(await again.getCart('c1'), cart('c1', 1, ['A']));
          assert.equal((await again.getJob('j1'))?.id, 'j1');
          assert.equal((await again.getIdempotencyRecord('k1'))?.fingerprint, 'f1');
        });
      }
    });
  });
}
