import {
  type Cart,
  type CartStorage,
  type ClaimedTask,
  type ClaimOptions,
  type Clock,
  ConflictError,
  ErrorCode,
  type ReservationTask,
  type SaveCartOptions,
  StorageError,
} from '@cartkit/core';
import Keyv from 'keyv';
import { type Query, type Row, SqliteConnection } from './connection.js';
import { DecodedCarts, SAVED_TEXT_MAX_CHARS } from './decoded-carts.js';
import { DOCUMENT_SCHEMA, DocumentCodec, KEY_NAMESPACE, keys } from './documents.js';
import {
  type ResolvedSqliteOptions,
  resolveSqliteOptions,
  type SqliteCartStorageOptions,
  type SqliteSynchronous,
} from './options.js';
import { LAYOUT_VERSION, type Statements, statements } from './schema.js';
import { isLockContention, toOpenError, toOperationError } from './sqlite-errors.js';
import { purgeExpired, SqliteIdempotencyStore } from './sqlite-idempotency-store.js';
import { type CommitMark, onlyOwnCommits } from './wal-index.js';

const ALL = -1;

/** Most saves written by one group write. */
const MAX_GROUP_SIZE = 64;

/** A save that may go the one-statement way (no idempotency records, next version). */
interface GroupSave {
  readonly cart: Cart;
  readonly cartKey: string;
  readonly expectedVersion: number;
  readonly tasks: readonly ReservationTask[];
}

/** A task completion waiting for the writer, with its caller. */
interface CompletionMember {
  readonly taskId: string;
  readonly owner: string;
  readonly resolve: (completed: boolean) => void;
  readonly reject: (error: unknown) => void;
}

/** A save waiting in a group, with its caller. */
interface GroupMember {
  readonly save: GroupSave;
  readonly resolve: (written: boolean) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A durable {@link CartStorage} in one SQLite file (or `:memory:`), on keyv +
 * @keyv/sqlite. Open it with {@link createSqliteCartStorage}.
 *
 * - Compare-and-set and the atomic cart + tasks write are SQL transactions
 *   (`BEGIN IMMEDIATE … COMMIT`), so they hold across processes sharing the file;
 *   an in-process lock keeps concurrent callers out of each other's transactions.
 * - The outbox is a table of tasks with their delivery state; a claim is one
 *   `UPDATE … RETURNING` statement, so two processes never hold one task at once.
 * - WAL journal: readers do not block the writer; with `synchronous: 'NORMAL'` an
 *   acknowledged write survives the process being killed.
 * - Tasks are indexed by due time, so claims never read carts.
 * - Its `idempotency` store ({@link SqliteIdempotencyStore}) keeps the HTTP
 *   layer's `Idempotency-Key` records in the same file; a save that carries
 *   completed records writes them in the cart's transaction.
 * - Every failure is a cartkit error: `VERSION_CONFLICT`, `STORAGE_CORRUPT_DATA`
 *   (naming the key), `STORAGE_FAILURE`, `CLOSED` — never a raw driver error.
 */
export class SqliteCartStorage implements CartStorage {
  /** The database: an absolute file path, or `':memory:'`. */
  readonly path: string;
  /** The journal mode in force: `'wal'` for files, `'memory'` for `:memory:`. */
  readonly journalMode: string;
  /** The `synchronous` level in force. */
  readonly synchronous: SqliteSynchronous;
  /** The `Idempotency-Key` records, on the same connection (completed atomically by `saveCart`). */
  readonly idempotency: SqliteIdempotencyStore;
  readonly #connection: SqliteConnection;
  readonly #codec: DocumentCodec;
  readonly #sql: Statements;
  readonly #clock: Clock;
  /** Saves waiting for the writer, to be written together (group commit). */
  #group: GroupMember[] | undefined;
  readonly #decoded = new DecodedCarts();
  /** Completions waiting for the writer, to be written together. */
  #completions: CompletionMember[] | undefined;
  /**
   * Saves that went the group way and are not settled: `close()` waits for them, as a
   * save the group did not write takes the careful path after the group (a call made
   * before `close()` gets its own answer, never `CLOSED`).
   */
  readonly #grouped = new Set<Promise<void>>();
  #closed: Promise<void> | undefined;

