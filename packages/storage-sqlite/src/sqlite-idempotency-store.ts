import {
  type Clock,
  type CompletedIdempotencyRecord,
  ConflictError,
  canTakeOverClaim,
  type IdempotencyClaim,
  type IdempotencyRecord,
  type IdempotencyStore,
} from '@cartkit/core';
import type { Query } from './connection.js';
import { type DocumentCodec, keys } from './documents.js';
import { PURGE_BATCH, type Statements } from './schema.js';

/** How the store reaches the connection it shares with its cart storage. */
export interface SqliteAccess {
  /** Runs `work` alone on the connection (reads). Maps errors, checks `CLOSED`. */
  read<T>(operation: string, work: (query: Query) => Promise<T>): Promise<T>;
  /** Runs `work` in a write transaction. Maps errors, checks `CLOSED`. */
  transaction<T>(operation: string, work: (query: Query) => Promise<T>): Promise<T>;
}

/**
 * The {@link IdempotencyStore} of a {@link SqliteCartStorage} (its `idempotency`
 * property): records in the same database file and on the same connection as the
 * carts, so a cart save completes its record in the same transaction.
 *
 * - `claim`, `complete` and `release` are `BEGIN IMMEDIATE` transactions: atomic
 *   across every process sharing the file.
 * - Expired records are invisible and purged (a batch per claim, all at open).
 */
export class SqliteIdempotencyStore implements IdempotencyStore {
  readonly #access: SqliteAccess;
  readonly #codec: DocumentCodec;
  readonly #sql: Statements;
  readonly #clock: Clock;

  /** @internal Created by `SqliteCartStorage`; use `storage.idempotency`. */
  constructor(access: SqliteAccess, codec: DocumentCodec, sql: Statements, clock: Clock) {
    this.#access = access;
    this.#codec = codec;
    this.#sql = sql;
    this.#clock = clock;
  }

  claim(record: IdempotencyRecord): Promise<IdempotencyClaim> {
    return this.#access.transaction('claimIdempotencyKey', async (query) => {
      const now = this.#clock.now();
      await purgeExpired(query, this.#sql, now, PURGE_BATCH);
      const existing = await this.#live(query, record.key, now);
      if (existing !== undefined && !canTakeOverClaim(existing, record, now)) {
        return { claimed: false, existing };
      }
      await this.#write(query, record);
      return { claimed: true };
    });
  }

  complete(record: CompletedIdempotencyRecord): Promise<void> {
    return this.#access.transaction('completeIdempotencyKey', async (query) => {
      const existing = await this.#live(query, record.key, this.#clock.now());
      if (existing?.status === 'completed') return;
      await this.#write(query, record);
    });
  }

  release(key: string, fingerprint: string): Promise<void> {
    return this.#access.transaction('releaseIdempotencyKey', async (query) => {
      const existing = await this.#live(query, key, this.#clock.now());
      if (existing?.status !== 'in-progress' || existing.fingerprint !== fingerprint) return;
      const storedKey = keys.idempotency(key);
      await query(this.#sql.delete, storedKey);
      await query(this.#sql.deleteExpiry, storedKey);
    });
  }

  get(key: string): Promise<IdempotencyRecord | undefined> {
    return this.#access.read('getIdempotencyRecord', (query) =>
      this.#live(query, key, this.#clock.now()),
    );
  }

  /**
   * Inside a cart save's transaction: writes `record` unless its key is already
   * completed.
   * @throws ConflictError `IDEMPOTENCY_KEY_COMPLETED` (the transaction rolls back).
   * @internal
   */
  async completeInTransaction(query: Query, record: CompletedIdempotencyRecord): Promise<void> {
    const existing = await this.#live(query, record.key, this.#clock.now());
    if (existing?.status === 'completed') throw ConflictError.idempotencyKeyCompleted(record.key);
    await this.#write(query, record);
  }

  async #live(query: Query, key: string, now: number): Promise<IdempotencyRecord | undefined> {
    const storedKey = keys.idempotency(key);
    const [row] = await query(this.#sql.get, storedKey);
    if (row === undefined) return undefined;
    const record = await this.#codec.decode('idempotency', storedKey, key, row.value);
    if (record.expiresAt <= now) return undefined;
    // Records written before leases existed have none: a lapsed claim.
    return { ...record, leaseUntil: record.leaseUntil ?? null };
  }

  async #write(query: Query, record: IdempotencyRecord): Promise<void> {
    const storedKey = keys.idempotency(record.key);
    await query(this.#sql.put, storedKey, await this.#codec.encode('idempotency', record));
    await query(this.#sql.putExpiry, storedKey, record.expiresAt);
  }
}

/** Deletes up to `limit` (-1: all) idempotency records expired at `now`. */
export async function purgeExpired(
  query: Query,
  sql: Statements,
  now: number,
  limit: number,
): Promise<void> {
  const expired = await query(sql.expired, now, limit);
  if (expired.length === 0) return;
  const expiredKeys = JSON.stringify(expired.map((row) => row.key));
  await query(sql.deleteMany, expiredKeys);
  await query(sql.deleteExpiries, expiredKeys);
}
