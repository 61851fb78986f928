import type { PostgresCartStorage } from '@cartkit/storage-postgres';
import { storageContractSuite } from '@cartkit/testing';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { describeEngines } from '../../../scripts/vitest/engines.js';
import { freshSchema, openStorage } from './support.js';

describeEngines('PostgreSQL storage contracts', () => {
  // The suite drives time with a FakeClock; the storage compares leases and expiry
  // with it instead of the database clock (tested on its own in clock.test.ts).
  storageContractSuite(
    { describe, it, beforeEach, afterEach },
    'postgres',
    ({ clock }) => openStorage({ clock, schema: freshSchema() }),
    {
      reopen: async (previous, { clock }) =>
        openStorage({ clock, schema: (previous as PostgresCartStorage).schema }),
    },
  );
});
