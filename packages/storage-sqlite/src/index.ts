/**
 * Durable embedded `CartStorage` for cartkit: one SQLite file (WAL journal) through
 * keyv + @keyv/sqlite, with real compare-and-set across processes.
 * @packageDocumentation
 */
export {
  type SqliteCartStorageOptions,
  type SqliteSynchronous,
  sqliteDefaults,
} from './options.js';
export { createSqliteCartStorage, SqliteCartStorage } from './sqlite-cart-storage.js';
export { type SqliteAccess, SqliteIdempotencyStore } from './sqlite-idempotency-store.js';
