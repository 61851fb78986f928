import {
  type Cart,
  CartError,
  type CartStorage,
  type ClaimedTask,
  type ClaimOptions,
  ConflictError,
  ErrorCode,
  type Logger,
  type ReservationTask,
  type SaveCartOptions,
  StorageError,
} from '@cartkit/core';
import pg from 'pg';
import { decodeCart, decodeTask, toMillis } from './documents.js';
import {
  type PostgresCartStorageOptions,
  type ResolvedPostgresOptions,
  resolvePostgresOptions,
} from './options.js';
import { isUnavailable, toOpenError, toOperationError } from './pg-errors.js';
import { PostgresIdempotencyStore } from './postgres-idempotency-store.js';
import { LAYOUT_VERSION, MIGRATIONS, nowSql, type Tables, tables } from './schema.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * A {@link CartStorage} on PostgreSQL: carts, their transactional outbox and the
 * idempotency records, for several application instances sharing one database.
 * Open it with {@link createPostgresCartStorage}.
 *
 * - `saveCart` is a true compare-and-set in SQL (`UPDATE … WHERE version = $n`, or
 *   `INSERT … ON CONFLICT DO NOTHING` for a new cart); the cart and its outbox rows
 *   are written in one transaction.
 * - `claim` takes due tasks with `FOR UPDATE SKIP LOCKED`, so instances never hold
 *   the same task and never wait for each other; leases and due times are compared
 *   with the DATABASE's clock (unless a test clock is given).
 * - One bounded `pg` pool; the schema is created and migrated on open, under an
 *   advisory lock (instances starting together do not race).
 * - Every failure is a cartkit error: `VERSION_CONFLICT`, `STORAGE_UNAVAILABLE`
 *   (server unreachable, wrong credentials, connection lost), `STORAGE_FAILURE`,
 *   `STORAGE_CORRUPT_DATA`, `CLOSED` — never a raw driver error.
 */
export class PostgresCartStorage implements CartStorage {
  /** The server URL, password redacted. */
  readonly url: string;
  /** The schema the tables live in. */
  readonly schema: string;
  /** The table layout version of the database. */
  readonly layout: number;
  /**
   * The HTTP layer's `Idempotency-Key` records, in the same database: a cart save
   * carrying `SaveCartOptions.idempotency` completes its records in the same transaction.
   */
  readonly idempotency: PostgresIdempotencyStore;
  readonly #pool: pg.Pool;
  readonly #t: Tables;
  readonly #options: ResolvedPostgresOptions;
  readonly #logger: Logger;
  #closed: Promise<void> | undefined;

  private constructor(options: ResolvedPostgresOptions, pool: pg.Pool, layout: number) {
    this.url = options.safeUrl;
    this.schema = options.schema;
    this.layout = layout;
    this.#pool = pool;
    this.#options = options;
    this.#logger = options.logger;
    this.#t = tables(options.schema, options.tablePrefix);
    this.idempotency = new PostgresIdempotencyStore(
      {
        run: (operation, work) => this.#run(operation, work),
        transaction: (operation, work) => this.#transaction(operation, work),
        now: () => this.#now(),
      },
      this.#t,
    );
  }

  /**
   * Validates the options, connects, and creates or migrates the tables.
   * @throws ConfigurationError for an invalid option (naming it).
   * @throws StorageError `STORAGE_UNAVAILABLE` (with `cause`) when the server
   *   cannot be reached, refuses the credentials, lacks the database, or the
   *   tables cannot be created.
   */
  static async open(options: PostgresCartStorageOptions): Promise<PostgresCartStorage> {
    const resolved = resolvePostgresOptions(options);
    const pool = new pg.Pool({
      connectionString: resolved.url,
      max: resolved.poolSize,
      connectionTimeoutMillis: resolved.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      allowExitOnIdle: true,
      application_name: resolved.applicationName,
      ...(resolved.statementTimeoutMs > 0
        ? { statement_timeout: resolved.statementTimeoutMs }
        : {}),
    });
    // An idle connection that breaks (server restart) must not crash the process:
    // the pool drops it and the next query opens a new one.
    pool.on('error', (error) => {
      resolved.logger.warn(
        { err: error, url: resolved.safeUrl },
        'cartkit: an idle PostgreSQL connection failed; it will be replaced',
      );
    });
    try {
      const layout = await migrate(pool, resolved);
      resolved.logger.info(
        { url: resolved.safeUrl, schema: resolved.schema, layout },
        'cartkit: PostgreSQL storage open',
      );
      return new PostgresCartStorage(resolved, pool, layout);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw toOpenError(error, resolved.safeUrl);
    }
  }

  // ---------------------------------------------------------------- carts

