// Where the slow POST /reserve requests wait. Runs the `reserve` scenario's load
// (wrk -t1 -c8, 50 carts x 10 lines, reservation service taking 500 ms) against the
// example server on SQLite with bench/servers/latency-probe.mjs preloaded, interleaved
// with bare express answering the same requests from an array, then prints:
//   - wrk's figures for both, round by round;
//   - the server's own view: request times, CPU per request by thread, GC pauses,
//     event-loop delay, sqlite3 statements (call to callback), log writes;
//   - for the slowest requests (>= the server-side p99) against the fast ones
//     (< p50): which share overlapped a GC pause, a timer stall, a statement on the
//     writer connection, a log write.
//
//   pnpm -r run build
//   node bench/micro/reserve-tail.mjs [--rounds 3] [--seconds 2] [--no-express]
//     [--node-args="--max-semi-space-size=32"] [--latency 500] [--json out.json]
//     [--server examples/server/dist/main.js]   (e.g. a copy of an earlier build, to compare)
//
// The probe costs the server some CPU: compare runs of this script with each other,
// not with the `reserve` row of `bench/run.mjs`.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fill } from '../lib/carts.mjs';
import { startServer } from '../lib/procs.mjs';
import { median, wrk } from '../lib/wrk.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '2' },
    latency: { type: 'string', default: '500' },
    'no-express': { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' },
    json: { type: 'string' },
    server: { type: 'string', default: join(root, 'examples/server/dist/main.js') },
  },
});
const CARTS = 50;
const request = {
  method: 'POST',
  path: '/reserve',
  names: 10,
  cartPrefix: 'reserve-',
  carts: CARTS,
};
const work = mkdtempSync(join(tmpdir(), 'reserve-tail-'));
const logDir = join(work, 'logs');
mkdirSync(logDir);
const probeOut = join(work, 'probe.json');
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const loadBefore = load();

const fake = await startServer({
  name: 'fake-reservations',
  command: process.execPath,
  args: [join(root, 'bench/servers/fake-reservations.mjs')],
  env: { LATENCY_MS: opts.latency },
  logDir,
  readyPath: '/reservations/none',
  readyStatus: 404,
});
const cartkit = await startServer({
  name: 'cartkit',
  command: process.execPath,
  args: [
    // One line per GC on stderr (the server's log file): what each scavenge promoted.
    '--trace-gc-nvp',
    ...opts['node-args'].split(' ').filter(Boolean),
    '--import',
    join(root, 'bench/servers/latency-probe.mjs'),
    opts.server,
  ],
  env: {
    LOG_LEVEL: 'info',
    RATE_LIMIT_PER_MINUTE: '0',
    CART_IDENTITY: 'header',
    DATABASE_URL: join(work, 'cartkit.db'),
    RESERVATION_URL: `${fake.origin}/reservations`,
    LATENCY_PROBE_OUT: probeOut,
    LATENCY_PROBE_SQLITE_FROM: join(
      root,
      'packages/storage-sqlite/node_modules/@keyv/sqlite/package.json',
    ),
  },
  readyHeaders: { 'x-cart-id': 'ready' },
  logDir,
});
const express = opts['no-express']
  ? undefined
  : await startServer({
      name: 'express',
      command: process.execPath,
      args: [join(root, 'bench/servers/express-bare.mjs')],
      logDir,
    });

/** CPU time (ms) of each thread of `pid`, the main thread as `main`. */
function threadCpu(pid) {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) * 10;
      const name =
        tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      out[`${name}:${tid}`] = ms;
    } catch {
      // the thread ended
    }
  }
  return out;
}

