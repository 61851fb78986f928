// Run by scripts/consumer-test.mjs in a pnpm app whose install skipped sqlite3's build
// (no --allow-build): the app still imports @cartkit/storage-sqlite, and opening a
// database fails with the typed error the README describes, saying how to fix it.
import assert from 'node:assert/strict';
import { createSqliteCartStorage } from '@cartkit/storage-sqlite';

const error = await createSqliteCartStorage({ path: 'cart.db' }).then(
  () => assert.fail('opened a database although sqlite3 was not built'),
  (e) => e,
);
assert.equal(error.code, 'STORAGE_UNAVAILABLE', String(error));
assert.equal(error.details?.reason, 'driver-unavailable');
assert.match(error.message, /Could not locate the bindings file/);
assert.match(error.message, /pnpm approve-builds/);
assert.match(error.message, /pnpm rebuild sqlite3/);
console.log('skipped sqlite3 build: STORAGE_UNAVAILABLE (driver-unavailable) with the fix');
