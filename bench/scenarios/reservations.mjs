// How close does background reservation get to the ideal? Adds `--lines` lines
// (10 per cart) on SQLite storage with reservation on add, against the fake
// reservation service in another process (`--url`, answering after a fixed latency),
// with the timer scheduler at `--concurrency`; times from the first add until every
// reservation succeeded. Ideal: lines × latency / concurrency.
//
//   node bench/scenarios/reservations.mjs --url <fake service url> --lines 1000 --concurrency 16
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createCart } from '@cartkit/core';
import { createHttpReserver } from '@cartkit/reserver-http';
import { createTimerScheduler } from '@cartkit/scheduler-timer';
import { createSqliteCartStorage } from '@cartkit/storage-sqlite';
import { inertScheduler } from '@cartkit/testing';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    lines: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '16' },
    'add-concurrency': { type: 'string', default: '16' },
  },
});
if (values.url === undefined) throw new Error('--url is required');
const lines = Number(values.lines);
const concurrency = Number(values.concurrency);
const PER_CART = 10;

const dir = mkdtempSync(join(tmpdir(), 'cartkit-bench-reserve-'));
const path = join(dir, 'cart.db');
try {
  // 1. The requests: lines added with reservation on add; the tasks are committed to
  //    the outbox and nothing delivers them yet.
  const filling = await createCart({
    storage: await createSqliteCartStorage({ path }),
    scheduler: inertScheduler,
  });
  const addsStarted = performance.now();
  let next = 0;
  const adder = async () => {
    for (let i = next++; i < lines; i = next++) {
      await filling.service.addItem(`cart-${Math.floor(i / PER_CART)}`, {
        name: `P${i % PER_CART}`,
      });
    }
  };
  await Promise.all(Array.from({ length: Number(values['add-concurrency']) }, adder));
  const addsMs = performance.now() - addsStarted;
  await filling.close();

  // 2. The work: a scheduler starting on the file delivers every task in the outbox.
  let scheduler;
  let succeeded = 0;
  let failed = 0;
  let allDone;
  const done = new Promise((resolve) => {
    allDone = resolve;
  });
  const started = performance.now();
  const cart = await createCart({
    storage: await createSqliteCartStorage({ path }),
    reserver: createHttpReserver({ url: values.url }),
    scheduler: (deps) => {
      scheduler = createTimerScheduler({ ...deps, concurrency });
      scheduler.on('success', () => {
        if (++succeeded === lines) allDone();
      });
      scheduler.on('failure', () => {
        failed++;
        allDone();
      });
      return scheduler;
    },
  });
  await done;
  const totalMs = performance.now() - started;
  await cart.close();
  if (failed > 0) throw new Error(`${failed} reservations failed`);
  console.log(`RESULT ${JSON.stringify({ lines, concurrency, addsMs, totalMs, succeeded })}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