let probe;
const windows = [];
const results = { cartkit: [], express: [] };
let cpuBefore;
let cpuAfter;
try {
  for (let c = 0; c < CARTS; c += 10) {
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => fill(cartkit.origin, `reserve-${c + i}`, 10)),
    );
  }
  if (express !== undefined) await fill(express.origin, 'reserve-0', 10);
  await wrk({ origin: cartkit.origin, connections: 8, seconds: 1, request });
  if (express !== undefined)
    await wrk({ origin: express.origin, connections: 8, seconds: 1, request });
  process.kill(cartkit.pid, 'SIGUSR2'); // start afresh after the warm-up
  await sleep(200);
  cpuBefore = threadCpu(cartkit.pid);
  for (let r = 0; r < Number(opts.rounds); r++) {
    const from = Date.now();
    results.cartkit.push(
      await wrk({ origin: cartkit.origin, connections: 8, seconds: Number(opts.seconds), request }),
    );
    windows.push([from, Date.now()]);
    if (express !== undefined) {
      results.express.push(
        await wrk({
          origin: express.origin,
          connections: 8,
          seconds: Number(opts.seconds),
          request,
        }),
      );
    }
  }
  cpuAfter = threadCpu(cartkit.pid);
  process.kill(cartkit.pid, 'SIGUSR2');
  for (let i = 0; i < 50 && probe === undefined; i++) {
    await sleep(100);
    try {
      probe = JSON.parse(readFileSync(probeOut, 'utf8'));
      if (probe.requests.length === 0) probe = undefined;
    } catch {
      // not written yet
    }
  }
} finally {
  await cartkit.stop();
  await express?.stop();
  await fake.stop();
}
if (probe === undefined) throw new Error(`no probe output; see ${logDir}`);

// ------------------------------------------------------------------ report
const within = (at) => windows.some(([a, b]) => at >= a && at <= b);
const wall = windows.reduce((sum, [a, b]) => sum + (b - a), 0);
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const pct = (xs, p) => {
  const s = sorted(xs);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x) => (Number.isNaN(x) ? '—' : x.toFixed(2));
const dist = (xs) =>
  xs.length === 0
    ? 'none'
    : `n ${xs.length}, p50 ${ms(pct(xs, 50))}, p90 ${ms(pct(xs, 90))}, p99 ${ms(pct(xs, 99))}, max ${ms(Math.max(...xs))} ms`;
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const overlaps = (s, e, spans) => spans.some(([a, b]) => a < e && b > s);

console.log(`load average before ${loadBefore}, after ${load()}`);
console.log('\nwrk -t1 -c8 POST /reserve, rounds interleaved:');
const wrkLine = (name, r) =>
  `  ${name.padEnd(8)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${ms(r.p50).padStart(6)}  p90 ${ms(r.p90).padStart(6)}  p99 ${ms(r.p99).padStart(7)}  max ${ms(r.max).padStart(7)} ms`;
for (let r = 0; r < results.cartkit.length; r++) {
  console.log(wrkLine('cartkit', results.cartkit[r]));
  if (results.express[r] !== undefined) console.log(wrkLine('express', results.express[r]));
}
for (const [name, runs] of Object.entries(results)) {
  if (runs.length === 0) continue;
  console.log(
    `  median ${name}: ${median(runs.map((r) => r.rps)).toFixed(0)} req/s, p50 ${ms(median(runs.map((r) => r.p50)))} ms, p99 ${ms(median(runs.map((r) => r.p99)))} ms`,
  );
}