  async getCart(cartId: string): Promise<Cart | undefined> {
    const { rows } = await this.#query(
      'getCart',
      `SELECT version, document FROM ${this.#t.carts} WHERE id = $1`,
      [cartId],
    );
    const row = rows[0];
    return row === undefined ? undefined : decodeCart(cartId, row.version, row.document);
  }

  async saveCart(cart: Cart, options: SaveCartOptions): Promise<void> {
    const { expectedVersion } = options;
    const tasks = options.tasks ?? [];
    const idempotency = options.idempotency ?? [];
    if (cart.version !== expectedVersion + 1) {
      throw new StorageError(
        ErrorCode.STORAGE_FAILURE,
        `saveCart: cart "${cart.id}" has version ${cart.version}, expected ${expectedVersion + 1}.`,
      );
    }
    const document = JSON.stringify(cart);
    const writeCart = async (db: Queryable): Promise<void> => {
      const result =
        expectedVersion === 0
          ? await db.query(
              `INSERT INTO ${this.#t.carts} (id, version, document) VALUES ($1, $2, $3)
               ON CONFLICT (id) DO NOTHING`,
              [cart.id, cart.version, document],
            )
          : await db.query(
              `UPDATE ${this.#t.carts} SET version = $2, document = $3, updated_at = now()
               WHERE id = $1 AND version = $4`,
              [cart.id, cart.version, document, expectedVersion],
            );
      if (result.rowCount !== 1) throw await this.#conflict(db, cart.id, expectedVersion);
    };
    if (tasks.length === 0 && idempotency.length === 0) {
      await this.#run('saveCart', (db) => writeCart(db));
      return;
    }
    await this.#transaction('saveCart', async (db) => {
      await writeCart(db);
      if (tasks.length > 0) {
        const inserted = await this.#insertTasks(db, tasks);
        if (inserted !== new Set(tasks.map((t) => t.id)).size || inserted !== tasks.length) {
          throw new ConflictError(
            ErrorCode.VERSION_CONFLICT,
            `saveCart: a task id of cart "${cart.id}" is already in the outbox; nothing was written.`,
            { details: { cartId: cart.id } },
          );
        }
      }
      // One by one: a key given twice finds its first record completed.
      for (const record of idempotency) await this.idempotency.completeInTransaction(db, record);
    });
  }

  async enqueueTasks(tasks: readonly ReservationTask[]): Promise<void> {
    if (tasks.length === 0) {
      this.#assertOpen();
      return;
    }
    await this.#run('enqueueTasks', (db) => this.#insertTasks(db, tasks));
  }

  // --------------------------------------------------------------- outbox

  async claim(options: ClaimOptions): Promise<ClaimedTask[]> {
    const { owner, limit, leaseMs } = options;
    const { rows } = await this.#query(
      'claim',
      `WITH now AS (SELECT ${nowSql(1)} AS ms),
       due AS (
         SELECT o.id FROM ${this.#t.outbox} o, now
         WHERE o.available_at <= now.ms AND (o.lease_until IS NULL OR o.lease_until <= now.ms)
         ORDER BY o.available_at, o.created_at, o.id
         LIMIT $2
         FOR UPDATE OF o SKIP LOCKED)
       UPDATE ${this.#t.outbox} o
       SET attempts = o.attempts + 1, lease_owner = $3, lease_until = now.ms + $4
       FROM due, now
       WHERE o.id = due.id
       RETURNING o.id, o.task, o.attempts, o.lease_until, o.created_at`,
      [this.#now(), limit, owner, leaseMs],
    );
    return rows
      .map((row) => ({
        task: decodeTask(row.id, row.task),
        attempt: row.attempts as number,
        leaseUntil: toMillis(row.lease_until) as number,
        createdAt: toMillis(row.created_at) as number,
        id: row.id as string,
      }))
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(({ task, attempt, leaseUntil }) => ({ task, attempt, leaseUntil }));
  }

  async complete(taskId: string, owner: string): Promise<boolean> {
    const result = await this.#query(
      'complete',
      `DELETE FROM ${this.#t.outbox} WHERE id = $1 AND lease_owner = $2`,
      [taskId, owner],
    );
    return result.rowCount === 1;
  }

  async release(taskId: string, owner: string, availableAt: number): Promise<boolean> {
    const result = await this.#query(
      'release',
      `UPDATE ${this.#t.outbox} SET available_at = $3, lease_owner = NULL, lease_until = NULL
       WHERE id = $1 AND lease_owner = $2`,
      [taskId, owner, Math.round(availableAt)],
    );
    return result.rowCount === 1;
  }

  async nextDueAt(): Promise<number | undefined> {
    const { rows } = await this.#query(
      'nextDueAt',
      `SELECT min(GREATEST(available_at, COALESCE(lease_until, available_at))) AS due
       FROM ${this.#t.outbox}`,
      [],
    );
    return toMillis(rows[0]?.due) ?? undefined;
  }

  // ------------------------------------------------------------ lifecycle

  /**
   * Closes the pool (waiting for queries in flight). Idempotent; later calls of
   * any other method fail with `CLOSED`.
   */
  close(): Promise<void> {
    this.#closed ??= this.#pool.end().catch((error: unknown) => {
      this.#logger.warn(
        { err: error, url: this.url },
        'cartkit: closing the PostgreSQL pool failed',
      );
    });
    return this.#closed;
  }

  // -------------------------------------------------------------- helpers

  /** The test clock's time, or `null`: the SQL then uses the database's clock. */
  #now(): number | null {
    return this.#options.clock?.now() ?? null;
  }

  #assertOpen(): void {
    if (this.#closed !== undefined) {
      throw new StorageError(ErrorCode.CLOSED, `PostgreSQL storage at ${this.url} is closed.`);
    }
  }

  async #insertTasks(db: Queryable, tasks: readonly ReservationTask[]): Promise<number> {
    const result = await db.query(
      `INSERT INTO ${this.#t.outbox} (id, cart_id, task, created_at, available_at)
       SELECT t->>'id', t->>'cartId', t, (t->>'createdAt')::bigint, ${nowSql(1)}
       FROM json_array_elements($2::json) AS t
       ON CONFLICT (id) DO NOTHING`,
      [this.#now(), JSON.stringify(tasks)],
    );
    return result.rowCount ?? 0;
  }

  /** Why a compare-and-set failed: the version found, for the conflict's details. */
  async #conflict(db: Queryable, cartId: string, expected: number): Promise<ConflictError> {
    const { rows } = await db.query(`SELECT version FROM ${this.#t.carts} WHERE id = $1`, [cartId]);
    const stored = rows[0]?.version ?? 'none';
    return ConflictError.versionConflict(`cart "${cartId}"`, stored, expected);
  }

  // biome-ignore lint/suspicious/noExplicitAny: rows are checked where they are decoded
  async #query(operation: string, sql: string, values: unknown[]): Promise<pg.QueryResult<any>> {
    return this.#run(operation, (db) => db.query(sql, values));
  }

  /** Runs `work` on a pooled connection, mapping driver errors to cartkit errors. */
  async #run<T>(operation: string, work: (db: Queryable) => Promise<T>): Promise<T> {
    this.#assertOpen();
    try {
      return await work(this.#pool);
    } catch (error) {
      throw this.#mapError(error, operation);
    }
  }

  /** Runs `work` in a transaction on one connection; any error rolls it back. */
  async #transaction<T>(operation: string, work: (db: Queryable) => Promise<T>): Promise<T> {
    this.#assertOpen();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw this.#mapError(error, operation);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      if (isUnavailable(error)) broken = error as Error;
      else await client.query('ROLLBACK').catch((e: unknown) => (broken = e as Error));
      throw this.#mapError(error, operation);
    } finally {
      client.release(broken);
    }
  }

  #mapError(error: unknown, operation: string): Error {
    if (this.#closed !== undefined && !CartError.is(error)) {
      return new StorageError(ErrorCode.CLOSED, `PostgreSQL storage at ${this.url} is closed.`, {
        cause: error,
      });
    }
    return toOperationError(error, operation, this.url);
  }
}

