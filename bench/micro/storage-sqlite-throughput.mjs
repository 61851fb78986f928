// Add-item throughput through CartService on @cartkit/storage-sqlite versus core's
// MemoryCartStorage, in one run. Measures storage: no reservations (reserveOnAdd:
// false) and a scheduler that runs nothing.
//
//   pnpm build && node bench/storage-sqlite-throughput.mjs [--time <ms per task>]
//
// Each scenario is a tinybench task; a task call performs `ops` adds, so
// ops/s = ops * 1000 / mean call latency (ms).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CartService, MemoryCartStorage } from '@cartkit/core';
import { createSqliteCartStorage } from '@cartkit/storage-sqlite';
import { inertScheduler } from '@cartkit/testing';
import { Bench } from 'tinybench';

const { values } = parseArgs({ options: { time: { type: 'string', default: '2000' } } });
const time = Number(values.time);

const IN_FLIGHT = 100;

/** The scenarios: name, adds per call, and the call itself. */
function scenarios(service) {
  let n = 0;
  const add = (cartId) => service.addItem(cartId, { name: 'Product1' });
  return [
    {
      name: 'sequential, one add at a time (100 carts in turn)',
      ops: 1,
      fn: () => add(`seq-${n++ % 100}`),
    },
    {
      name: `concurrent, ${IN_FLIGHT} in flight over ${IN_FLIGHT} carts`,
      ops: IN_FLIGHT,
      fn: () => Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) => add(`many-${i}`))),
    },
    {
      name: `concurrent, ${IN_FLIGHT} in flight on one cart`,
      ops: IN_FLIGHT,
      fn: () => Promise.all(Array.from({ length: IN_FLIGHT }, () => add('hot'))),
    },
  ];
}

async function measure(label, storage) {
  const service = new CartService({
    storage,
    scheduler: inertScheduler,
    reserveOnAdd: false,
    limits: { maxQuantity: Number.MAX_SAFE_INTEGER },
  });
  const list = scenarios(service);
  const bench = new Bench({ name: label, time, warmupTime: 300, iterations: 5 });
  for (const s of list) bench.add(s.name, s.fn);
  await bench.run();
  const results = new Map();
  for (const [i, task] of bench.tasks.entries()) {
    const s = list[i];
    if (task.result.state !== 'completed') {
      throw new Error(`${label} / ${s.name}: ${task.result.state} ${task.result.error ?? ''}`);
    }
    results.set(s.name, (s.ops * 1000) / task.result.period);
  }
  await storage.close();
  return results;
}

const dir = mkdtempSync(join(tmpdir(), 'cartkit-bench-'));
try {
  const memory = await measure('memory', new MemoryCartStorage());
  const normal = await measure(
    'sqlite NORMAL',
    await createSqliteCartStorage({ path: join(dir, 'normal.db') }),
  );
  const full = await measure(
    'sqlite FULL',
    await createSqliteCartStorage({ path: join(dir, 'full.db'), synchronous: 'FULL' }),
  );
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  const rows = [...memory.keys()].map((name) => ({
    scenario: name,
    'memory ops/s': fmt(memory.get(name)),
    'sqlite NORMAL ops/s': fmt(normal.get(name)),
    'NORMAL/memory': (normal.get(name) / memory.get(name)).toFixed(3),
    'sqlite FULL ops/s': fmt(full.get(name)),
    'FULL/memory': (full.get(name) / memory.get(name)).toFixed(3),
  }));
  console.log(`Node ${process.version}, ${time} ms per task, WAL journal, one file per run`);
  console.table(rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
