import {
  type CompletedIdempotencyRecord,
  ConflictError,
  canTakeOverClaim,
  type IdempotencyClaim,
  type IdempotencyRecord,
  type IdempotencyStore,
} from '@cartkit/core';
import type pg from 'pg';
import { toMillis } from './documents.js';
import { nowSql, type Tables } from './schema.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

/** How the store reaches the pool it shares with its cart storage. */
export interface PostgresAccess {
  /** Runs one statement's work on a pooled connection. Maps errors, checks `CLOSED`. */
  run<T>(operation: string, work: (db: Queryable) => Promise<T>): Promise<T>;
  /** Runs `work` in a transaction on one connection. Maps errors, checks `CLOSED`. */
  transaction<T>(operation: string, work: (db: Queryable) => Promise<T>): Promise<T>;
  /** The test clock's time, or `null` (the SQL then uses the database's clock). */
  now(): number | null;
}

/** How many expired records one purge deletes, at most. */
const PURGE_BATCH = 100;

const COLUMNS = 'key, fingerprint, status, response, lease_until, expires_at';

function toRecord(row: Record<string, unknown>): IdempotencyRecord {
  return {
    key: row.key as string,
    fingerprint: row.fingerprint as string,
    status: row.status as IdempotencyRecord['status'],
    response: (row.response ?? null) as IdempotencyRecord['response'],
    leaseUntil: toMillis(row.lease_until),
    expiresAt: toMillis(row.expires_at) as number,
  };
}

function params(record: IdempotencyRecord): unknown[] {
  return [
    record.key,
    record.fingerprint,
    record.status,
    record.response === null ? null : JSON.stringify(record.response),
    record.leaseUntil === null ? null : Math.round(record.leaseUntil),
    Math.round(record.expiresAt),
  ];
}

/**
 * The {@link IdempotencyStore} of a `PostgresCartStorage` (its `idempotency`
 * property): one row per key in `<prefix>idempotency`, in the same database as the
 * carts, so a cart save completes its record in the same transaction.
 *
 * - `claim` and `complete` lock the key's row (`INSERT … ON CONFLICT DO NOTHING`,
 *   then `SELECT … FOR UPDATE`): atomic across every instance.
 * - Leases and expiry are compared with the database's clock (or the test clock).
 * - Expired records are invisible; each claim purges a small batch of them.
 */
export class PostgresIdempotencyStore implements IdempotencyStore {
  readonly #access: PostgresAccess;
  readonly #t: Tables;

  /** @internal Created by `PostgresCartStorage`; use `storage.idempotency`. */
  constructor(access: PostgresAccess, tables: Tables) {
    this.#access = access;
    this.#t = tables;
  }

  claim(record: IdempotencyRecord): Promise<IdempotencyClaim> {
    return this.#access.transaction('claimIdempotencyKey', async (db) => {
      const now = await this.#purgeAndNow(db);
      const inserted = await db.query(
        `INSERT INTO ${this.#t.idempotency} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (key) DO NOTHING`,
        params(record),
      );
      if (inserted.rowCount === 1) return { claimed: true };
      const existing = await this.#lockLive(db, record.key, now);
      if (existing !== undefined && !canTakeOverClaim(existing, record, now)) {
        return { claimed: false, existing };
      }
      await this.#overwrite(db, record);
      return { claimed: true };
    });
  }

  complete(record: CompletedIdempotencyRecord): Promise<void> {
    return this.#access.transaction('completeIdempotencyKey', async (db) => {
      const now = await this.#dbNow(db);
      const inserted = await db.query(
        `INSERT INTO ${this.#t.idempotency} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (key) DO NOTHING`,
        params(record),
      );
      if (inserted.rowCount === 1) return;
      const existing = await this.#lockLive(db, record.key, now);
      if (existing?.status === 'completed') return;
      await this.#overwrite(db, record);
    });
  }

  async release(key: string, fingerprint: string): Promise<void> {
    await this.#access.run('releaseIdempotencyKey', (db) =>
      db.query(
        `DELETE FROM ${this.#t.idempotency}
         WHERE key = $2 AND fingerprint = $3 AND status = 'in-progress' AND expires_at > ${nowSql(1)}`,
        [this.#access.now(), key, fingerprint],
      ),
    );
  }

  get(key: string): Promise<IdempotencyRecord | undefined> {
    return this.#access.run('getIdempotencyRecord', async (db) => {
      const { rows } = await db.query(
        `SELECT ${COLUMNS} FROM ${this.#t.idempotency} WHERE key = $2 AND expires_at > ${nowSql(1)}`,
        [this.#access.now(), key],
      );
      return rows[0] === undefined ? undefined : toRecord(rows[0]);
    });
  }

  /**
   * Inside a cart save's transaction: writes `record` unless its key is already
   * completed (and live).
   * @throws ConflictError `IDEMPOTENCY_KEY_COMPLETED` (the transaction rolls back).
   * @internal
   */
  async completeInTransaction(db: Queryable, record: CompletedIdempotencyRecord): Promise<void> {
    const { rows } = await db.query(
      `INSERT INTO ${this.#t.idempotency} AS r (${COLUMNS}) VALUES ($2, $3, $4, $5, $6, $7)
       ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
         response = EXCLUDED.response, lease_until = EXCLUDED.lease_until, expires_at = EXCLUDED.expires_at
       WHERE NOT (r.status = 'completed' AND r.expires_at > ${nowSql(1)})
       RETURNING key`,
      [this.#access.now(), ...params(record)],
    );
    if (rows.length !== 1) throw ConflictError.idempotencyKeyCompleted(record.key);
  }

  async #dbNow(db: Queryable): Promise<number> {
    const { rows } = await db.query(`SELECT ${nowSql(1)} AS now`, [this.#access.now()]);
    return toMillis(rows[0]?.now) as number;
  }

  async #purgeAndNow(db: Queryable): Promise<number> {
    const now = await this.#dbNow(db);
    await db.query(
      `DELETE FROM ${this.#t.idempotency} WHERE key IN (
         SELECT key FROM ${this.#t.idempotency} WHERE expires_at <= $1 LIMIT ${PURGE_BATCH}
         FOR UPDATE SKIP LOCKED)`,
      [now],
    );
    return now;
  }

  /** The key's row, locked for this transaction; `undefined` when absent or expired. */
  async #lockLive(db: Queryable, key: string, now: number): Promise<IdempotencyRecord | undefined> {
    const { rows } = await db.query(
      `SELECT ${COLUMNS} FROM ${this.#t.idempotency} WHERE key = $1 FOR UPDATE`,
      [key],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const record = toRecord(row);
    return record.expiresAt <= now ? undefined : record;
  }

  async #overwrite(db: Queryable, record: IdempotencyRecord): Promise<void> {
    // An upsert: the row may have been released (deleted) since it was looked at.
    await db.query(
      `INSERT INTO ${this.#t.idempotency} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
         response = EXCLUDED.response, lease_until = EXCLUDED.lease_until, expires_at = EXCLUDED.expires_at`,
      params(record),
    );
  }
}
