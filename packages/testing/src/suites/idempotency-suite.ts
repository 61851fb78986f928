import assert from 'node:assert/strict';
import {
  type Cart,
  type CartStore,
  type Clock,
  type CompletedIdempotencyRecord,
  ConflictError,
  ErrorCode,
  type IdempotencyRecord,
  type IdempotencyStore,
  newTask,
} from '@cartkit/core';
import { FakeClock } from '../fake-clock.js';
import { rejectsWithCode } from './assertions.js';
import type { TestApi } from './test-api.js';

/** What an idempotency store factory is given. */
export interface IdempotencyStoreFactoryContext {
  /** The clock the store must use for leases and expiry. */
  readonly clock: Clock;
}

/** One store under test, and what the suite may do with it. */
export interface IdempotencyStoreHarness {
  /** The store under test. */
  readonly store: IdempotencyStore;
  /**
   * The cart storage this store belongs to (`carts.idempotency === store`).
   * Required with the `atomicCartWrites` capability.
   */
  readonly carts?: CartStore;
  /**
   * Opens another instance on the same backend (as another process or server
   * instance would). Required with the `multiInstance` capability.
   */
  readonly another?: () => Promise<IdempotencyStore>;
  /** Releases everything the harness opened. */
  close(): Promise<void>;
}

/** Builds a fresh, empty store for one test. */
export type IdempotencyStoreFactory = (
  context: IdempotencyStoreFactoryContext,
) => Promise<IdempotencyStoreHarness> | IdempotencyStoreHarness;

/** Optional abilities of an idempotency store adapter. */
export interface IdempotencyStoreCapabilities {
  /**
   * The store belongs to a cart storage that completes records atomically with
   * cart saves (`SaveCartOptions.idempotency`); the harness gives it as `carts`.
   */
  readonly atomicCartWrites?: boolean;
  /**
   * Several instances share one backend (processes on one file, servers on one
   * database); the harness opens another with `another()`.
   */
  readonly multiInstance?: boolean;
  /**
   * Durable store: closes the harness and opens the same data again. Enables the
   * persistence test.
   */
  readonly reopen?: (
    previous: IdempotencyStoreHarness,
    context: IdempotencyStoreFactoryContext,
  ) => Promise<IdempotencyStoreHarness>;
}

const LEASE_MS = 1_000;
const TTL_MS = 60_000;
const at = '2026-01-01T00:00:00.000Z';

function cart(id: string, version: number, names: string[] = []): Cart {
  return {
    id,
    version,
    createdAt: at,
    updatedAt: at,
    lines: names.map((name) => ({
      name,
      quantity: 1,
      reservation: null,
      addedAt: at,
      updatedAt: at,
    })),
  };
}

/**
 * The {@link IdempotencyStore} contract. Every adapter of the port runs it, in
 * full; adapters that complete records atomically with cart saves pass `carts`
 * in their harness, and adapters shared by several instances pass `another`.
 *
 * @example
 * ```ts
 * import { describe, it, beforeEach, afterEach } from 'vitest';
 * idempotencyStoreContractSuite({ describe, it, beforeEach, afterEach }, 'sqlite',
 *   async ({ clock }) => {
 *     const carts = await createSqliteCartStorage({ path: tmpFile(), clock });
 *     return { store: carts.idempotency, carts, close: () => carts.close() };
 *   });
 * ```
 */
