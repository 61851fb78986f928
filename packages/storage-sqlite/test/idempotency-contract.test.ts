import type { Clock } from '@cartkit/core';
import { idempotencyStoreContractSuite } from '@cartkit/testing';
import { afterAll, afterEach, beforeEach, describe, it } from 'vitest';
import { createSqliteCartStorage, type SqliteCartStorage } from '../src/index.js';
import { createTempDir } from './support/temp-dir.js';

const api = { describe, it, beforeEach, afterEach };
const dir = createTempDir();
afterAll(() => dir.remove());

/** The store of a storage on `path`; `another()` opens a second connection to the same file. */
function harness(carts: SqliteCartStorage, clock: Clock) {
  const others: SqliteCartStorage[] = [];
  return {
    store: carts.idempotency,
    carts,
    another: async () => {
      const other = await createSqliteCartStorage({
        path: carts.path,
        clock,
      });
      others.push(other);
      return other.idempotency;
    },
    close: async () => {
      for (const other of others) await other.close();
      await carts.close();
    },
  };
}

idempotencyStoreContractSuite(
  api,
  'SqliteCartStorage.idempotency (file)',
  async ({ clock }) => harness(await createSqliteCartStorage({ path: dir.file(), clock }), clock),
  {
    atomicCartWrites: true,
    multiInstance: true,
    reopen: async (previous, { clock }) => {
      const path = (previous.carts as SqliteCartStorage).path;
      await previous.close();
      return harness(await createSqliteCartStorage({ path, clock }), clock);
    },
  },
);

idempotencyStoreContractSuite(
  api,
  'SqliteCartStorage.idempotency (:memory:)',
  async ({ clock }) => {
    const carts = await createSqliteCartStorage({ path: ':memory:', clock });
    return { store: carts.idempotency, carts, close: () => carts.close() };
  },
  { atomicCartWrites: true },
);