  private constructor(
    options: ResolvedSqliteOptions,
    connection: SqliteConnection,
    codec: DocumentCodec,
    journalMode: string,
  ) {
    this.path = options.location;
    this.journalMode = journalMode;
    this.synchronous = options.synchronous;
    this.#connection = connection;
    this.#codec = codec;
    this.#sql = statements(options.table);
    this.#clock = options.clock;
    this.idempotency = new SqliteIdempotencyStore(
      {
        read: (operation, work) => this.#read(operation, work),
        transaction: (operation, work) => this.#transaction(operation, true, work),
      },
      codec,
      this.#sql,
      options.clock,
    );
  }

  /**
   * Validates the options, opens the database and verifies it can be written.
   * @throws ConfigurationError for an invalid option (naming it).
   * @throws StorageError `STORAGE_UNAVAILABLE` (with `cause`) when the database
   *   cannot be opened: missing folder, read-only file, locked, not a database.
   */
  static async open(options: SqliteCartStorageOptions): Promise<SqliteCartStorage> {
    const resolved = resolveSqliteOptions(options);
    const { location, logger } = resolved;
    let connection: SqliteConnection;
    try {
      connection = await SqliteConnection.connect(resolved);
    } catch (error) {
      throw toOpenError(error, location);
    }
    try {
      const keyv = new Keyv(connection.store, { namespace: KEY_NAMESPACE });
      const { serialize, deserialize } = keyv;
      if (serialize === undefined || deserialize === undefined) {
        throw new StorageError(ErrorCode.STORAGE_FAILURE, 'keyv provides no serializer.');
      }
      const codec = new DocumentCodec(serialize, deserialize);
      const journalMode = await prepare(connection, codec, resolved);
      const watching = journalMode === 'wal' && (await connection.watchCommits(location));
      logger.debug(
        { path: location, journalMode, synchronous: resolved.synchronous, watching },
        'sqlite cart storage opened',
      );
      return new SqliteCartStorage(resolved, connection, codec, journalMode);
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw toOpenError(error, location);
    }
  }

  /**
   * Reads the cart's stored text afresh (a write by any process is seen at once);
   * when the text is what this store decoded last time for the cart, the earlier
   * decoded cart is returned instead of parsing it again. On a WAL file, when nothing
   * at all was committed to the file since the last read of this cart began (the
   * wal-index header in the `-shm` file is unchanged: one synchronous 96-byte read,
   * {@link WalIndexProbe}), that read's cart is returned without a statement. Carts
   * it returns are frozen: derive changed copies, as core's transitions do.
   */
  async getCart(cartId: string): Promise<Cart | undefined> {
    this.#assertOpen();
    // Taken before the statement starts: what it returns is at least this recent.
    const snapshot = this.#connection.walIndex?.snapshot();
    if (snapshot !== undefined) {
      const current = this.#decoded.current(cartId, snapshot);
      if (current !== undefined) return current;
    }
    const key = keys.cart(cartId);
    const stored = await this.#read('getCart', (query) => readValue(query, this.#sql.get, key));
    if (stored === undefined) return undefined;
    if (typeof stored === 'string') {
      const known = this.#decoded.get(cartId, stored, snapshot);
      if (known !== undefined) return known;
    }
    const cart = await this.#codec.decode('cart', key, cartId, stored);
    return this.#decoded.set(cartId, stored as string, cart, snapshot);
  }

  async saveCart(cart: Cart, options: SaveCartOptions): Promise<void> {
    const { expectedVersion } = options;
    const tasks = options.tasks ?? [];
    const idempotency = options.idempotency ?? [];
    // The usual case in as few statements as possible, shared by every such save
    // waiting for the writer (group commit): one conditional multi-row upsert does the
    // compare-and-set of all their carts (atomic on its own), then — in the same
    // transaction, when there are tasks — one insert of the winners' tasks. A save
    // whose cart was not written (a conflict, a damaged or foreign value, a task id
    // already taken) takes the careful path below, which reads, decodes and says why;
    // so does a save that completes idempotency records (their checks need reads).
    if (cart.version === expectedVersion + 1 && idempotency.length === 0) {
      this.#assertOpen();
      const saving = this.#saveInGroup({
        cart,
        cartKey: keys.cart(cart.id),
        expectedVersion,
        tasks,
      }).then((written) => (written ? undefined : this.#saveCarefully(cart, options, false)));
      this.#grouped.add(saving);
      const settled = () => this.#grouped.delete(saving);
      saving.then(settled, settled);
      return saving;
    }
    return this.#saveCarefully(cart, options, true);
  }

