import { idempotencyStoreContractSuite } from '@cartkit/testing';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { MemoryCartStorage, MemoryIdempotencyStore } from '../src/index.js';

const api = { describe, it, beforeEach, afterEach };

idempotencyStoreContractSuite(api, 'MemoryIdempotencyStore', ({ clock }) => {
  const store = new MemoryIdempotencyStore({ clock });
  return { store, close: async () => store.close() };
});

idempotencyStoreContractSuite(
  api,
  'MemoryCartStorage.idempotency',
  ({ clock }) => {
    const carts = new MemoryCartStorage({ clock });
    return { store: carts.idempotency, carts, close: () => carts.close() };
  },
  { atomicCartWrites: true },
);
