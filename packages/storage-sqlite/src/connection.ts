import { realpathSync } from 'node:fs';
import { KeyedMutex, type Logger } from '@cartkit/core';
import type KeyvSqlite from '@keyv/sqlite';
import { loadKeyvSqlite } from './driver.js';
import { isLockContention } from './sqlite-errors.js';
import { WalIndexProbe } from './wal-index.js';

/** One result row. */
export type Row = Readonly<Record<string, unknown>>;

/** Runs one SQL statement on the connection and returns its rows. */
export type Query = (sql: string, ...params: unknown[]) => Promise<Row[]>;

/** Options of {@link SqliteConnection.connect}. */
export interface ConnectOptions {
  /** Absolute file path or `':memory:'`. */
  readonly location: string;
  /** The key/value table @keyv/sqlite creates and uses. */
  readonly table: string;
  readonly busyTimeoutMs: number;
  readonly logger: Logger;
}

/** Attempts of one operation that keeps meeting another connection's lock. */
const MAX_LOCK_ATTEMPTS = 5;
/** Longest pause between two such attempts, in milliseconds (before jitter). */
const MAX_LOCK_PAUSE_MS = 100;
/** Longest key the key/value table declares (SQLite does not enforce it; documentation only). */
const KEY_SIZE = 1024;
/** The single key of the in-process mutex: the whole connection is one critical section. */
const CONNECTION = 'connection';

/**
 * The sqlite3 connections of a storage, opened by `@keyv/sqlite`, made safe to
 * share between concurrent callers.
 *
 * sqlite3 gives a process a single connection per database handle, and a
 * transaction belongs to the connection, not to the caller that opened it. So every
 * statement on the writing connection runs through an in-process FIFO lock: nothing
 * can slip between the `BEGIN IMMEDIATE` and `COMMIT` of a transaction. Other
 * processes on the same file are kept out by SQLite's own file locks; when one holds
 * the write lock, a statement waits up to the busy timeout, and an operation that
 * still meets `SQLITE_BUSY`/`SQLITE_LOCKED` is rolled back and retried a bounded
 * number of times with jittered pauses.
 *
 * A database file also gets a second connection for plain reads ({@link read}),
 * outside any transaction: reads run side by side, without waiting for each other or
 * for the writer's transactions. In WAL mode each such read sees the last commit of
 * every process as of its start — what the writer committed before the read was
 * issued included — and never a transaction in progress. `:memory:` has one
 * connection (a second one would open another, empty database).
 */
export class SqliteConnection {
  /** The @keyv/sqlite store that owns the writing connection and the key/value table. */
  readonly store: KeyvSqlite;
  readonly #query: Query;
  readonly #reader: KeyvSqlite | undefined;
  readonly #readQuery: Query | undefined;
  readonly #logger: Logger;
  readonly #mutex = new KeyedMutex();
  /** Reads in flight on the reading connection (close waits for them). */
  readonly #reads = new Set<Promise<unknown>>();
  #walIndex: WalIndexProbe | undefined;

  private constructor(store: KeyvSqlite, reader: KeyvSqlite | undefined, logger: Logger) {
    this.store = store;
    this.#query = (sql, ...params) => store.query(sql, ...params) as Promise<Row[]>;
    this.#reader = reader;
    this.#readQuery =
      reader === undefined
        ? undefined
        : (sql, ...params) => reader.query(sql, ...params) as Promise<Row[]>;
    this.#logger = logger;
  }

  /**
   * Opens the connection and creates the key/value table if needed. Rejects with
   * the driver's error (the caller maps it); a failed connection holds no lock.
   * The driver itself is loaded here, not at import: a missing sqlite3 binding
   * rejects with `STORAGE_UNAVAILABLE` saying how to fix it.
   */
  static async connect(options: ConnectOptions): Promise<SqliteConnection> {
    const KeyvSqliteStore = await loadKeyvSqlite(options.location);
    const open = () => {
      const store = new KeyvSqliteStore({
        uri: `sqlite://${options.location}`,
        table: options.table,
        keySize: KEY_SIZE,
        busyTimeout: options.busyTimeoutMs,
      });
      // @keyv/sqlite emits connection failures as 'error' events besides rejecting
      // its queries; without a listener the emit itself would throw.
      store.on('error', (error: unknown) => {
        options.logger.debug({ err: error, path: options.location }, 'sqlite connection error');
      });
      return store;
    };
    const store = open();
    // The first query waits for the connection and the key/value table.
    await store.query('SELECT 1');
    if (options.location === ':memory:')
      return new SqliteConnection(store, undefined, options.logger);
    const reader = open();
    try {
      await reader.query('SELECT 1');
    } catch (error) {
      await store.close().catch(() => undefined);
      await reader.close().catch(() => undefined);
      throw error;
    }
    return new SqliteConnection(store, reader, options.logger);
  }