const reqs = probe.requests.filter(([s, , url]) => within(s) && url.startsWith('/reserve'));
const durations = reqs.map(([s, e]) => e - s);
const served = (reqs.length / wall) * 1000;
console.log('\ncartkit, as the server saw it (request event to response finish):');
console.log(`  /reserve: ${dist(durations)}`);
console.log(
  `  ${served.toFixed(0)} req/s; with 8 connections a closed loop's mean latency is 8 / that = ${((8 / served) * 1000).toFixed(2)} ms`,
);
const cpu = Object.keys(cpuAfter).map((k) => [k, cpuAfter[k] - (cpuBefore[k] ?? 0)]);
const perReq = (msTotal) => `${((msTotal / reqs.length) * 1000).toFixed(0)} µs`;
console.log(
  `  CPU per request: main thread ${perReq(cpu.find(([k]) => k.startsWith('main'))[1])}, other threads ${perReq(sum(cpu.filter(([k]) => !k.startsWith('main')).map(([, v]) => v)))} (incl. background work and the express rounds' idle time)`,
);
const gcs = probe.gc.filter(([s]) => within(s));
const kinds = {
  1: 'scavenge',
  2: 'minor mark-compact',
  4: 'mark-compact',
  8: 'incremental marking',
  16: 'weak callbacks',
};
for (const kind of [...new Set(gcs.map(([, , k]) => k))].sort()) {
  const d = gcs.filter(([, , k]) => k === kind).map(([, x]) => x);
  console.log(
    `  GC ${kinds[kind] ?? kind}: ${d.length} pauses (${((d.length / reqs.length) * 1000).toFixed(1)} per 1,000 requests), ${sum(d).toFixed(0)} ms = ${((100 * sum(d)) / wall).toFixed(1)} % of the time; ${dist(d)}`,
  );
}
// Scavenges between the probe's two window marks, from --trace-gc-nvp.
const serverLog = readFileSync(join(logDir, 'cartkit.log'), 'utf8').split('latency-probe: window');
const scavenges = (serverLog[1] ?? '').split('\n').filter((line) => line.includes('gc=s '));
const nvp = (line, key) => Number(new RegExp(`\\b${key}=([0-9.]+)`).exec(line)?.[1] ?? 0);
const allocated = sum(scavenges.map((line) => nvp(line, 'allocated')));
const promoted = sum(scavenges.map((line) => nvp(line, 'promoted')));
if (scavenges.length > 0) {
  console.log(
    `  scavenges promoted ${((100 * promoted) / allocated).toFixed(0)} % of what was allocated between them (${(promoted / 2 ** 20).toFixed(1)} of ${(allocated / 2 ** 20).toFixed(1)} MB; ${(allocated / reqs.length / 1024).toFixed(0)} kB allocated per request, incl. the express rounds' idle time)`,
  );
}
const L = probe.loopDelay;
console.log(
  `  event-loop delay: p50 ${ms(L.p50)}, p90 ${ms(L.p90)}, p99 ${ms(L.p99)}, p99.9 ${ms(L['p99.9'])}, max ${ms(L.max)} ms`,
);
const stalls = probe.stalls.filter(([s]) => within(s));
console.log(
  `  1 ms timer late by > 3 ms: ${dist(stalls.map(([, g]) => g))}; ${sum(stalls.map(([, g]) => g)).toFixed(0)} ms in all`,
);
const sql = probe.sql.filter(([c]) => within(c));
const groups = new Map();
for (const row of sql) {
  const key = `${row[2] === 0 ? 'writer' : 'reader'} ${row[3]}`;
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(row);
}
for (const [key, rows] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
  console.log(`  sqlite3 ${key.padEnd(28)} call to callback: ${dist(rows.map(([c, b]) => b - c))}`);
  console.log(`  ${''.padEnd(36)} main thread in the call: ${dist(rows.map((r) => r[4]))}`);
}
const writes = probe.writes.filter(([c]) => within(c));
console.log(
  `  log writes (fs.write): ${dist(writes.map(([c, b]) => b - c))}, ${(writes.length / reqs.length).toFixed(2)} per request`,
);

const threshold = pct(durations, 99);
const slow = reqs.filter(([s, e]) => e - s >= threshold);
const fast = reqs.filter(([s, e]) => e - s < pct(durations, 50));
const writer = sql.filter((r) => r[2] === 0).map(([c, b]) => [c, b]);
const spansOf = (list) => list.map(([s, d]) => [s, s + d]);
const checks = [
  ['a GC pause', spansOf(gcs)],
  ['a scavenge', spansOf(gcs.filter(([, , k]) => k === 1))],
  ['a mark-compact', spansOf(gcs.filter(([, , k]) => k === 4))],
  ['a timer stall >= 5 ms', spansOf(stalls.filter(([, g]) => g >= 5))],
  ['a writer statement', writer],
  ['a log write', writes.map(([c, b]) => [c, b])],
];
console.log(
  `\nslow requests (>= ${ms(threshold)} ms, n ${slow.length}) against fast ones (< p50, n ${fast.length}): share that overlapped`,
);
for (const [name, spans] of checks) {
  const share = (set) =>
    `${((100 * set.filter(([s, e]) => overlaps(s, e, spans)).length) / Math.max(1, set.length)).toFixed(0)} %`;
  console.log(
    `  ${name.padEnd(24)} slow ${share(slow).padStart(5)}   fast ${share(fast).padStart(5)}`,
  );
}
if (opts.json !== undefined)
  writeFileSync(opts.json, JSON.stringify({ windows, results, probe, cpuBefore, cpuAfter }));
rmSync(work, { recursive: true, force: true });