  /**
   * The careful path: reads, decodes and says why a save cannot be written.
   * @param checkOpen false for a save made before `close()` that the group did not write.
   */
  #saveCarefully(cart: Cart, options: SaveCartOptions, checkOpen: boolean): Promise<void> {
    const { expectedVersion } = options;
    const tasks = options.tasks ?? [];
    const idempotency = options.idempotency ?? [];
    return this.#transaction('saveCart', checkOpen, async (query) => {
      const cartKey = keys.cart(cart.id);
      const stored = await readValue(query, this.#sql.get, cartKey);
      const storedVersion =
        stored === undefined
          ? 0
          : (await this.#codec.decode('cart', cartKey, cart.id, stored)).version;
      if (storedVersion !== expectedVersion || cart.version !== expectedVersion + 1) {
        throw ConflictError.versionConflict(`cart "${cart.id}"`, storedVersion, expectedVersion);
      }
      if (tasks.length > 0) {
        const taken = await query(
          this.#sql.existingTasks,
          JSON.stringify(tasks.map((task) => task.id)),
        );
        if (taken.length > 0) {
          throw ConflictError.versionConflict(`task "${String(taken[0]?.id)}"`, 'existing', 'new');
        }
      }
      // One by one: a key given twice finds its first record completed.
      for (const record of idempotency) {
        await this.idempotency.completeInTransaction(query, record);
      }
      await query(this.#sql.put, cartKey, await this.#codec.encode('cart', cart));
      await this.#insertTasks(query, tasks);
    });
  }

