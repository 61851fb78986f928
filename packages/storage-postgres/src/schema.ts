/**
 * The newest table layout this release writes. Each entry of {@link MIGRATIONS}
 * brings a database from the layout before it to its own; opening applies the
 * missing ones, and refuses a database whose layout is newer than this.
 */
export const LAYOUT_VERSION = 1;

/** Quotes an identifier already restricted by the options to letters, digits and `_`. */
function quote(identifier: string): string {
  return `"${identifier}"`;
}

/** The qualified table names of one storage. */
export interface Tables {
  readonly schema: string;
  readonly migrations: string;
  readonly carts: string;
  readonly outbox: string;
  readonly idempotency: string;
  /** Unqualified names, for indexes. */
  readonly prefix: string;
}

/** Table names for `schema` and `prefix` (both validated identifiers). */
export function tables(schema: string, prefix: string): Tables {
  const q = (name: string) => `${quote(schema)}.${quote(`${prefix}${name}`)}`;
  return {
    schema: quote(schema),
    migrations: q('migrations'),
    carts: q('carts'),
    outbox: q('outbox'),
    idempotency: q('idempotency'),
    prefix,
  };
}

/**
 * The migrations, by the layout version they produce. Run in one transaction per
 * open, under an advisory lock, so instances starting together do not race.
 *
 * Layout 1:
 * - `carts`: one row per cart; `version` is the compare-and-set column, `document`
 *   the cart as JSON (`json`, kept verbatim).
 * - `outbox`: one row per reservation task: the task as written, plus its delivery
 *   state: `attempts`, `available_at` (epoch ms), and the lease (`lease_owner`,
 *   `lease_until`). Indexed by due time for claims.
 * - `idempotency`: one row per `Idempotency-Key` record, indexed by expiry.
 */
export const MIGRATIONS: ReadonlyArray<(t: Tables) => string[]> = [
  (t) => [
    `CREATE TABLE ${t.carts} (
       id text PRIMARY KEY,
       version integer NOT NULL CHECK (version >= 1),
       document json NOT NULL,
       updated_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE TABLE ${t.outbox} (
       id text PRIMARY KEY,
       cart_id text NOT NULL,
       task json NOT NULL,
       created_at bigint NOT NULL,
       available_at bigint NOT NULL,
       attempts integer NOT NULL DEFAULT 0,
       lease_owner text,
       lease_until bigint)`,
    `CREATE INDEX ${quote(`${t.prefix}outbox_due`)} ON ${t.outbox} (available_at, created_at, id)`,
    `CREATE TABLE ${t.idempotency} (
       key text PRIMARY KEY,
       fingerprint text NOT NULL,
       status text NOT NULL CHECK (status IN ('in-progress', 'completed')),
       response json,
       lease_until bigint,
       expires_at bigint NOT NULL)`,
    `CREATE INDEX ${quote(`${t.prefix}idempotency_expiry`)} ON ${t.idempotency} (expires_at)`,
  ],
];

/**
 * The current time in epoch milliseconds as SQL: parameter `$n` when the storage
 * was given a clock (tests), else the database's own clock. `clock_timestamp()`,
 * not `now()`: the time of the statement, not of the transaction's start.
 */
export function nowSql(parameter: number): string {
  return `COALESCE($${parameter}::bigint, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)`;
}
