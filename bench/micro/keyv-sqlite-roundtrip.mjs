// What does one statement cost through @keyv/sqlite? Its `query(sql, ...params)` runs
// sqlite3's `Database#all`, which prepares the statement, runs it and finalizes it
// on every call (each a trip to sqlite3's worker thread). A statement prepared once
// and reused (sqlite3's `Statement#get`, which @keyv/sqlite does not expose) is the
// baseline. Same file, same table, same key, one process, in one run. Also what it
// costs to ask whether anything was committed: `PRAGMA data_version` (a statement, so
// the same round trip) against a synchronous read of the wal-index header in the
// `-shm` file (what @cartkit/storage-sqlite's reads do, see wal-index.ts).
//
//   node bench/micro/keyv-sqlite-roundtrip.mjs [--n 5000]
import { mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { n: { type: 'string', default: '5000' } } });
const n = Number(values.n);
const fromStorage = createRequire(fileURLToPath(import.meta.resolve('@cartkit/storage-sqlite')));
const keyvSqlitePath = fromStorage.resolve('@keyv/sqlite');
const driver = await import(keyvSqlitePath);
const KeyvSqlite = driver.KeyvSqlite ?? driver.default?.KeyvSqlite ?? driver.default;
const sqlite3 = createRequire(keyvSqlitePath)('sqlite3');

const dir = mkdtempSync(join(tmpdir(), 'cartkit-bench-keyv-'));
try {
  const path = join(dir, 'rt.db');
  const store = new KeyvSqlite({ uri: `sqlite://${path}`, table: 't' });
  await store.query('PRAGMA journal_mode = WAL');
  await store.query('INSERT INTO t (key, value) VALUES (?, ?)', 'k', 'x'.repeat(2000));

  const db = await new Promise((resolve, reject) => {
    const d = new sqlite3.Database(path, (error) => (error ? reject(error) : resolve(d)));
  });
  const statement = db.prepare('SELECT value FROM t WHERE key = ?');
  const get = () =>
    new Promise((resolve, reject) =>
      statement.get('k', (error, row) => (error ? reject(error) : resolve(row))),
    );
  const dataVersion = db.prepare('PRAGMA data_version');
  const version = () =>
    new Promise((resolve, reject) =>
      dataVersion.get((error, row) => (error ? reject(error) : resolve(row))),
    );
  const shm = openSync(`${path}-shm`, 'r');
  const header = Buffer.alloc(96);
  const readHeader = async () => readSync(shm, header, 0, 96, 0);
  const all = (sql, ...params) =>
    new Promise((resolve, reject) =>
      db.all(sql, params, (error, rows) => (error ? reject(error) : resolve(rows))),
    );

  const time = async (label, fn, inFlight = 1) => {
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next++ < n) await fn();
      }),
    );
    const ms = performance.now() - started;
    return { label, inFlight, perSecond: Math.round((n * 1000) / ms), usEach: (ms * 1000) / n };
  };
  const rows = [];
  for (const inFlight of [1, 16]) {
    rows.push(
      await time(
        '@keyv/sqlite query()',
        () => store.query('SELECT value FROM t WHERE key = ?', 'k'),
        inFlight,
      ),
    );
    rows.push(
      await time(
        'sqlite3 Database#all (same path)',
        () => all('SELECT value FROM t WHERE key = ?', 'k'),
        inFlight,
      ),
    );
    rows.push(await time('sqlite3 prepared Statement#get', get, inFlight));
    rows.push(
      await time(
        '@keyv/sqlite query() PRAGMA data_version',
        () => store.query('PRAGMA data_version'),
        inFlight,
      ),
    );
    rows.push(await time('sqlite3 prepared PRAGMA data_version', version, inFlight));
    rows.push(await time('pread of the -shm header (96 bytes)', readHeader, inFlight));
  }
  console.table(rows.map((r) => ({ ...r, usEach: r.usEach.toFixed(1) })));
  console.log(`RESULT ${JSON.stringify(rows)}`);
  await new Promise((resolve) => statement.finalize(resolve));
  await new Promise((resolve) => dataVersion.finalize(resolve));
  await new Promise((resolve) => db.close(resolve));
  await store.disconnect?.();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