/** Creates the schema and tables if missing and applies pending migrations. */
async function migrate(pool: pg.Pool, options: ResolvedPostgresOptions): Promise<number> {
  const t = tables(options.schema, options.tablePrefix);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // One opener at a time per schema + prefix: the others wait, then find the work done.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
      `cartkit:${options.schema}.${options.tablePrefix}`,
    ]);
    const schemaExists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
      options.schema,
    ]);
    if (schemaExists.rowCount === 0) await client.query(`CREATE SCHEMA ${t.schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${t.migrations} (
         version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query(
      `SELECT COALESCE(max(version), 0) AS version FROM ${t.migrations}`,
    );
    const current = Number(rows[0]?.version ?? 0);
    if (current > LAYOUT_VERSION) {
      throw new StorageError(
        ErrorCode.STORAGE_UNAVAILABLE,
        `Cannot open the PostgreSQL storage at ${options.safeUrl}: its tables have layout ${current}, ` +
          `written by a newer cartkit; this release knows layouts up to ${LAYOUT_VERSION}.`,
        { details: { url: options.safeUrl, layout: current } },
      );
    }
    for (let version = current + 1; version <= LAYOUT_VERSION; version++) {
      const steps = MIGRATIONS[version - 1];
      if (steps === undefined) throw new Error(`missing migration ${version}`);
      for (const sql of steps(t)) await client.query(sql);
      await client.query(`INSERT INTO ${t.migrations} (version) VALUES ($1)`, [version]);
      options.logger.info(
        { url: options.safeUrl, layout: version },
        'cartkit: migrated PostgreSQL tables',
      );
    }
    await client.query('COMMIT');
    return LAYOUT_VERSION;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Opens a {@link PostgresCartStorage}: validates the options, connects, and
 * creates or migrates its tables.
 *
 * @example
 * ```ts
 * const storage = await createPostgresCartStorage({ url: process.env.DATABASE_URL! });
 * const cart = createCart({ storage, scheduler, reserver });
 * ```
 * @throws ConfigurationError for an invalid option (naming it).
 * @throws StorageError `STORAGE_UNAVAILABLE` when the server cannot be used.
 */
export function createPostgresCartStorage(
  options: PostgresCartStorageOptions,
): Promise<PostgresCartStorage> {
  return PostgresCartStorage.open(options);
}
