import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ReservationError, type Reserver } from '@cartkit/core';
import type { TestApi } from './test-api.js';

/** A reserver under test and what the suite may ask of it. */
export interface ReserverHarness {
  /** The reserver, talking to a service that reserves everything but `refusedName`. */
  readonly reserver: Reserver;
  /** An item name the service refuses for good. */
  readonly refusedName: string;
  /** Tears the harness down (close servers...). */
  readonly close?: () => Promise<void>;
}

/** Builds a fresh harness for one test. */
export type ReserverFactory = () => Promise<ReserverHarness>;

/** Optional abilities of a reserver adapter, and hooks to test them. */
export interface ReserverCapabilities {
  /** The reserver implements `release`. */
  readonly release?: boolean;
  /** A reserver whose service is unreachable: reserve must fail transiently. */
  readonly unavailable?: () => Promise<ReserverHarness>;
}

const request = (name: string, key = randomUUID()) => ({
  name,
  quantity: 2,
  idempotencyKey: key,
  cartId: 'c1',
});

/** The {@link Reserver} contract. Every reserver adapter runs it. */
export function reserverContractSuite(
  test: TestApi,
  name: string,
  factory: ReserverFactory,
  capabilities: ReserverCapabilities = {},
): void {
  const { describe, it, beforeEach, afterEach } = test;

  describe(`Reserver contract: ${name}`, () => {
    let harness: ReserverHarness;

    beforeEach(async () => {
      harness = await factory();
    });

    afterEach(async () => {
      await harness.reserver.close?.();
      await harness.close?.();
    });

    it('reserves and returns a non-empty reservation id', async () => {
      const { reservationId } = await harness.reserver.reserve(request('Product1'));
      assert.equal(typeof reservationId, 'string');
      assert.ok(reservationId.length > 0);
    });

    it('returns the same reservation for a repeated idempotency key', async () => {
      const key = randomUUID();
      const first = await harness.reserver.reserve(request('Product1', key));
      const again = await harness.reserver.reserve(request('Product1', key));
      assert.equal(again.reservationId, first.reservationId);
    });

    it('makes distinct reservations for distinct keys', async () => {
      const a = await harness.reserver.reserve(request('Product1'));
      const b = await harness.reserver.reserve(request('Product1'));
      assert.notEqual(a.reservationId, b.reservationId);
    });

    it('fails a refused item with a permanent ReservationError', async () => {
      await assert.rejects(
        harness.reserver.reserve(request(harness.refusedName)),
        (error: unknown) => {
          assert.ok(
            ReservationError.is(error),
            `expected a ReservationError, got ${String(error)}`,
          );
          assert.equal(error.transient, false);
          return true;
        },
      );
    });

    it('fails an aborted call with a transient ReservationError', async () => {
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(
        harness.reserver.reserve(request('Product1'), { signal: controller.signal }),
        (error: unknown) => ReservationError.is(error) && error.transient,
      );
    });

    if (capabilities.release === true) {
      it('releases a reservation, and releasing again or an unknown id succeeds', async () => {
        const { reserver } = harness;
        assert.equal(
          typeof reserver.release,
          'function',
          'release capability declared but missing',
        );
        const { reservationId } = await reserver.reserve(request('Product1'));
        await reserver.release?.(reservationId);
        await reserver.release?.(reservationId);
        await reserver.release?.(`unknown-${randomUUID()}`);
      });
    }

    if (capabilities.unavailable !== undefined) {
      const unavailable = capabilities.unavailable;
      it('fails transiently when the service cannot be reached', async () => {
        const down = await unavailable();
        try {
          await assert.rejects(down.reserver.reserve(request('Product1')), (error: unknown) => {
            assert.ok(
              ReservationError.is(error),
              `expected a ReservationError, got ${String(error)}`,
            );
            assert.equal(error.transient, true);
            return true;
          });
        } finally {
          await down.reserver.close?.();
          await down.close?.();
        }
      });
    }
  });
}
