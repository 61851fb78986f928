/**
 * Version of the table layout (tables, columns, indexes). Recorded in the database
 * by the first release that opens it; a newer layout refuses to open.
 */
export const LAYOUT_VERSION = 2;

/** How many expired idempotency records one write purges, at most. */
export const PURGE_BATCH = 100;

/**
 * The SQL of the adapter, for the key/value table `table` (validated by the
 * options: letters, digits and `_` only, so it is safe to interpolate).
 *
 * - `<table>` (created by @keyv/sqlite): `key` → `value`, one row per document.
 * - `<table>_outbox`: the transactional outbox, one row per reservation task: the
 *   task document plus its delivery state (`attempts`, `available_at`, the lease
 *   `lease_owner`/`lease_until`, and `due_at` = when it can next be claimed),
 *   indexed by `due_at` so claims read due tasks in order without touching carts.
 *   Written in the same transaction as the cart that produced the task. (Layout 1
 *   kept jobs as documents indexed by `<table>_jobs`; opening migrates them.)
 * - `<table>_expiry`: one row per idempotency record with its expiry, indexed so
 *   that expired records are found (and purged) without scanning.
 *
 * Both side tables are written in the same transaction as their documents.
 */
export function statements(table: string) {
  const jobs = `${table}_jobs`;
  const outbox = `${table}_outbox`;
  const expiry = `${table}_expiry`;
  /**
   * Where a cart save may overwrite the stored value: only a well-formed cart document
   * (schema 1..?2) with the same id at the version before the new value's.
   */
  const overCart = `ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE CASE WHEN json_valid(${table}.value) AND json_valid(excluded.value) THEN json_type(${table}.value, '$.value.schema') = 'integer' AND json_extract(${table}.value, '$.value.schema') BETWEEN 1 AND ?2 AND json_extract(${table}.value, '$.value.type') = 'cart' AND json_type(${table}.value, '$.value.data.id') = 'text' AND json_extract(${table}.value, '$.value.data.id') = json_extract(excluded.value, '$.value.data.id') AND json_type(${table}.value, '$.value.data.version') = 'integer' AND json_extract(${table}.value, '$.value.data.version') = json_extract(excluded.value, '$.value.data.version') - 1 AND json_type(${table}.value, '$.value.data.lines') = 'array' AND json_type(${table}.value, '$.value.data.createdAt') = 'text' AND json_type(${table}.value, '$.value.data.updatedAt') = 'text' ELSE 0 END`;
  return {
    /** Side tables and indexes; idempotent. */
    createSideTables: [
      `CREATE TABLE IF NOT EXISTS ${outbox} (id TEXT PRIMARY KEY NOT NULL, task TEXT NOT NULL, created_at INTEGER NOT NULL, available_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0, due_at INTEGER NOT NULL) WITHOUT ROWID`,
      `CREATE INDEX IF NOT EXISTS ${outbox}_due ON ${outbox} (due_at, created_at, id)`,
      `CREATE TABLE IF NOT EXISTS ${expiry} (key TEXT PRIMARY KEY NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID`,
      `CREATE INDEX IF NOT EXISTS ${expiry}_at ON ${expiry} (expires_at)`,
    ],
    /** Value of one key. */
    get: `SELECT value FROM ${table} WHERE key = ?`,
    /**
     * Compare-and-set of several carts in one statement (group commit): ?1 a JSON
     * array of `[key, value, expectedVersion]`, ?2 the newest document schema. A cart
     * expected at version 0 is inserted where its key is free; any other is written
     * only over a well-formed cart document (schema 1..?2) with the same id at the
     * version before the new value's. Returns the keys written; nothing else changes.
     */
    saveCarts: `INSERT INTO ${table} (key, value) SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]') FROM json_each(?1) AS j WHERE json_extract(j.value, '$[2]') = 0 OR EXISTS (SELECT 1 FROM ${table} AS s WHERE s.key = json_extract(j.value, '$[0]')) ${overCart} RETURNING key`,
    /**
     * The same compare-and-set for one cart, its value a parameter of its own (?1 key,
     * ?2 value, ?3 expected version, ?4 newest document schema): the value is bound as
     * is, not escaped into a JSON array and extracted again. Returns the key if written.
     */
    saveCart: `INSERT INTO ${table} (key, value) SELECT ?1, ?2 WHERE ?3 = 0 OR EXISTS (SELECT 1 FROM ${table} AS s WHERE s.key = ?1) ${overCart.replaceAll('?2', '?4')} RETURNING key`,
    /**
     * Add tasks in one statement: ?1 a JSON array of `[id, task, created_at]`,
     * available (and due) at ?2. Known ids are left alone; returns the ids added.
     */
    insertTasks: `INSERT INTO ${outbox} (id, task, created_at, available_at, attempts, due_at) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), ?2, 0, ?2 FROM json_each(?1) WHERE true ON CONFLICT (id) DO NOTHING RETURNING id`,
    /** Keys among a JSON array of keys that exist. */
    existing: `SELECT key FROM ${table} WHERE key IN (SELECT value FROM json_each(?))`,
    /** Insert or replace the value of a key. */
    put: `INSERT INTO ${table} (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    /** Delete a key. */
    delete: `DELETE FROM ${table} WHERE key = ?`,
    /** Layout 1 jobs, for the migration: key, value. */
    legacyJobs: `SELECT d.key AS key, d.value AS value FROM ${jobs} AS j JOIN ${table} AS d ON d.key = j.key`,
    /** Does the layout 1 jobs table exist? */
    legacyJobsTable: `SELECT name FROM sqlite_master WHERE type = 'table' AND name = '${jobs}'`,
    /** Drops the layout 1 jobs table. */
    dropLegacyJobs: `DROP TABLE IF EXISTS ${jobs}`,
    /** Ids among a JSON array of task ids that are in the outbox. */
    existingTasks: `SELECT id FROM ${outbox} WHERE id IN (SELECT value FROM json_each(?))`,
    /** Add a task: id, task, created_at, available_at (= due_at), attempts. Known ids are left alone. */
    insertTask: `INSERT INTO ${outbox} (id, task, created_at, available_at, attempts, due_at) VALUES (?1, ?2, ?3, ?4, ?5, ?4) ON CONFLICT (id) DO NOTHING`,
    /** Is anything due at ?1? (a cheap read before a claim takes the write lock) */
    anyDue: `SELECT 1 AS due FROM ${outbox} WHERE due_at <= ?1 LIMIT 1`,
    /**
     * Claim up to ?4 tasks due at ?1 for owner ?2 until ?3, oldest first; one
     * statement, so atomic on its own.
     */
    claim: `UPDATE ${outbox} SET attempts = attempts + 1, lease_owner = ?2, lease_until = ?3, due_at = max(available_at, ?3) WHERE id IN (SELECT id FROM ${outbox} WHERE due_at <= ?1 ORDER BY due_at, created_at, id LIMIT ?4) RETURNING id, task, attempts, lease_until`,
    /** Delete the tasks of a JSON array of `[id, owner]` pairs where that owner holds them. */
    completeMany: `DELETE FROM ${outbox} WHERE (id, lease_owner) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?1)) RETURNING id`,
    /** Give task ?1 held by ?2 back, due at ?3. */
    release: `UPDATE ${outbox} SET available_at = ?3, due_at = ?3, lease_owner = NULL, lease_until = 0 WHERE id = ?1 AND lease_owner = ?2 RETURNING id`,
    /** When the next task is due (NULL: empty). */
    nextDue: `SELECT min(due_at) AS due FROM ${outbox}`,
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
