import KeyvSqlite from '@keyv/sqlite';

/** A second, plain connection to a database file, for writing what the adapter would not. */
export interface RawDatabase {
  query(sql: string, ...params: unknown[]): Promise<Array<Record<string, unknown>>>;
  /** Stores `value` as-is under `key` of the `cartkit` table. */
  put(key: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

/** Opens `path` with @keyv/sqlite, bypassing the adapter. */
export function openRaw(path: string, table = 'cartkit'): RawDatabase {
  const store = new KeyvSqlite({ uri: `sqlite://${path}`, table, busyTimeout: 5000 });
  const query = (sql: string, ...params: unknown[]) =>
    store.query(sql, ...params) as Promise<Array<Record<string, unknown>>>;
  return {
    query,
    put: async (key, value) => {
      await query(
        `INSERT INTO ${table} (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        key,
        value,
      );
    },
    close: () => store.close(),
  };
}