export function idempotencyStoreContractSuite(
  test: TestApi,
  name: string,
  factory: IdempotencyStoreFactory,
  capabilities: IdempotencyStoreCapabilities = {},
): void {
  const { describe, it, beforeEach, afterEach } = test;

  describe(`IdempotencyStore contract: ${name}`, () => {
    let harness: IdempotencyStoreHarness;
    let store: IdempotencyStore;
    let clock: FakeClock;
    const opened: IdempotencyStoreHarness[] = [];

    const claim = (key: string, fingerprint = 'f1'): IdempotencyRecord => ({
      key,
      fingerprint,
      status: 'in-progress',
      response: null,
      leaseUntil: clock.now() + LEASE_MS,
      expiresAt: clock.now() + TTL_MS,
    });
    const completed = (
      key: string,
      body: unknown = { ok: true },
      fingerprint = 'f1',
    ): CompletedIdempotencyRecord => ({
      key,
      fingerprint,
      status: 'completed',
      response: { status: 201, headers: { ETag: '"1"', Location: '/items/A' }, body },
      leaseUntil: null,
      expiresAt: clock.now() + TTL_MS,
    });

    beforeEach(async () => {
      clock = new FakeClock();
      harness = await factory({ clock });
      store = harness.store;
      opened.push(harness);
    });

    afterEach(async () => {
      for (const h of opened.splice(0)) await h.close().catch(() => undefined);
    });

    describe('claims', () => {
      it('claims a free key and reads the claim back', async () => {
        const record = claim('k1');
        assert.deepEqual(await store.claim(record), { claimed: true });
        assert.deepEqual(await store.get('k1'), record);
      });

      it('reads undefined for a key never claimed', async () => {
        assert.equal(await store.get('nobody'), undefined);
      });

      it('refuses a live claim and returns it', async () => {
        const first = claim('k1');
        await store.claim(first);
        assert.deepEqual(await store.claim(claim('k1')), { claimed: false, existing: first });
        assert.deepEqual(await store.claim(claim('k1', 'f2')), {
          claimed: false,
          existing: first,
        });
      });

      it('lets a retry of the same request take over a claim whose lease has passed', async () => {
        await store.claim(claim('k1'));
        clock.set(clock.now() + LEASE_MS - 1);
        assert.equal((await store.claim(claim('k1'))).claimed, false);
        clock.set(clock.now() + 1);
        const retry = claim('k1');
        assert.deepEqual(await store.claim(retry), { claimed: true });
        assert.deepEqual(await store.get('k1'), retry);
      });

      it('never lets another request take over a lapsed claim', async () => {
        const first = claim('k1');
        await store.claim(first);
        clock.set(clock.now() + LEASE_MS);
        assert.deepEqual(await store.claim(claim('k1', 'f2')), {
          claimed: false,
          existing: first,
        });
      });

      it('never takes over a completed record, whatever its age', async () => {
        await store.claim(claim('k1'));
        await store.complete(completed('k1'));
        clock.set(clock.now() + TTL_MS - 1);
        const result = await store.claim(claim('k1'));
        assert.equal(result.claimed, false);
        assert.equal(!result.claimed && result.existing.status, 'completed');
      });

      it('hides expired records and lets their key be claimed again', async () => {
        await store.claim(claim('k1'));
        await store.complete(completed('k1'));
        clock.set(clock.now() + TTL_MS);
        assert.equal(await store.get('k1'), undefined);
        assert.deepEqual(await store.claim(claim('k1', 'f2')), { claimed: true });
      });

      it('lets exactly one of racing claims of a free key win', async () => {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.claim(claim('race', `f${i % 2}`))),
        );
        assert.equal(results.filter((r) => r.claimed).length, 1);
      });

      it('lets exactly one of racing take-overs of a lapsed claim win', async () => {
        await store.claim(claim('k1'));
        clock.set(clock.now() + LEASE_MS);
        const results = await Promise.all(
          Array.from({ length: 10 }, () => store.claim(claim('k1'))),
        );
        assert.equal(results.filter((r) => r.claimed).length, 1);
      });

      it('keeps keys apart', async () => {
        await store.claim(claim('k1'));
        assert.deepEqual(await store.claim(claim('k2')), { claimed: true });
        assert.deepEqual(await store.claim(claim('k1:x')), { claimed: true });
      });
    });

    describe('completion and release', () => {
      it('completes a claim with its response', async () => {
        await store.claim(claim('k1'));
        const record = completed('k1', { item: { name: 'Ünïcødé ✓', quantity: 2 }, version: 3 });
        await store.complete(record);
        assert.deepEqual(await store.get('k1'), record);
      });

      it('keeps the first completion', async () => {
        await store.claim(claim('k1'));
        const first = completed('k1', { n: 1 });
        await store.complete(first);
        await store.complete(completed('k1', { n: 2 }));
        assert.deepEqual(await store.get('k1'), first);
      });

      it('round-trips a null body', async () => {
        const record = completed('k1', null);
        await store.complete(record);
        assert.deepEqual(await store.get('k1'), record);
      });

      it('releases a claim so the key can be claimed at once', async () => {
        await store.claim(claim('k1'));
        await store.release('k1', 'f1');
        assert.equal(await store.get('k1'), undefined);
        assert.deepEqual(await store.claim(claim('k1')), { claimed: true });
      });

      it('does not release another request’s claim, nor a completed record', async () => {
        await store.claim(claim('k1'));
        await store.release('k1', 'f2');
        assert.equal((await store.get('k1'))?.status, 'in-progress');
        await store.complete(completed('k1'));
        await store.release('k1', 'f1');
        assert.equal((await store.get('k1'))?.status, 'completed');
        await store.release('never-there', 'f1');
      });

      it('returns copies: changing a read record does not change the store', async () => {
        await store.complete(completed('k1', { n: 1 }));
        const read = (await store.get('k1')) as { response: { body: { n: number } } };
        read.response.body.n = 99;
        assert.deepEqual((await store.get('k1'))?.response?.body, { n: 1 });
      });
    });

    if (capabilities.reopen !== undefined) {
      const reopen = capabilities.reopen;
      it('keeps records across close and reopen', async () => {
        await store.claim(claim('k1'));
        await store.complete(completed('k2'));
        const again = await reopen(harness, { clock });
        opened.push(again);
        assert.equal((await again.store.get('k1'))?.status, 'in-progress');
        assert.deepEqual(await again.store.get('k2'), completed('k2'));
      });
    }

    if (capabilities.multiInstance === true) {
      it('lets exactly one claim win across instances', async () => {
        assert.ok(harness.another, 'multiInstance needs harness.another');
        const other = await harness.another();
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? store : other).claim(claim('k1'))),
        );
        assert.equal(results.filter((r) => r.claimed).length, 1);
        await store.complete(completed('k1'));
        assert.equal((await other.get('k1'))?.status, 'completed');
      });
    }

    if (capabilities.atomicCartWrites === true)
      describe('completion atomic with a cart save', () => {
        const carts = (): CartStore => {
          assert.ok(harness.carts, 'atomicCartWrites needs harness.carts');
          assert.equal(harness.carts.idempotency, store, 'carts.idempotency must be the store');
          return harness.carts;
        };

        it('writes the completed record in the cart save', async () => {
          const storage = carts();
          await store.claim(claim('k1'));
          const record = completed('k1');
          await storage.saveCart(cart('c1', 1, ['A']), {
            expectedVersion: 0,
            idempotency: [record],
          });
          assert.equal((await storage.getCart('c1'))?.version, 1);
          assert.deepEqual(await store.get('k1'), record);
        });

        it('writes neither the cart nor the record when the save loses its compare-and-set', async () => {
          const storage = carts();
          await storage.saveCart(cart('c1', 1, ['A']), { expectedVersion: 0 });
          await store.claim(claim('k1'));
          await rejectsWithCode(
            storage.saveCart(cart('c1', 1, ['B']), {
              expectedVersion: 0,
              idempotency: [completed('k1')],
            }),
            ErrorCode.VERSION_CONFLICT,
          );
          assert.equal((await store.get('k1'))?.status, 'in-progress');
          assert.deepEqual(
            (await storage.getCart('c1'))?.lines.map((l) => l.name),
            ['A'],
          );
        });

        it('writes neither when a task of the save is already in the outbox', async () => {
          const storage = carts();
          const task = newTask({
            id: 't1',
            kind: 'reserve',
            cartId: 'c1',
            itemName: 'A',
            quantity: 1,
            now: clock.now(),
          });
          await storage.saveCart(cart('c1', 1, ['A']), { expectedVersion: 0, tasks: [task] });
          await assert.rejects(
            storage.saveCart(cart('c1', 2, ['A', 'B']), {
              expectedVersion: 1,
              tasks: [task],
              idempotency: [completed('k1')],
            }),
            (e: unknown) => ConflictError.is(e),
          );
          assert.equal(await store.get('k1'), undefined);
          assert.equal((await storage.getCart('c1'))?.version, 1);
        });

        it('refuses a second completion of a key and saves nothing (IDEMPOTENCY_KEY_COMPLETED)', async () => {
          const storage = carts();
          await store.claim(claim('k1'));
          const first = completed('k1', { n: 1 });
          await storage.saveCart(cart('c1', 1, ['A']), {
            expectedVersion: 0,
            idempotency: [first],
          });
          await rejectsWithCode(
            storage.saveCart(cart('c1', 2, ['A', 'A2']), {
              expectedVersion: 1,
              idempotency: [completed('k1', { n: 2 })],
            }),
            ErrorCode.IDEMPOTENCY_KEY_COMPLETED,
          );
          assert.equal((await storage.getCart('c1'))?.version, 1);
          assert.deepEqual(await store.get('k1'), first);
        });

        it('completes a key whose claim lapsed or vanished', async () => {
          const storage = carts();
          await store.claim(claim('k1'));
          clock.set(clock.now() + LEASE_MS);
          await storage.saveCart(cart('c1', 1), {
            expectedVersion: 0,
            idempotency: [completed('k1')],
          });
          await storage.saveCart(cart('c2', 1), {
            expectedVersion: 0,
            idempotency: [completed('k2')],
          });
          assert.equal((await store.get('k1'))?.status, 'completed');
          assert.equal((await store.get('k2'))?.status, 'completed');
        });

        it('writes several records in one cart save', async () => {
          const storage = carts();
          await store.claim(claim('k1'));
          await store.claim(claim('k2'));
          const records = [completed('k1', { n: 1 }), completed('k2', { n: 2 })];
          await storage.saveCart(cart('c1', 1, ['A', 'B']), {
            expectedVersion: 0,
            idempotency: records,
          });
          assert.equal((await storage.getCart('c1'))?.version, 1);
          assert.deepEqual(await store.get('k1'), records[0]);
          assert.deepEqual(await store.get('k2'), records[1]);
        });

        it('writes nothing when one of several records has a completed key', async () => {
          const storage = carts();
          await store.claim(claim('k2'));
          const done = completed('k2', { n: 0 });
          await storage.saveCart(cart('c0', 1), { expectedVersion: 0, idempotency: [done] });
          await store.claim(claim('k1'));
          await store.claim(claim('k3'));
          await rejectsWithCode(
            storage.saveCart(cart('c1', 1, ['A']), {
              expectedVersion: 0,
              idempotency: [completed('k1'), completed('k2', { n: 2 }), completed('k3')],
            }),
            ErrorCode.IDEMPOTENCY_KEY_COMPLETED,
          );
          assert.equal(await storage.getCart('c1'), undefined);
          assert.equal((await store.get('k1'))?.status, 'in-progress');
          assert.equal((await store.get('k3'))?.status, 'in-progress');
          assert.deepEqual(await store.get('k2'), done);
        });

        it('refuses one key given twice in one save and writes nothing', async () => {
          const storage = carts();
          await store.claim(claim('k1'));
          await rejectsWithCode(
            storage.saveCart(cart('c1', 1, ['A']), {
              expectedVersion: 0,
              idempotency: [completed('k1', { n: 1 }), completed('k1', { n: 2 })],
            }),
            ErrorCode.IDEMPOTENCY_KEY_COMPLETED,
          );
          assert.equal(await storage.getCart('c1'), undefined);
          assert.equal((await store.get('k1'))?.status, 'in-progress');
        });

        it('lets exactly one of racing saves that complete one key commit', async () => {
          const storage = carts();
          await store.claim(claim('k1'));
          const results = await Promise.allSettled(
            Array.from({ length: 10 }, (_, i) =>
              storage.saveCart(cart(`c${i}`, 1, ['A']), {
                expectedVersion: 0,
                idempotency: [completed('k1', { winner: i })],
              }),
            ),
          );
          const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
          assert.equal(winners.length, 1);
          for (const r of results) {
            if (r.status === 'rejected') {
              assert.equal(
                (r.reason as { code?: unknown }).code,
                ErrorCode.IDEMPOTENCY_KEY_COMPLETED,
              );
            }
          }
          assert.deepEqual((await store.get('k1'))?.response?.body, { winner: winners[0] });
          const saved = await Promise.all(results.map((_, i) => storage.getCart(`c${i}`)));
          assert.equal(saved.filter((c) => c !== undefined).length, 1);
        });
      });
  });
}