  /**
   * Tells whether anything was committed to the file since an earlier look, without
   * a statement ({@link WalIndexProbe}); `undefined` until {@link watchCommits} found
   * the file in WAL mode, and always on `:memory:`.
   */
  get walIndex(): WalIndexProbe | undefined {
    return this.#walIndex?.usable === true ? this.#walIndex : undefined;
  }

  /**
   * Opens {@link walIndex} when the file is in WAL mode on both connections and its
   * `-shm` file holds a valid wal-index header for its page size. Call once, after
   * the journal mode was set. Does nothing otherwise (reads then always ask SQLite).
   */
  async watchCommits(location: string): Promise<boolean> {
    const reader = this.#readQuery;
    if (reader === undefined) return false;
    // A read on each connection: both now hold the shared lock a WAL connection keeps
    // for its whole life, so no other process can take the file out of WAL mode.
    await reader('SELECT count(*) AS n FROM sqlite_schema');
    const [readerMode] = await reader('PRAGMA journal_mode');
    const [page] = await this.exclusive('open', async (query) => {
      await query('SELECT count(*) AS n FROM sqlite_schema');
      const [writerMode] = await query('PRAGMA journal_mode');
      if (writerMode?.journal_mode !== 'wal') return [];
      return query('PRAGMA page_size');
    });
    if (readerMode?.journal_mode !== 'wal' || page === undefined) return false;
    let shm: string;
    try {
      // SQLite resolves symbolic links: the -shm file is beside the real database file.
      shm = `${realpathSync(location)}-shm`;
    } catch {
      return false;
    }
    // Kept (and closed after the connections) even when not usable: see WalIndexProbe.
    this.#walIndex = WalIndexProbe.open(shm, Number(page.page_size));
    return this.#walIndex?.usable === true;
  }

  /**
   * Runs `work` on the reading connection, outside any transaction, alongside other
   * reads (on `:memory:`, alone on the one connection). For plain reads only: each
   * statement sees the latest commit as of its start. Retried as a whole while
   * another process holds a lock.
   */
  read<T>(label: string, work: (query: Query) => Promise<T>): Promise<T> {
    const query = this.#readQuery;
    if (query === undefined) return this.exclusive(label, work);
    const reading = this.#withLockRetry(label, () => work(query));
    this.#reads.add(reading);
    const done = () => this.#reads.delete(reading);
    reading.then(done, done);
    return reading;
  }

  /**
   * Runs `work` alone on the connection, outside any transaction (for reads and
   * pragmas). Retried as a whole while another process holds a lock.
   */
  exclusive<T>(label: string, work: (query: Query) => Promise<T>): Promise<T> {
    return this.#mutex.run(CONNECTION, () => this.#withLockRetry(label, () => work(this.#query)));
  }

  /**
   * Runs `work` inside `BEGIN IMMEDIATE … COMMIT`, alone on the connection. The
   * write lock is taken up front, so the reads inside `work` see the latest commit
   * of every process and nobody can commit in between. Anything thrown rolls the
   * transaction back; lock contention retries the whole transaction.
   */
  transaction<T>(label: string, work: (query: Query) => Promise<T>): Promise<T> {
    return this.#mutex.run(CONNECTION, () =>
      this.#withLockRetry(label, async () => {
        await this.#query('BEGIN IMMEDIATE');
        try {
          const result = await work(this.#query);
          await this.#query('COMMIT');
          return result;
        } catch (error) {
          await this.#rollback(label);
          throw error;
        }
      }),
    );
  }

  /** Waits for queued work and reads in flight, then closes the connections. */
  close(): Promise<void> {
    return this.#mutex.run(CONNECTION, async () => {
      await Promise.allSettled([...this.#reads]);
      try {
        await this.#reader?.close();
        await this.store.close();
      } finally {
        // Only now: closing the -shm descriptor drops this process's locks on the file.
        this.#walIndex?.close();
      }
    });
  }

  async #withLockRetry<T>(label: string, attempt: () => Promise<T>): Promise<T> {
    for (let attempts = 1; ; attempts++) {
      try {
        return await attempt();
      } catch (error) {
        if (!isLockContention(error) || attempts >= MAX_LOCK_ATTEMPTS) throw error;
        const pause = lockPause(attempts);
        this.#logger.debug(
          { operation: label, attempt: attempts, pauseMs: Math.round(pause) },
          'sqlite database locked by another connection; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  async #rollback(label: string): Promise<void> {
    try {
      await this.#query('ROLLBACK');
    } catch (error) {
      // SQLite may already have rolled back (e.g. after SQLITE_FULL); nothing is left open.
      this.#logger.debug({ err: error, operation: label }, 'sqlite rollback found no transaction');
    }
  }
}

/** Jittered, growing pause before the next attempt of a locked operation. */
function lockPause(attempt: number): number {
  const ceiling = Math.min(MAX_LOCK_PAUSE_MS, 10 * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