  /**
   * Queues a save for the next group write on the writer connection (joining the
   * group that waits for the writer, if any). @returns whether its cart was written.
   */
  #saveInGroup(save: GroupSave): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const member = { save, resolve, reject };
      const open = this.#group;
      // One cart once per group: a second save of it (another writer in this process)
      // waits for the next group, so each row of the upsert names its own cart.
      if (
        open !== undefined &&
        open.length < MAX_GROUP_SIZE &&
        !open.some((other) => other.save.cartKey === save.cartKey)
      ) {
        open.push(member);
        return;
      }
      const group = [member];
      this.#group = group;
      this.#write('saveCart', (query) => {
        if (this.#group === group) this.#group = undefined; // closed: later saves start another
        return this.#writeGroup(
          query,
          group.map((m) => m.save),
          this.#connection.walIndex?.mark(),
        );
      }).then(
        (written) => {
          for (const m of group) m.resolve(written.has(m.save));
        },
        (error: unknown) => {
          for (const m of group) m.reject(error);
        },
      );
    });
  }

  /**
   * Writes a group of saves: the conditional upsert of all carts, then the tasks of
   * those written, in one transaction when there are tasks. @returns the saves
   * written; nothing is written of the others (a task id already taken undoes the
   * whole group, whose saves then take the careful path one by one).
   * @param before the wal-index header before the group's first statement (see {@link #ownCommits}).
   */
  async #writeGroup(
    query: Query,
    saves: readonly GroupSave[],
    before: CommitMark | undefined,
  ): Promise<Set<GroupSave>> {
    const texts = await Promise.all(saves.map(({ cart }) => this.#codec.encode('cart', cart)));
    const upsert = async (): Promise<Set<GroupSave>> => {
      let returned: Row[];
      try {
        const [only] = saves;
        // One save (a busy cart's usual group): its text bound as is, not escaped into a
        // JSON array (for a big cart that copy is as large as the text itself).
        returned =
          saves.length === 1 && only !== undefined
            ? await query(
                this.#sql.saveCart,
                only.cartKey,
                texts[0],
                only.expectedVersion,
                DOCUMENT_SCHEMA,
              )
            : await query(
                this.#sql.saveCarts,
                JSON.stringify(
                  saves.map((save, i) => [save.cartKey, texts[i], save.expectedVersion]),
                ),
                DOCUMENT_SCHEMA,
              );
      } catch (error) {
        if (isLockContention(error)) throw error;
        return new Set(); // let the careful path say what is wrong
      }
      const written = new Set(returned.map((row) => String(row.key)));
      return new Set(saves.filter((save) => written.has(save.cartKey)));
    };
    // What was written is what the next read of each cart will find: keep it decoded.
    // When this group's commit is proven the only one since `before`, the carts are kept
    // at the snapshot after it and the next read makes no statement; a long text (a
    // 500-line cart's is ~150 kB) is then not kept. Otherwise they are kept under their
    // text, which the next read compares with what it fetches (another process may
    // have written first).
    const remember = (written: Set<GroupSave>): Set<GroupSave> => {
      const snapshot = this.#ownCommits(
        before,
        written.size > 0 ? 1 : 0,
        new Set([...written].map((save) => save.cart.id)),
      );
      saves.forEach((save, i) => {
        const text = texts[i];
        if (!written.has(save) || text === undefined) return;
        const cart = ownedJsonCopy(save.cart);
        if (cart === NOT_JSON) return;
        const kept =
          snapshot === undefined || text.length <= SAVED_TEXT_MAX_CHARS ? text : undefined;
        this.#decoded.set(save.cart.id, kept, cart as Cart, snapshot);
      });
      return written;
    };
    if (saves.every((save) => save.tasks.length === 0)) return remember(await upsert());
    await query('BEGIN IMMEDIATE');
    try {
      const written = await upsert();
      const tasks = saves.filter((save) => written.has(save)).flatMap((save) => save.tasks);
      if (tasks.length > 0) {
        const added = await query(
          this.#sql.insertTasks,
          JSON.stringify(
            await Promise.all(
              tasks.map(async (task) => [
                task.id,
                await this.#codec.encode('task', task),
                task.createdAt,
              ]),
            ),
          ),
          this.#clock.now(),
        );
        if (added.length !== tasks.length) {
          // A task id was taken: write none of the group; each save goes the careful way.
          await query('ROLLBACK');
          return new Set();
        }
      }
      await query('COMMIT');
      return remember(written);
    } catch (error) {
      await query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  async enqueueTasks(tasks: readonly ReservationTask[]): Promise<void> {
    if (tasks.length === 0) {
      this.#assertOpen();
      return;
    }
    await this.#transaction('enqueueTasks', true, (query) => this.#insertTasks(query, tasks));
  }

  async claim(options: ClaimOptions): Promise<ClaimedTask[]> {
    const { owner, leaseMs } = options;
    const limit = Math.max(0, Math.trunc(options.limit));
    const rows = await this.#write('claim', async (query) => {
      const before = this.#connection.walIndex?.mark();
      const now = this.#clock.now();
      // A cheap read first: polling an empty outbox never takes the write lock.
      const [due] = await query(this.#sql.anyDue, now);
      if (due === undefined || limit === 0) return [];
      const claimed = await query(this.#sql.claim, now, owner, now + leaseMs, limit);
      this.#ownCommits(before, claimed.length > 0 ? 1 : 0, NO_CARTS);
      return claimed;
    });
    const claimed = await Promise.all(
      rows.map(async (row) => {
        const id = String(row.id);
        const task = await this.#codec.decode('task', `outbox:${id}`, id, row.task);
        return {
          task,
          attempt: Number(row.attempts),
          leaseUntil: Number(row.lease_until ?? 0),
        };
      }),
    );
    return claimed.sort(
      (a, b) => a.task.createdAt - b.task.createdAt || (a.task.id < b.task.id ? -1 : 1),
    );
  }

  /**
   * Completions waiting for the writer are written together: one `DELETE … RETURNING`
   * of every `(id, owner)` pair (a task id once per group).
   */
  async complete(taskId: string, owner: string): Promise<boolean> {
    this.#assertOpen();
    return new Promise<boolean>((resolve, reject) => {
      const member = { taskId, owner, resolve, reject };
      const open = this.#completions;
      if (
        open !== undefined &&
        open.length < MAX_GROUP_SIZE &&
        !open.some((other) => other.taskId === taskId)
      ) {
        open.push(member);
        return;
      }
      const group = [member];
      this.#completions = group;
      this.#write('complete', async (query) => {
        if (this.#completions === group) this.#completions = undefined;
        const before = this.#connection.walIndex?.mark();
        const rows = await query(
          this.#sql.completeMany,
          JSON.stringify(group.map((m) => [m.taskId, m.owner])),
        );
        this.#ownCommits(before, rows.length > 0 ? 1 : 0, NO_CARTS);
        return rows;
      }).then(
        (rows) => {
          const deleted = new Set(rows.map((row) => String(row.id)));
          for (const m of group) m.resolve(deleted.has(m.taskId));
        },
        (error: unknown) => {
          for (const m of group) m.reject(error);
        },
      );
    });
  }

  async release(taskId: string, owner: string, availableAt: number): Promise<boolean> {
    const rows = await this.#write('release', async (query) => {
      const before = this.#connection.walIndex?.mark();
      const released = await query(this.#sql.release, taskId, owner, availableAt);
      this.#ownCommits(before, released.length > 0 ? 1 : 0, NO_CARTS);
      return released;
    });
    return rows.length > 0;
  }

  async nextDueAt(): Promise<number | undefined> {
    const [row] = await this.#read('nextDueAt', (query) => query(this.#sql.nextDue));
    const due = row?.due;
    return due === null || due === undefined ? undefined : Number(due);
  }

  /**
   * Waits for calls already made, then closes the database. Idempotent. Calls made
   * after `close()` fail with `CLOSED`.
   */
  close(): Promise<void> {
    this.#closed ??= Promise.allSettled([...this.#grouped])
      .then(() => this.#connection.close())
      .catch((error: unknown) => {
        throw toOperationError(error, 'close', this.path);
      });
    return this.#closed;
  }

  async #insertTasks(query: Query, tasks: readonly ReservationTask[]): Promise<void> {
    const now = this.#clock.now();
    for (const task of tasks) {
      await query(
        this.#sql.insertTask,
        task.id,
        await this.#codec.encode('task', task),
        task.createdAt,
        now,
        0,
      );
    }
  }

  /**
   * After writer work that made `commits` commits (0 or 1) and wrote the carts in
   * `written`: when the wal-index header shows that those were the only commits since
   * `before` (taken on the writer, before the work's first statement:
   * {@link onlyOwnCommits}), the decoded carts current then are current now, except
   * the written ones; @returns the snapshot now, at which the written carts may be
   * kept. `undefined` when that cannot be proven (another connection committed, a
   * header could not be read, `:memory:`): the next reads ask SQLite, as after any
   * commit. Call on the writer, right after the work's last statement.
   */
  #ownCommits(
    before: CommitMark | undefined,
    commits: 0 | 1,
    written: ReadonlySet<string>,
  ): number | undefined {
    const after = before === undefined ? undefined : this.#connection.walIndex?.mark();
    if (before === undefined || after === undefined || !onlyOwnCommits(before, after, commits)) {
      return undefined;
    }
    this.#decoded.advance(before.snapshot, after.snapshot, written);
    return after.snapshot;
  }

  // #read, #write and #transaction are called before a method's first `await`: a call takes
  // its place in the connection's queue when it is made, so `close()` waits for it.

  /** Plain reads: on the reading connection, beside other reads and the writer's transactions. */
  async #read<T>(operation: string, work: (query: Query) => Promise<T>): Promise<T> {
    this.#assertOpen();
    try {
      return await this.#connection.read(operation, work);
    } catch (error) {
      throw toOperationError(error, operation, this.path);
    }
  }

  /** Single-statement writes (autocommit): on the writing connection, in its queue. */
  async #write<T>(operation: string, work: (query: Query) => Promise<T>): Promise<T> {
    this.#assertOpen();
    try {
      return await this.#connection.exclusive(operation, work);
    } catch (error) {
      throw toOperationError(error, operation, this.path);
    }
  }

  async #transaction<T>(
    operation: string,
    checkOpen: boolean,
    work: (query: Query) => Promise<T>,
  ): Promise<T> {
    if (checkOpen) this.#assertOpen();
    try {
      return await this.#connection.transaction(operation, work);
    } catch (error) {
      throw toOperationError(error, operation, this.path);
    }
  }

  #assertOpen(): void {
    if (this.#closed !== undefined) {
      throw new StorageError(ErrorCode.CLOSED, `SQLite storage "${this.path}" is closed.`);
    }
  }
}

