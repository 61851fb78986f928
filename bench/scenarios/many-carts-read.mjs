// Does a large store slow down reading one cart? Reads one 10-line cart from a
// SQLite file that holds `--few` other carts (the baseline) and from one that holds
// `--many`, in one run, and prints the median read latencies. A keyed store should
// stay near 1.0.
//
// Each timed read follows a commit (an untimed save of another cart of the same
// file, in `beforeEach`) made through a second storage on the file, which stands in
// for another process: the storage skips SQLite while nothing was committed to the
// file and after its own commits (the wal-index check), so without a foreign commit
// both stores would answer from the last read and the keyed lookup this scenario is
// about would not be measured.
//
// The baseline and the first 1,000 other carts are written through the storage API;
// to keep the run short, the rest are copies of those rows made in one SQL statement
// (renamed ids), then read back through the API to prove they are valid documents.
//
//   node bench/scenarios/many-carts-read.mjs [--few 100] [--many 100000] [--time <ms>]
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createSqliteCartStorage } from '@cartkit/storage-sqlite';
import { Bench } from 'tinybench';

const { values } = parseArgs({
  options: {
    time: { type: 'string', default: '2000' },
    few: { type: 'string', default: '100' },
    many: { type: 'string', default: '100000' },
  },
});
const at = new Date(0).toISOString();
const line = (name) => ({ name, quantity: 1, reservation: null, addedAt: at, updatedAt: at });
const cartOf = (id, lineCount) => ({
  id,
  version: 1,
  lines: Array.from({ length: lineCount }, (_, i) => line(`P${i}`)),
  createdAt: at,
  updatedAt: at,
});

const TABLE = 'cartkit';
const API_FILL = 1000;

/** Saves `count` one-line carts plus the 10-line cart `target`, 64 writes in flight. */
async function fill(storage, count) {
  let next = 0;
  const writer = async () => {
    for (let i = next++; i < count; i = next++) {
      await storage.saveCart(cartOf(`other-${i}`, 1), { expectedVersion: 0 });
    }
  };
  await Promise.all(Array.from({ length: 64 }, writer));
  await storage.saveCart(cartOf('target', 10), { expectedVersion: 0 });
  return storage;
}

/**
 * Opens the file with @keyv/sqlite (storage-sqlite's own driver) and copies the
 * `API_FILL` carts written through the API until `total` other carts exist.
 */
async function multiply(path, total) {
  const fromStorage = createRequire(fileURLToPath(import.meta.resolve('@cartkit/storage-sqlite')));
  const driver = await import(fromStorage.resolve('@keyv/sqlite'));
  const KeyvSqlite = driver.KeyvSqlite ?? driver.default?.KeyvSqlite ?? driver.default;
  const db = new KeyvSqlite({ uri: `sqlite://${path}`, table: TABLE });
  const copies = Math.ceil(total / API_FILL) - 1;
  await db.query(
    `WITH RECURSIVE copy(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM copy WHERE n < ${copies})
     INSERT INTO ${TABLE} (key, value)
     SELECT replace(key, ':cart:other-', ':cart:other-' || n || '-'),
            replace(value, '"id":"other-', '"id":"other-' || n || '-')
     FROM ${TABLE}, copy WHERE key LIKE '%:cart:other-%'`,
  );
  const [row] = await db.query(`SELECT count(*) AS n FROM ${TABLE} WHERE key LIKE '%:cart:%'`);
  await db.disconnect?.();
  return Number(row.n);
}

const dir = mkdtempSync(join(tmpdir(), 'cartkit-bench-read-'));
try {
  const few = Number(values.few);
  const many = Number(values.many);
  const fillStarted = performance.now();
  const manyPath = join(dir, 'many.db');
  await (
    await fill(await createSqliteCartStorage({ path: manyPath }), Math.min(many, API_FILL))
  ).close();
  const stored = many > API_FILL ? (await multiply(manyPath, many)) - 1 : many;
  const stores = {
    few: await fill(await createSqliteCartStorage({ path: join(dir, 'few.db') }), few),
    many: await createSqliteCartStorage({ path: manyPath }),
  };
  // The other writer of each file (see the top of this file).
  const writers = {
    few: await createSqliteCartStorage({ path: join(dir, 'few.db') }),
    many: await createSqliteCartStorage({ path: manyPath }),
  };
  const sample = `other-${Math.ceil(many / API_FILL) - 1}-${API_FILL - 1}`;
  if (many > API_FILL && (await stores.many.getCart(sample))?.id !== sample) {
    throw new Error(`the copied carts do not read back (${sample}); the storage layout changed?`);
  }
  const fillMs = performance.now() - fillStarted;
  const bench = new Bench({ time: Number(values.time), warmupTime: 300 });
  // Interleaved tasks, twice each, so drift on a shared machine hits both alike.
  for (const round of [1, 2]) {
    for (const [name, storage] of Object.entries(stores)) {
      let tick = 0;
      const tickerId = `ticker-${round}`;
      bench.add(
        `${name} ${round}`,
        async () => {
          const cart = await storage.getCart('target');
          if (cart?.lines.length !== 10) throw new Error('wrong cart');
        },
        {
          beforeEach: async () => {
            await writers[name].saveCart(
              { ...cartOf(tickerId, 1), version: tick + 1 },
              { expectedVersion: tick },
            );
            tick++;
          },
        },
      );
    }
  }
  await bench.run();
  const p50 = (name) =>
    Math.min(
      ...bench.tasks
        .filter((t) => t.name.startsWith(`${name} `))
        .map((t) => {
          if (t.result.state !== 'completed') throw new Error(`${t.name}: ${t.result.error}`);
          return t.result.latency.p50;
        }),
    );
  const result = { few, many: stored, fillMs, fewP50Ms: p50('few'), manyP50Ms: p50('many') };
  for (const storage of [...Object.values(stores), ...Object.values(writers)]) {
    await storage.close();
  }
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
