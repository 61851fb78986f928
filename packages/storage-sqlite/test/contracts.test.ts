import { storageContractSuite } from '@cartkit/testing';
import { afterAll, afterEach, beforeEach, describe, it } from 'vitest';
import { createSqliteCartStorage, type SqliteCartStorage } from '../src/index.js';
import { createTempDir } from './support/temp-dir.js';

const api = { describe, it, beforeEach, afterEach };
const dir = createTempDir();
afterAll(() => dir.remove());

storageContractSuite(
  api,
  'SqliteCartStorage (file)',
  ({ clock }) => createSqliteCartStorage({ path: dir.file(), clock }),
  {
    reopen: (previous, { clock }) =>
      createSqliteCartStorage({ path: (previous as SqliteCartStorage).path, clock }),
  },
);

storageContractSuite(api, 'SqliteCartStorage (:memory:)', ({ clock }) =>
  createSqliteCartStorage({ path: ':memory:', clock }),
);

storageContractSuite(
  api,
  'SqliteCartStorage (file, synchronous FULL)',
  ({ clock }) => createSqliteCartStorage({ path: dir.file(), clock, synchronous: 'FULL' }),
  {
    reopen: (previous, { clock }) =>
      createSqliteCartStorage({
        path: (previous as SqliteCartStorage).path,
        clock,
        synchronous: 'FULL',
      }),
  },
);