/**
 * Opens a {@link SqliteCartStorage}: validates the options, opens (creating if
 * needed) the database file, switches it to WAL, creates the tables and verifies
 * that it can write. Every way of failing surfaces here, before the storage is used.
 *
 * @example
 * ```ts
 * const storage = await createSqliteCartStorage({ path: './data/cart.db' });
 * const cart = await createCart({ storage });
 * ```
 * @throws ConfigurationError for an invalid option (naming it).
 * @throws StorageError `STORAGE_UNAVAILABLE` (with `cause`) when the database cannot be opened.
 */
export function createSqliteCartStorage(
  options: SqliteCartStorageOptions,
): Promise<SqliteCartStorage> {
  return SqliteCartStorage.open(options);
}

/** Pragmas, side tables, layout check, first purge. Returns the journal mode in force. */
async function prepare(
  connection: SqliteConnection,
  codec: DocumentCodec,
  options: ResolvedSqliteOptions,
): Promise<string> {
  const sql = statements(options.table);
  const journalMode = await connection.exclusive('open', async (query) => {
    await query(`PRAGMA busy_timeout = ${options.busyTimeoutMs}`);
    const [row] = await query('PRAGMA journal_mode = WAL');
    await query(`PRAGMA synchronous = ${options.synchronous}`);
    return String(row?.journal_mode ?? 'unknown');
  });
  if (options.location !== ':memory:' && journalMode !== 'wal') {
    options.logger.warn(
      { path: options.location, journalMode },
      'SQLite could not switch this database to WAL; concurrent readers will block writers',
    );
  }
  // A write transaction: proves the file is writable and not locked by someone else.
  await connection.transaction('open', async (query) => {
    for (const statement of sql.createSideTables) await query(statement);
    const layoutKey = keys.layout();
    const stored = await readValue(query, sql.get, layoutKey);
    const layout =
      stored === undefined
        ? LAYOUT_VERSION
        : (await codec.decode('layout', layoutKey, '', stored)).layout;
    if (layout > LAYOUT_VERSION) {
      throw new StorageError(
        ErrorCode.STORAGE_UNAVAILABLE,
        `The database "${options.location}" was written by a newer release of @cartkit/storage-sqlite ` +
          `(table layout ${layout}; this release knows up to ${LAYOUT_VERSION}). Upgrade the package.`,
        { details: { path: options.location, layout, supportedLayout: LAYOUT_VERSION } },
      );
    }
    if (layout < 2) await migrateJobsToOutbox(query, sql, codec);
    await query(sql.put, layoutKey, await codec.encode('layout', { layout: LAYOUT_VERSION }));
    await purgeExpired(query, sql, options.clock.now(), ALL);
  });
  return journalMode;
}

