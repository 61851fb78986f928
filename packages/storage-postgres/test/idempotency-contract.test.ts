import type { Clock } from '@cartkit/core';
import type { PostgresCartStorage } from '@cartkit/storage-postgres';
import { idempotencyStoreContractSuite } from '@cartkit/testing';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { describeEngines } from '../../../scripts/vitest/engines.js';
import { openStorage } from './support.js';

/** The store of `carts`; `another()` opens a second pool (another instance) on the same schema. */
function harness(carts: PostgresCartStorage, clock: Clock) {
  const others: PostgresCartStorage[] = [];
  return {
    store: carts.idempotency,
    carts,
    another: async () => {
      const other = await openStorage({ clock, schema: carts.schema });
      others.push(other);
      return other.idempotency;
    },
    close: async () => {
      for (const other of others) await other.close();
      await carts.close();
    },
  };
}

describeEngines('PostgreSQL idempotency store contracts', () => {
  idempotencyStoreContractSuite(
    { describe, it, beforeEach, afterEach },
    'PostgresCartStorage.idempotency',
    async ({ clock }) => harness(await openStorage({ clock }), clock),
    {
      atomicCartWrites: true,
      multiInstance: true,
      reopen: async (previous, { clock }) => {
        const schema = (previous.carts as PostgresCartStorage).schema;
        await previous.close();
        return harness(await openStorage({ clock, schema }), clock);
      },
    },
  );
});
