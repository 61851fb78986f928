import { createRequire } from 'node:module';
import { ErrorCode, StorageError } from '@cartkit/core';
import type KeyvSqlite from '@keyv/sqlite';

/** The `@keyv/sqlite` store class. */
export type KeyvSqliteClass = typeof KeyvSqlite;

/**
 * What to do when sqlite3's native binding cannot be loaded. Shown in the
 * `STORAGE_UNAVAILABLE` error, and said the same way in the README.
 */
export const DRIVER_FIX =
  'sqlite3 is a native module and its build did not run or failed ' +
  '(pnpm 10 skips dependency build scripts unless they are allowed; ' +
  '`--ignore-scripts` skips them too). ' +
  'Allow the build and rebuild: with pnpm, run `pnpm approve-builds` and select sqlite3 ' +
  '(or write `allowBuilds: { sqlite3: true }` in pnpm-workspace.yaml; before pnpm 10.26, ' +
  '`onlyBuiltDependencies: [sqlite3]`), then `pnpm rebuild sqlite3`; ' +
  'with npm, `npm rebuild sqlite3`; with yarn, `yarn rebuild sqlite3`. ' +
  'Building from source needs python3, make and a C++ compiler.';

let loading: Promise<KeyvSqliteClass> | undefined;

/**
 * Loads `@keyv/sqlite` (and with it sqlite3's native binding) on first use rather
 * than when `@cartkit/storage-sqlite` is imported, so that a missing or
 * mismatched binding becomes a typed `STORAGE_UNAVAILABLE` error from
 * `createSqliteCartStorage` instead of a crash at import.
 *
 * @throws StorageError `STORAGE_UNAVAILABLE` (`details.reason: 'driver-unavailable'`,
 *   `cause`: the loader's error) when the driver cannot be loaded.
 */
export function loadKeyvSqlite(location: string): Promise<KeyvSqliteClass> {
  loading ??= loadSqlite3().then(async () => (await import('@keyv/sqlite')).default);
  return loading.catch((error: unknown) => {
    throw driverUnavailable(error, location);
  });
}

/**
 * Loads sqlite3 (the driver `@keyv/sqlite` imports) with `require`, resolved from
 * `@keyv/sqlite`'s own folder, before anything imports it. A binding that fails to
 * load then throws here, where it is caught: on Node 20, a CommonJS module that
 * throws while an ES module imports it also raises an unhandled rejection, which
 * would crash the app even though the import's own promise was handled. Once
 * loaded, the ES import of `@keyv/sqlite` reuses this same module instance.
 */
async function loadSqlite3(): Promise<void> {
  const keyvSqliteEntry = createRequire(import.meta.url).resolve('@keyv/sqlite');
  createRequire(keyvSqliteEntry)('sqlite3');
}

/** The error for a driver that cannot be loaded, with what to do about it. */
export function driverUnavailable(error: unknown, location: string): StorageError {
  const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return new StorageError(
    ErrorCode.STORAGE_UNAVAILABLE,
    `Cannot open the SQLite database "${location}": the sqlite3 driver cannot be loaded (${reason}). ${DRIVER_FIX}`,
    { cause: error, details: { path: location, reason: 'driver-unavailable' } },
  );
}
