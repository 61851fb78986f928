/**
 * `CartStorage` for cartkit on PostgreSQL: compare-and-set carts, a transactional
 * outbox claimed with `FOR UPDATE SKIP LOCKED` on the database's clock, and the
 * idempotency records — for several application instances on one database.
 * @packageDocumentation
 */
export {
  type PostgresCartStorageOptions,
  postgresDefaults,
  redactUrl,
} from './options.js';
export { createPostgresCartStorage, PostgresCartStorage } from './postgres-cart-storage.js';
export { PostgresIdempotencyStore } from './postgres-idempotency-store.js';
export { LAYOUT_VERSION } from './schema.js';