/**
 * Layout 1 → 2: moves the unfinished jobs (documents indexed by `<table>_jobs`) into
 * the outbox, keeping their attempt counts and due times; drops the old index.
 */
async function migrateJobsToOutbox(
  query: Query,
  sql: Statements,
  codec: DocumentCodec,
): Promise<void> {
  if ((await query(sql.legacyJobsTable)).length === 0) return;
  for (const row of await query(sql.legacyJobs)) {
    const key = String(row.key);
    const job = await codec.decode('job', key, key.slice(keys.job('').length), row.value);
    const task: ReservationTask = {
      id: job.id,
      idempotencyKey: job.idempotencyKey ?? job.id,
      kind: job.kind,
      cartId: job.cartId,
      itemName: job.itemName,
      quantity: job.quantity,
      reservationId: job.reservationId ?? null,
      createdAt: job.createdAt,
    };
    await query(
      sql.insertTask,
      task.id,
      await codec.encode('task', task),
      task.createdAt,
      job.runAt,
      job.attempts,
    );
    await query(sql.delete, key);
  }
  await query(sql.dropLegacyJobs);
}

const NOT_JSON: unique symbol = Symbol('not JSON');

/** Writer work that writes no cart (the outbox's claims, completions, releases). */
const NO_CARTS: ReadonlySet<string> = new Set();

/**
 * A frozen copy of `value` equal to what decoding its JSON text gives, sharing the parts
 * already frozen (a saved cart keeps most lines of the cart read before it, frozen by
 * the read cache, so only the changed parts are copied): `NOT_JSON` when some part would
 * not come back the same from JSON (a `Date`, a non-finite number, `undefined` in an
 * array, a function…). Parts not frozen are copied, so the caller may still change its
 * own objects after the save.
 */
function ownedJsonCopy(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : NOT_JSON;
    case 'object':
      break;
    default:
      return NOT_JSON;
  }
  if (value === null) return value;
  const frozen = Object.isFrozen(value);
  if (Array.isArray(value)) {
    const copy: unknown[] | undefined = frozen ? undefined : [];
    for (const item of value) {
      if (item === undefined) return NOT_JSON;
      const owned = ownedJsonCopy(item);
      if (owned === NOT_JSON) return NOT_JSON;
      copy?.push(owned);
    }
    return copy === undefined ? value : Object.freeze(copy);
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return NOT_JSON;
  const copy: Record<string, unknown> | undefined = frozen ? undefined : {};
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined) {
      if (frozen) return NOT_JSON; // decoding would drop the key
      continue;
    }
    const owned = ownedJsonCopy(item);
    if (owned === NOT_JSON) return NOT_JSON;
    if (copy !== undefined) copy[key] = owned;
  }
  return copy === undefined ? value : Object.freeze(copy);
}

/** The `value` column of `key`, or `undefined` when the key is absent. */
async function readValue(query: Query, sql: string, key: string): Promise<unknown> {
  const [row] = await query(sql, key);
  return row === undefined ? undefined : row.value;
}
