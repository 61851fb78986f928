import assert from 'node:assert/strict';
import {
  type Cart,
  CartService,
  type CartStorage,
  type Clock,
  ConflictError,
  ErrorCode,
  newTask,
  type ReservationTask,
} from '@cartkit/core';
import { FakeClock } from '../fake-clock.js';
import { inertScheduler } from '../inert-scheduler.js';
import { rejectsWithCode } from './assertions.js';
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

function task(id: string, createdAt = 1, cartId = 'c1'): ReservationTask {
  return newTask({ id, kind: 'reserve', cartId, itemName: 'A', quantity: 1, now: createdAt });
}

const LEASE = 1_000;

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

      it('shares nothing mutable: a read value is a copy or frozen, never a way to change the store', async () => {
        const saved = cart('c1', 1, ['A']);
        await storage.saveCart(saved, { expectedVersion: 0 });
        // Changing the saved object afterwards does not change the store either.
        (saved.lines[0] as { quantity: number }).quantity = 42;
        const read = (await storage.getCart('c1')) as unknown as {
          lines: Array<{ quantity: number }>;
        };
        try {
          (read.lines[0] as { quantity: number }).quantity = 99;
        } catch (error) {
          // A frozen read value (a store that hands one object to several reads).
          assert.ok(error instanceof TypeError, `expected a TypeError, got ${String(error)}`);
        }
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
        // Adds waiting on a save of the cart may be combined into one version.
        assert.ok((stored?.version ?? 0) >= 2 && (stored?.version ?? 0) <= 200);
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

      it('persists the reservation task together with the line that wants it', async () => {
        const service = new CartService({ storage, scheduler: inertScheduler, clock });
        const { line } = await service.addItem('c1', { name: 'Product1', quantity: 2 });
        const [claimed] = await storage.claim({ owner: 'a', limit: 10, leaseMs: LEASE });
        assert.equal(claimed?.task.id, line.reservation?.jobId);
        assert.equal(claimed?.task.kind, 'reserve');
        assert.equal(claimed?.task.quantity, 2);
        assert.equal(claimed?.task.cartId, 'c1');
      });
    });

    describe('outbox', () => {
      const claim = (owner: string, limit = 10) => storage.claim({ owner, limit, leaseMs: LEASE });
      const ids = (claimed: readonly { task: ReservationTask }[]) => claimed.map((c) => c.task.id);

      it('stores tasks atomically with the cart; claims them oldest first, exactly as written', async () => {
        const release: ReservationTask = {
          ...task('t2', 2),
          kind: 'release',
          reservationId: 'r-1',
          idempotencyKey: 'key-0',
        };
        await storage.saveCart(cart('c1', 1), {
          expectedVersion: 0,
          tasks: [task('t1', 1), release],
        });
        const claimed = await claim('a');
        assert.deepEqual(claimed, [
          { task: task('t1', 1), attempt: 1, leaseUntil: clock.now() + LEASE },
          { task: release, attempt: 1, leaseUntil: clock.now() + LEASE },
        ]);
      });

      it('refuses a task whose id is already stored, writing nothing', async () => {
        await storage.saveCart(cart('c1', 1), { expectedVersion: 0, tasks: [task('t1')] });
        await rejectsWithCode(
          storage.saveCart(cart('c1', 2, ['A']), {
            expectedVersion: 1,
            tasks: [task('t1', 9), task('t9', 9)],
          }),
          ErrorCode.VERSION_CONFLICT,
        );
        assert.equal((await storage.getCart('c1'))?.version, 1);
        const claimed = await claim('a');
        assert.deepEqual(ids(claimed), ['t1']);
        assert.equal(claimed[0]?.task.createdAt, 1);
      });

      it('stores no task when the cart save loses', async () => {
        await storage.saveCart(cart('c1', 1), { expectedVersion: 0 });
        await assert.rejects(
          storage.saveCart(cart('c1', 1), { expectedVersion: 0, tasks: [task('lost')] }),
        );
        assert.deepEqual(await claim('a'), []);
        assert.equal(await storage.nextDueAt(), undefined);
      });

      it('adds tasks without a cart change: no version bump; a known id is left as it is', async () => {
        await storage.saveCart(cart('c1', 1, ['A']), { expectedVersion: 0, tasks: [task('t1')] });
        await claim('a');
        await storage.enqueueTasks([task('t1', 5), task('t2', 6)]);
        assert.deepEqual(await storage.getCart('c1'), cart('c1', 1, ['A']));
        const claimed = await claim('b');
        assert.deepEqual(ids(claimed), ['t2'], 't1 is still leased by a, unchanged');
        await clock.advance(LEASE);
        const [again] = await claim('b');
        assert.equal(again?.task.id, 't1');
        assert.equal(again?.task.createdAt, 1);
        assert.equal(again?.attempt, 2);
      });

      it('claims at most `limit`, and never what another owner holds', async () => {
        await storage.enqueueTasks([task('t1', 1), task('t2', 2), task('t3', 3)]);
        assert.deepEqual(ids(await claim('a', 2)), ['t1', 't2']);
        assert.deepEqual(ids(await claim('b', 5)), ['t3']);
        assert.deepEqual(await claim('c', 5), []);
      });

      it('lets another owner take over a task whose lease expired; the old holder then loses it', async () => {
        await storage.enqueueTasks([task('t1')]);
        const [first] = await claim('a');
        assert.equal(first?.attempt, 1);
        await clock.advance(LEASE - 1);
        assert.deepEqual(await claim('b'), []);
        await clock.advance(1);
        const [taken] = await claim('b');
        assert.equal(taken?.attempt, 2);
        assert.equal(await storage.complete('t1', 'a'), false);
        assert.equal(await storage.release('t1', 'a', clock.now()), false);
        assert.equal(await storage.complete('t1', 'b'), true);
        assert.equal(await storage.nextDueAt(), undefined);
      });

      it('completes only for the holder, and a completed task is gone', async () => {
        await storage.enqueueTasks([task('t1')]);
        assert.equal(await storage.complete('t1', 'a'), false, 'not claimed yet');
        await claim('a');
        assert.equal(await storage.complete('t1', 'b'), false);
        assert.equal(await storage.complete('t1', 'a'), true);
        assert.equal(await storage.complete('t1', 'a'), false);
        await clock.advance(LEASE);
        assert.deepEqual(await claim('a'), []);
      });

      it('gives a released task back at its new due time, keeping its attempt count', async () => {
        await storage.enqueueTasks([task('t1')]);
        await claim('a');
        const retryAt = clock.now() + 500;
        assert.equal(await storage.release('t1', 'b', retryAt), false);
        assert.equal(await storage.release('t1', 'a', retryAt), true);
        assert.equal(await storage.nextDueAt(), retryAt);
        await clock.advance(499);
        assert.deepEqual(await claim('b'), []);
        await clock.advance(1);
        const [again] = await claim('b');
        assert.equal(again?.attempt, 2);
      });

      it('reports when the next task is due: its due time, or its lease expiry', async () => {
        assert.equal(await storage.nextDueAt(), undefined);
        const start = clock.now();
        await storage.enqueueTasks([task('t1')]);
        assert.ok(((await storage.nextDueAt()) ?? Infinity) <= start, 'due now');
        await claim('a');
        assert.equal(await storage.nextDueAt(), start + LEASE);
        await storage.release('t1', 'a', start + 200);
        assert.equal(await storage.nextDueAt(), start + 200);
      });

      it('lets exactly one of racing claims take a task', async () => {
        await storage.enqueueTasks([task('t1')]);
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => claim(`o${i}`, 1)));
        assert.equal(results.flat().length, 1);
      });

      it('hands out every task exactly once to racing owners', async () => {
        await storage.enqueueTasks(Array.from({ length: 30 }, (_, i) => task(`t${i}`, i)));
        const results = await Promise.all(Array.from({ length: 6 }, (_, i) => claim(`o${i}`, 4)));
        const claimedIds = results.flatMap(ids);
        assert.equal(claimedIds.length, 24);
        assert.equal(new Set(claimedIds).size, 24);
      });

      it('finds due tasks among many carts without them', async () => {
        for (let i = 0; i < 100; i++) {
          await storage.saveCart(cart(`c${i}`, 1), {
            expectedVersion: 0,
            tasks: i % 10 === 0 ? [task(`t${i}`, i, `c${i}`)] : [],
          });
        }
        assert.deepEqual(ids(await claim('a', 3)), ['t0', 't10', 't20']);
        assert.equal(await storage.complete('t0', 'a'), true);
        assert.deepEqual(ids(await claim('b', 100)), [
          't30',
          't40',
          't50',
          't60',
          't70',
          't80',
          't90',
        ]);
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
        await rejectsWithCode(storage.enqueueTasks([task('t1')]), ErrorCode.CLOSED);
        await rejectsWithCode(
          storage.claim({ owner: 'a', limit: 1, leaseMs: LEASE }),
          ErrorCode.CLOSED,
        );
      });

      if (capabilities.reopen !== undefined) {
        const reopen = capabilities.reopen;
        it('keeps carts, tasks (with their attempts) across close and reopen', async () => {
          await storage.saveCart(cart('c1', 1, ['A']), {
            expectedVersion: 0,
            tasks: [task('t1'), task('t2', 2)],
          });
          await storage.claim({ owner: 'a', limit: 1, leaseMs: LEASE });
          await storage.release('t1', 'a', clock.now());
          await storage.close();
          const again = await reopen(storage, { clock });
          opened.push(again);
          assert.deepEqual(await again.getCart('c1'), cart('c1', 1, ['A']));
          const claimed = await again.claim({ owner: 'b', limit: 5, leaseMs: LEASE });
          assert.deepEqual(
            claimed.map((c) => [c.task.id, c.attempt]),
            [
              ['t1', 2],
              ['t2', 1],
            ],
          );
        });
      }
    });
  });
}
