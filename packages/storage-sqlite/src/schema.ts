/**
 * Version of the table layout (tables, columns, indexes). Recorded in the database
 * by the first release that opens it; a newer layout refuses to open.
 */
export const LAYOUT_VERSION = 1;

/** How many expired idempotency records one write purges, at most. */
export const PURGE_BATCH = 100;

/**
 * The SQL of the adapter, for the key/value table `table` (validated by the
 * options: letters, digits and `_` only, so it is safe to interpolate).
 *
 * - `<table>` (created by @keyv/sqlite): `key` → `value`, one row per document.
 * - `<table>_jobs`: one row per stored job, `run_at` and `created_at` copied from
 *   the job, indexed so that `listJobs` reads due jobs in order without touching
 *   carts.
 * - `<table>_expiry`: one row per idempotency record with its expiry, indexed so
 *   that expired records are found (and purged) without scanning.
 *
 * Both side tables are written in the same transaction as their documents.
 */
export function statements(table: string) {
  const jobs = `${table}_jobs`;
  const expiry = `${table}_expiry`;
  return {
    /** Side tables and indexes; idempotent. */
    createSideTables: [
      `CREATE TABLE IF NOT EXISTS ${jobs} (key TEXT PRIMARY KEY NOT NULL, run_at INTEGER NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID`,
      `CREATE INDEX IF NOT EXISTS ${jobs}_due ON ${jobs} (run_at, created_at, key)`,
      `CREATE TABLE IF NOT EXISTS ${expiry} (key TEXT PRIMARY KEY NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID`,
      `CREATE INDEX IF NOT EXISTS ${expiry}_at ON ${expiry} (expires_at)`,
    ],
    /** Value of one key. */
    get: `SELECT value FROM ${table} WHERE key = ?`,
    /** Keys among a JSON array of keys that exist. */
    existing: `SELECT key FROM ${table} WHERE key IN (SELECT value FROM json_each(?))`,
    /** Insert or replace the value of a key. */
    put: `INSERT INTO ${table} (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    /** Delete a key. */
    delete: `DELETE FROM ${table} WHERE key = ?`,
    /** Index a job: key, run_at, created_at. */
    putJobIndex: `INSERT INTO ${jobs} (key, run_at, created_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET run_at = excluded.run_at, created_at = excluded.created_at`,
    /** Unindex a job. */
    deleteJobIndex: `DELETE FROM ${jobs} WHERE key = ?`,
    /** Stored jobs due at or before ?1, earliest first, at most ?2 (-1: all). */
    listJobs: `SELECT d.key AS key, d.value AS value FROM ${jobs} AS j JOIN ${table} AS d ON d.key = j.key WHERE j.run_at <= ?1 ORDER BY j.run_at, j.created_at, j.key LIMIT ?2`,
    /** Record when an idempotency record expires: key, expires_at. */
    putExpiry: `INSERT INTO ${expiry} (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at`,
    /** Forget an idempotency record's expiry. */
    deleteExpiry: `DELETE FROM ${expiry} WHERE key = ?`,
    /** Keys of records expired at ?1, oldest first, at most ?2 (-1: all). */
    expired: `SELECT key FROM ${expiry} WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2`,
    /** Delete the documents of a JSON array of keys. */
    deleteMany: `DELETE FROM ${table} WHERE key IN (SELECT value FROM json_each(?))`,
    /** Delete the expiry rows of a JSON array of keys. */
    deleteExpiries: `DELETE FROM ${expiry} WHERE key IN (SELECT value FROM json_each(?))`,
  };
}

/** The statements of one table. */
export type Statements = ReturnType<typeof statements>;
