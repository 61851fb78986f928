// Does a large store slow down reading one cart? Reads one cart from a SQLite file
// holding 10 carts (the baseline) and from one holding 10,000 carts, in one run,
// and prints the ratio. A keyed store should stay near 1.0.
//
//   pnpm build && node bench/many-carts-read.mjs [--time <ms per task>] [--carts <n>]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MemoryCartStorage } from '@cartkit/core';
import { createSqliteCartStorage } from '@cartkit/storage-sqlite';
import { Bench } from 'tinybench';

const { values } = parseArgs({
  options: {
    time: { type: 'string', default: '1500' },
    carts: { type: 'string', default: '10000' },
  },
});
const many = Number(values.carts);
const dir = mkdtempSync(join(tmpdir(), 'cartkit-bench-read-'));
const at = new Date(0).toISOString();

async function fill(storage, count) {
  for (let i = 0; i < count; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, (_, j) => {
        const id = `cart-${i + j}`;
        const lines = [
          { name: 'Product1', quantity: 1, reservation: null, addedAt: at, updatedAt: at },
        ];
        return storage.saveCart(
          { id, version: 1, lines, createdAt: at, updatedAt: at },
          { expectedVersion: 0 },
        );
      }),
    );
  }
  return storage;
}

try {
  const stores = {
    'memory, 10 carts': await fill(new MemoryCartStorage(), 10),
    [`memory, ${many} carts`]: await fill(new MemoryCartStorage(), many),
    'sqlite, 10 carts': await fill(
      await createSqliteCartStorage({ path: join(dir, 'few.db') }),
      10,
    ),
    [`sqlite, ${many} carts`]: await fill(
      await createSqliteCartStorage({ path: join(dir, 'many.db') }),
      many,
    ),
  };
  const bench = new Bench({ time: Number(values.time), warmupTime: 200 });
  for (const [name, storage] of Object.entries(stores))
    bench.add(name, () => storage.getCart('cart-5'));
  await bench.run();
  const hz = Object.fromEntries(
    bench.tasks.map((t) => [t.name, t.result?.throughput?.mean ?? t.result?.hz ?? 0]),
  );
  console.table(bench.tasks.map((t) => ({ task: t.name, 'reads/s': Math.round(hz[t.name]) })));
  for (const kind of ['memory', 'sqlite']) {
    const ratio = hz[`${kind}, ${many} carts`] / hz[`${kind}, 10 carts`];
    console.log(
      `${kind}: read throughput with ${many} carts / with 10 carts = ${ratio.toFixed(2)}`,
    );
  }
  for (const storage of Object.values(stores)) await storage.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
