// cartkit benchmarks: every figure against a baseline measured in the same run.
//
//   pnpm bench              JavaScript build (`pnpm build:js`, no .d.ts) and full run (< 5 min
//                           in all): prints one table, writes
//                           bench/results/latest.json and regenerates docs/performance.md
//   pnpm bench:smoke        a few seconds of each scenario (CI): fails on errors, never on timings
//   node bench/run.mjs --only get,post-hot --no-docs      a subset, docs untouched
//
// HTTP load comes from Debian's `wrk` in its own process; every server under test
// runs in its own process too (see bench/servers/ and bench/lib/).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fill, settle } from './lib/carts.mjs';
import { runNodeScript, startServer } from './lib/procs.mjs';
import { renderMarkdownTable, renderText, updatePerformanceDoc } from './lib/report.mjs';
import { median, wrk } from './lib/wrk.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const here = fileURLToPath(new URL('.', import.meta.url));
const { values: opts } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-docs': { type: 'boolean', default: false },
    'no-flask': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const smoke = opts.smoke;

/** Durations and sizes: the full run and the smoke run. */
const plan = smoke
  ? {
      connections: 32,
      warmupSeconds: 0,
      seconds: 1,
      repeats: 1,
      reserveConnections: 8,
      reserveCarts: 10,
      bigCartLines: 50,
      soakSeconds: 2,
      reservations: { lines: 100, concurrency: 16, latencyMs: 20 },
      manyCarts: { few: 100, many: 2000, time: 200 },
      flask: false,
    }
  : {
      connections: 32,
      warmupSeconds: 1,
      seconds: 2,
      repeats: 3,
      reserveConnections: 8,
      reserveCarts: 50,
      bigCartLines: 500,
      soakSeconds: 60,
      reservations: { lines: 1000, concurrency: 16, latencyMs: 100 },
      manyCarts: { few: 100, many: 100_000, time: 500 },
      flask: !opts['no-flask'],
    };
const flask = plan.flask ? findFlask() : { missing: 'not run in this mode' };
const flaskDir = flask.dir;
if (plan.flask && flaskDir === undefined)
  process.stderr.write(`Flask seed skipped: ${flask.missing}\n`);
const only = opts.only?.split(',');
const wanted = (id) => only === undefined || only.includes(id);

if (!existsSync(join(root, 'examples/server/dist/main.js'))) {
  console.error('The example server is not built: run `pnpm build` first (`pnpm bench` does).');
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'cartkit-bench-'));
const logDir = join(work, 'logs');
mkdirSync(logDir);
const rows = [];
const errors = [];
const memory = [];
const started = Date.now();
const facts = machineFacts();

// ---------------------------------------------------------------- servers

let serial = 0;
/** Starts one server under test in its own process. */
async function server(kind, env = {}) {
  const name = `${kind}-${++serial}`;
  const cartkit = (storage) => ({
    command: process.execPath,
    args: [join(root, 'examples/server/dist/main.js')],
    env: {
      // The example server as shipped, except: no write rate limit (600/min would
      // answer 429s) and per-request carts (X-Cart-Id) so runs can use fresh carts.
      LOG_LEVEL: 'info',
      RATE_LIMIT_PER_MINUTE: '0',
      CART_IDENTITY: 'header',
      DATABASE_URL: storage === 'memory' ? 'memory:' : join(work, `${name}.db`),
      ...env,
    },
    readyHeaders: { 'x-cart-id': 'ready' },
  });
  const spec = {
    'node-http': { command: process.execPath, args: [join(here, 'servers/node-http.mjs')], env },
    express: { command: process.execPath, args: [join(here, 'servers/express-bare.mjs')], env },
    'express-in-place': {
      command: process.execPath,
      args: [join(here, 'servers/express-bare.mjs')],
      env: { ...env, PROTOTYPES_IN_PLACE: '1' },
    },
    'cartkit-memory': cartkit('memory'),
    'cartkit-sqlite': cartkit('sqlite'),
    // PostgreSQL + BullMQ: DATABASE_URL and REDIS_URL come in `env`.
    'cartkit-postgres': cartkit('postgres'),
    flask: {
      command: flask.python,
      args: ['main.py'],
      cwd: flaskDir,
      env: { DATABASE_URL: `sqlite:///${join(work, `${name}.db`)}`, ...env },
    },
  }[kind];
  const started = await startServer({ name, logDir, ...spec });
  // For the memory record: the scenario that started it (the smoke run reuses servers).
  started.scenario = currentScenario;
  return started;
}

/** The title of the scenario running now. */
let currentScenario;

/**
 * The seed's Flask service (`FLASK_SEED_DIR`, else `shared/peers/flask-seed` beside
 * the checkout), if it is there and Flask is installed; otherwise its rows are skipped.
 */
function findFlask() {
  const candidates = [
    process.env.FLASK_SEED_DIR,
    join(root, '../shared/peers/flask-seed'),
    join(root, '../../shared/peers/flask-seed'),
  ].filter((dir) => dir !== undefined);
  const dir = candidates.find((d) => existsSync(join(d, 'main.py')));
  if (dir === undefined)
    return { missing: `not found (set FLASK_SEED_DIR); tried ${candidates.join(', ')}` };
  // Debian's python3 (where apt installs Flask) may be shadowed on PATH (pyenv).
  const python = [process.env.PYTHON, '/usr/bin/python3', 'python3']
    .filter((p) => p !== undefined)
    .find((p) => spawnSync(p, ['-c', 'import flask, flask_sqlalchemy, requests']).status === 0);
  if (python === undefined) {
    return {
      missing: 'python3-flask, python3-flask-sqlalchemy or python3-requests is not installed',
    };
  }
  return { dir, python };
}

const LABEL = {
  'node-http': 'bare node:http',
  express: 'bare express 5',
  'express-in-place': 'bare express 5, prototypes in place',
  'cartkit-memory': 'cartkit, in-memory storage',
  'cartkit-sqlite': 'cartkit, SQLite',
  'cartkit-postgres': 'cartkit, PostgreSQL + BullMQ',
  flask: 'Flask seed',
};

/** Servers kept for reuse (smoke run only), by kind and environment. */
const reused = new Map();

/**
 * A server of `kind` for one scenario: fresh in the full run; in the smoke run one
 * per kind and environment, reused across scenarios (they use different carts).
 */
async function acquire(kind, env) {
  const key = `${kind} ${JSON.stringify(env)}`;
  if (smoke && reused.has(key)) return reused.get(key);
  const s = await server(kind, env);
  if (smoke) reused.set(key, s);
  return s;
}

/** Stops a server from {@link acquire} (unless reused), recording its memory. */
async function release(kind, s) {
  if (!smoke) await stopServer(kind, s);
}

async function stopServer(kind, s) {
  const mem = s.memory();
  if (mem !== undefined) {
    // Which scenario the server served, and (where the scenario prepares its servers) its
    // peak once prepared: a peak reached while filling a cart is not one under the load.
    const { scenario, peakRssPrepared } = s;
    memory.push({
      server: s.name,
      kind,
      ...mem,
      ...(scenario !== undefined && { scenario }),
      ...(peakRssPrepared !== undefined && { peakRssPrepared }),
    });
  }
  await s.stop();
}

/** Runs `fn(server)` against a server of `kind`, then releases it. */
async function withServer(kind, env, fn) {
  const s = await acquire(kind, env);
  try {
    return await fn(s);
  } finally {
    await release(kind, s);
  }
}

/**
 * The environment of servers whose scenario waits for reservations to settle: an
 * instant demo reservation service. The smoke run uses it everywhere (fewer servers).
 */
const FAST_SERVICE = { DEMO_RESERVATION_LATENCY_MS: '0' };
const AS_SHIPPED = smoke ? FAST_SERVICE : {};

/**
 * Measures each server of `kinds` under the same load and records one row each
 * (median of the repeats, ratio to its baseline).
 *
 * - `interleave: true` (read scenarios): every server is started and prepared first,
 *   then each round runs every server once in turn, so drift in the machine's load
 *   falls on all of them alike.
 * - `interleave: false` (write scenarios): one server at a time, stopped before the
 *   next starts, so the reservation work its writes left behind cannot slow the next.
 *
 * `request(run)` gives wrk's request settings for a run (`warmup`, `r1`, ...).
 */
async function compare(group, kinds, env, { prepare, request, interleave, baselineGroup }) {
  const one = (s, seconds, run) =>
    wrk({ origin: s.origin, connections: plan.connections, seconds, request: request(run) });
  const measured = new Map(kinds.map((kind) => [kind, { warmupErrors: 0, runs: [] }]));
  const measureRound = async (kind, s, run) => {
    const m = measured.get(kind);
    if (run === 'warmup') m.warmupErrors = (await one(s, plan.warmupSeconds, run)).errors;
    else m.runs.push(await one(s, plan.seconds, run));
  };
  const prepared = async (s, kind) => {
    await prepare?.(s, kind);
    s.peakRssPrepared = s.memory()?.peakRss;
  };
  const rounds = [
    ...(plan.warmupSeconds > 0 ? ['warmup'] : []),
    ...Array.from({ length: plan.repeats }, (_, i) => `r${i + 1}`),
  ];
  if (interleave) {
    const running = [];
    try {
      for (const kind of kinds) {
        const s = await acquire(kind, env);
        running.push([kind, s]);
        await prepared(s, kind);
      }
      for (const run of rounds) for (const [kind, s] of running) await measureRound(kind, s, run);
    } finally {
      for (const [kind, s] of running) await release(kind, s);
    }
  } else {
    for (const kind of kinds) {
      await withServer(kind, env, async (s) => {
        await prepared(s, kind);
        for (const run of rounds) await measureRound(kind, s, run);
      });
    }
  }
  for (const [kind, { warmupErrors, runs }] of measured) {
    record(
      group,
      kind,
      {
        rps: median(runs.map((r) => r.rps)),
        p99: median(runs.map((r) => r.p99)),
        errors: runs.reduce((sum, r) => sum + r.errors, warmupErrors),
        runs,
      },
      baselineOf(kind),
      baselineGroup,
    );
  }
}

/** Records a throughput figure; HTTP errors fail the run (smoke and full alike). */
function record(group, kind, result, baseline, baselineGroup = group) {
  if (result.errors > 0) {
    errors.push(`${group} / ${LABEL[kind]}: ${result.errors} errors`);
  }
  rows.push({
    group,
    subject: LABEL[kind],
    kind,
    value: result.rps,
    unit: 'req/s',
    p99Ms: result.p99,
    runs: result.runs.map((r) => Math.round(r.rps)),
    ...(baseline === undefined ? {} : { baseline, baselineGroup }),
  });
}

/** The servers a scenario runs: all of `list`, or in the smoke run only `smokeList`. */
const kindsFor = (list, smokeList = list) =>
  (smoke ? smokeList : list).filter((kind) => kind !== 'flask' || flaskDir !== undefined);

/** Fills a cart and, on cartkit, waits until its reservations settled. */
const filled = (cartId, lines) => async (s, kind) => {
  await fill(s.origin, cartId, lines);
  if (kind.startsWith('cartkit')) await settle(s.origin, cartId);
};

// ---------------------------------------------------------------- scenarios

const scenarios = [];
const scenario = (id, title, run) => scenarios.push({ id, title, run });

scenario('get', 'GET /items, 10-line cart', (group) =>
  // A fast reservation service here: the cart settles before it is read.
  compare(
    group,
    kindsFor(
      ['node-http', 'express', 'express-in-place', 'cartkit-memory', 'cartkit-sqlite', 'flask'],
      ['node-http', 'express', 'cartkit-sqlite'],
    ),
    FAST_SERVICE,
    {
      interleave: true,
      prepare: filled('get-0', 10),
      request: () => ({ method: 'GET', cartPrefix: 'get-' }),
    },
  ),
);

scenario('post-hot', 'POST /items, one hot line', (group) =>
  compare(
    group,
    kindsFor(
      ['node-http', 'express', 'cartkit-memory', 'cartkit-sqlite', 'flask'],
      ['cartkit-sqlite'],
    ),
    AS_SHIPPED,
    {
      // One line takes every add; the cart changes every 5,000 adds (quantity limit 10,000).
      request: (run) => ({ method: 'POST', cartPrefix: `hot-${run}-`, rotate: 5000 }),
    },
  ),
);

scenario('post-names', 'POST /items, 50 names in one cart', (group) =>
  compare(
    group,
    kindsFor(['express', 'cartkit-memory', 'cartkit-sqlite'], ['cartkit-memory']),
    AS_SHIPPED,
    { request: (run) => ({ method: 'POST', names: 50, cartPrefix: `names-${run}-` }) },
  ),
);

scenario('post-carts', 'POST /items, 1,000 carts', (group) =>
  // The baselines keep one array whatever the cart: their figure is the hot-line one.
  compare(group, kindsFor(['cartkit-memory', 'cartkit-sqlite'], ['cartkit-sqlite']), AS_SHIPPED, {
    baselineGroup: 'POST /items, one hot line',
    request: (run) => ({ method: 'POST', cartPrefix: `carts-${run}-`, carts: 1000 }),
  }),
);

scenario('big-cart', `GET /items, ${plan.bigCartLines}-line cart`, async (group) => {
  await compare(group, kindsFor(['express', 'cartkit-sqlite'], ['cartkit-sqlite']), FAST_SERVICE, {
    interleave: true,
    prepare: filled('big-0', plan.bigCartLines),
    request: () => ({ method: 'GET', cartPrefix: 'big-' }),
  });
  const row = rows.find((r) => r.group === group && r.kind === 'cartkit-sqlite');
  if (row !== undefined) row.target = { min: 1000, unit: 'req/s', text: '>= 1,000 req/s' };
});

scenario('reserve', 'POST /reserve while the service takes 500 ms', async (group) => {
  const fake = await startServer({
    name: `fake-reservations-${++serial}`,
    command: process.execPath,
    args: [join(here, 'servers/fake-reservations.mjs')],
    env: { LATENCY_MS: '500' },
    logDir,
    readyPath: '/reservations/none',
    readyStatus: 404,
  });
  const carts = plan.reserveCarts;
  const request = { method: 'POST', path: '/reserve', names: 10, cartPrefix: 'reserve-', carts };
  // cartkit, and bare express answering the same requests from an array (the
  // framework's own latency at this connection count), rounds interleaved.
  const kinds = ['cartkit-sqlite', 'express'];
  const running = [];
  try {
    for (const kind of kinds) {
      const cartkit = kind === 'cartkit-sqlite';
      const s = await acquire(
        kind,
        cartkit ? { RESERVATION_URL: `${fake.origin}/reservations` } : {},
      );
      running.push([kind, s]);
      if (cartkit) {
        // 50 carts x 10 lines (smoke: 10 carts): 500 reservations of 500 ms each, queued in
        // the background (8 at a time) while the measured requests ask for them again.
        for (let c = 0; c < carts; c += 10) {
          await Promise.all(
            Array.from({ length: 10 }, (_, i) => fill(s.origin, `reserve-${c + i}`, 10)),
          );
        }
      } else {
        await fill(s.origin, 'reserve-0', 10);
      }
      s.scenario = group;
      s.peakRssPrepared = s.memory()?.peakRss;
    }
    const measured = new Map(kinds.map((kind) => [kind, { errors: 0, runs: [] }]));
    const rounds = [
      ...(plan.warmupSeconds > 0 ? [plan.warmupSeconds] : []),
      ...Array.from({ length: plan.repeats }, () => plan.seconds),
    ];
    for (const [i, seconds] of rounds.entries()) {
      for (const [kind, s] of running) {
        const m = measured.get(kind);
        const run = await wrk({
          origin: s.origin,
          connections: plan.reserveConnections,
          seconds,
          request,
        });
        m.errors += run.errors;
        if (i > 0 || plan.warmupSeconds === 0) m.runs.push(run);
      }
    }
    const summary = (kind) => {
      const { errors: count, runs } = measured.get(kind);
      if (count > 0) errors.push(`${group} / ${LABEL[kind]}: ${count} errors`);
      return {
        value: median(runs.map((r) => r.p99)),
        unit: 'ms p99',
        p99Ms: median(runs.map((r) => r.p99)),
        p50Ms: median(runs.map((r) => r.p50)),
        rps: median(runs.map((r) => r.rps)),
        runs: runs.map((r) => Number(r.p99.toFixed(2))),
      };
    };
    const express = summary('express');
    const cartkit = summary('cartkit-sqlite');
    rows.push({
      group,
      subject: `bare express 5 (${plan.reserveConnections} connections)`,
      kind: 'express',
      ...express,
      ratioText: `p50 ${express.p50Ms.toFixed(1)} ms, ${Math.round(express.rps).toLocaleString('en-US')} req/s`,
    });
    rows.push({
      group,
      subject: `cartkit, SQLite (${plan.reserveConnections} connections)`,
      kind: 'cartkit-sqlite',
      ...cartkit,
      ratio: cartkit.value / express.value,
      ratioText: `${(cartkit.value / express.value).toFixed(2)} x express p99; p50 ${cartkit.p50Ms.toFixed(1)} ms, ${Math.round(cartkit.rps).toLocaleString('en-US')} req/s`,
      target: { max: 10, unit: 'ms', text: 'p99 <= 10 ms' },
    });
  } finally {
    for (const [kind, s] of running) await release(kind, s);
    await fake.stop();
  }
});

scenario(
  'reservations',
  `${plan.reservations.lines} reservations, ${plan.reservations.latencyMs} ms service, concurrency ${plan.reservations.concurrency}`,
  async (group) => {
    const { lines, concurrency, latencyMs } = plan.reservations;
    const fake = await startServer({
      name: `fake-reservations-${++serial}`,
      command: process.execPath,
      args: [join(here, 'servers/fake-reservations.mjs')],
      env: { LATENCY_MS: String(latencyMs) },
      logDir,
      readyPath: '/reservations/none',
      readyStatus: 404,
    });
    try {
      const result = await runNodeScript(join(here, 'scenarios/reservations.mjs'), [
        '--url',
        `${fake.origin}/reservations`,
        '--lines',
        String(lines),
        '--concurrency',
        String(concurrency),
      ]);
      const idealMs = (lines * latencyMs) / concurrency;
      rows.push({
        group,
        subject: 'timer scheduler, SQLite',
        kind: 'library',
        value: result.totalMs / 1000,
        unit: 's',
        ideal: idealMs / 1000,
        ratioText: `${(result.totalMs / idealMs).toFixed(2)}x ideal (${(idealMs / 1000).toFixed(2)} s)`,
        ratio: result.totalMs / idealMs,
        target: { maxRatio: 1.25, text: '<= 1.25x ideal' },
        addsMs: result.addsMs,
      });
    } finally {
      await fake.stop();
    }
  },
);

scenario('many-carts', 'One cart read, many other carts stored', async () => {
  const { few, many, time } = plan.manyCarts;
  const result = await runNodeScript(join(here, 'scenarios/many-carts-read.mjs'), [
    '--few',
    String(few),
    '--many',
    String(many),
    '--time',
    String(time),
  ]);
  const group = `One cart read after a commit (SQLite storage, in-process): ${result.many.toLocaleString('en-US')} vs ${few} other carts`;
  rows.push({
    group,
    subject: `${few} other carts`,
    kind: 'library',
    value: result.fewP50Ms * 1000,
    unit: 'µs p50',
  });
  rows.push({
    group,
    subject: `${result.many.toLocaleString('en-US')} other carts`,
    kind: 'library',
    value: result.manyP50Ms * 1000,
    unit: 'µs p50',
    ratio: result.manyP50Ms / result.fewP50Ms,
    ratioText: `${(result.manyP50Ms / result.fewP50Ms).toFixed(2)}x the latency with ${few}`,
    target: { maxRatio: 1.1, text: '<= 1.10x' },
  });
});

scenario(
  'soak',
  `Soak: ${plan.soakSeconds} s of GET + POST /items on 1,000 carts`,
  async (group) => {
    const probe = join(work, 'heap.jsonl');
    await withServer(
      'cartkit-sqlite',
      {
        NODE_OPTIONS: `--expose-gc --import ${join(here, 'servers/heap-probe.mjs')}`,
        HEAP_PROBE_FILE: probe,
      },
      async (s) => {
        const sample = async () => {
          s.child.kill('SIGUSR2');
          await sleep(300);
        };
        const request = { method: 'MIX', names: 10, cartPrefix: 'soak-', carts: 1000 };
        // Warm-up, then the first sample, the soak, the last sample.
        await wrk({
          origin: s.origin,
          connections: plan.connections,
          seconds: smoke ? 1 : 5,
          request,
        });
        await sample();
        const result = await wrk({
          origin: s.origin,
          connections: plan.connections,
          seconds: plan.soakSeconds,
          request,
        });
        await sample();
        if (result.errors > 0) errors.push(`${group}: ${result.errors} errors`);
        const samples = readFileSync(probe, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        if (samples.length < 2) throw new Error('the heap probe wrote no samples');
        const [first, last] = [samples[0], samples.at(-1)];
        rows.push({
          group,
          subject: 'cartkit, SQLite: heap used after GC',
          kind: 'cartkit-sqlite',
          value: last.heapUsed / 2 ** 20,
          unit: 'MB',
          ratio: last.heapUsed / first.heapUsed,
          ratioText: `${(last.heapUsed / first.heapUsed).toFixed(2)}x after warm-up (${(first.heapUsed / 2 ** 20).toFixed(1)} MB)`,
          target: { maxRatio: 1.1, text: '<= 1.10x' },
          rps: result.rps,
        });
      },
    );
  },
);

scenario('scale-out', '1 vs 3 instances on PostgreSQL + BullMQ', async (group) => {
  const services = startServices();
  if (services.missing !== undefined) {
    process.stderr.write(`   scale-out not measured: ${services.missing}\n`);
    rows.push({
      group,
      subject: `not measured: ${services.missing}`,
      kind: 'skipped',
      value: null,
      unit: '',
    });
    return;
  }
  const setups = [];
  try {
    // Each configuration on its own database and Redis database: one's reservation work
    // never runs on the other's queue.
    for (const n of [1, 3]) {
      const db = `cartkit_bench_${n}`;
      services.psql(`CREATE DATABASE ${db} OWNER ${services.pgUser}`);
      const env = {
        ...AS_SHIPPED,
        DATABASE_URL: services.pgUrl(db),
        REDIS_URL: `${services.redisUrl}/${n}`,
      };
      const setup = { n, instances: [] };
      setups.push(setup);
      // One at a time: the first migrates the database, the others find it done.
      for (let i = 0; i < n; i++) setup.instances.push(await server('cartkit-postgres', env));
      await fill(setup.instances[0].origin, 'scale-get-0', 10);
      await settle(setup.instances[0].origin, 'scale-get-0');
    }
    // GET (no background work): rounds interleaved, 1 then 3, so drift in the machine's
    // load falls on both alike.
    const get = {
      what: 'GET',
      text: 'GET /items, 10-line cart',
      request: () => () => ({ method: 'GET', cartPrefix: 'scale-get-' }),
    };
    const getRuns = new Map(setups.map((setup) => [setup, { errors: 0, runs: [] }]));
    for (const run of rounds()) {
      for (const setup of setups) {
        const m = getRuns.get(setup);
        const result = await spread(setup.instances, run, get.request(run));
        m.errors += result.errors;
        if (run !== 'warmup') m.runs.push(result);
      }
    }
    for (const setup of setups) scaleOutRow(group, get, setup.n, getRuns.get(setup));
    // POST: one configuration at a time, stopped before the next runs, so the reservation
    // work one's writes left behind does not slow the other (as the other write rows).
    const post = {
      what: 'POST',
      text: 'POST /items, 1,000 carts',
      // Each wrk process on carts of its own: instances compete for the database, not rows.
      request: (run) => (k, n) => ({
        method: 'POST',
        cartPrefix: `scale-${run}-w${k}-`,
        carts: Math.ceil(1000 / n),
      }),
    };
    for (const setup of setups) {
      const m = { errors: 0, runs: [] };
      for (const run of rounds()) {
        const result = await spread(setup.instances, run, post.request(run));
        m.errors += result.errors;
        if (run !== 'warmup') m.runs.push(result);
      }
      scaleOutRow(group, post, setup.n, m);
      for (const s of setup.instances.splice(0)) await stopServer('cartkit-postgres', s);
    }
  } finally {
    for (const setup of setups) {
      for (const s of setup.instances) await stopServer('cartkit-postgres', s);
    }
    services.stop();
  }
  for (const what of ['GET', 'POST']) {
    const of = (n) =>
      rows.find(
        (r) => r.group === group && r.scaleOut?.what === what && r.scaleOut.instances === n,
      );
    const [one, three] = [of(1), of(3)];
    if (one === undefined || three === undefined || !one.value) continue;
    three.ratio = three.value / one.value;
    three.ratioText = `3/1 = ${three.ratio.toFixed(2)}x req/s, p99 ${(three.p99Ms / one.p99Ms).toFixed(2)}x`;
  }
});

/** The runs of a measurement: a warm-up (unless the plan has none), then the repeats. */
function rounds() {
  return [
    ...(plan.warmupSeconds > 0 ? ['warmup'] : []),
    ...Array.from({ length: plan.repeats }, (_, i) => `r${i + 1}`),
  ];
}

/**
 * One run against `instances`: the plan's connections split over one wrk process per
 * instance, all started together (no proxy in front: it would be the bottleneck).
 * req/s is their sum, p99 the worst of them. `request(k, n)` gives process k's settings.
 */
async function spread(instances, run, request) {
  const n = instances.length;
  const seconds = run === 'warmup' ? plan.warmupSeconds : plan.seconds;
  const split = (k) => Math.floor(plan.connections / n) + (k < plan.connections % n ? 1 : 0);
  const each = await Promise.all(
    instances.map((s, k) =>
      wrk({ origin: s.origin, connections: split(k), seconds, request: request(k, n) }),
    ),
  );
  return {
    rps: each.reduce((sum, r) => sum + r.rps, 0),
    p99: Math.max(...each.map((r) => r.p99)),
    errors: each.reduce((sum, r) => sum + r.errors, 0),
  };
}

function scaleOutRow(group, shape, n, { errors: errorCount, runs }) {
  if (errorCount > 0)
    errors.push(`${group} / ${n} instance(s), ${shape.what}: ${errorCount} errors`);
  rows.push({
    group,
    subject: `${n === 1 ? '1 instance' : `${n} instances`}: ${shape.text}`,
    kind: 'cartkit-postgres',
    value: median(runs.map((r) => r.rps)),
    unit: 'req/s',
    p99Ms: median(runs.map((r) => r.p99)),
    runs: runs.map((r) => Math.round(r.rps)),
    scaleOut: { what: shape.what, instances: n, wrkProcesses: n },
  });
}

/**
 * Throwaway PostgreSQL and Redis on loopback from scripts/services.sh (Debian's
 * `postgresql` and `redis-server`). `{ missing }` says why when they cannot start.
 */
function startServices() {
  const script = join(root, 'scripts/services.sh');
  const started = spawnSync('bash', [script, 'start'], { encoding: 'utf8', timeout: 120_000 });
  if (started.status !== 0) {
    const why = `${started.stderr ?? ''}`.trim().split('\n').filter(Boolean).at(-1);
    return {
      missing: `PostgreSQL/Redis could not be started (${why ?? started.error?.message ?? `exit ${started.status}`})`,
    };
  }
  const env = Object.fromEntries(
    [...started.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]),
  );
  const pg = new URL(env.CARTKIT_TEST_PG_URL);
  return {
    pgUser: decodeURIComponent(pg.username),
    pgUrl(db) {
      const url = new URL(env.CARTKIT_TEST_PG_URL);
      url.pathname = `/${db}`;
      return url.toString();
    },
    redisUrl: env.CARTKIT_TEST_REDIS_URL,
    psql(sql) {
      const r = spawnSync(
        'psql',
        [env.CARTKIT_TEST_PG_ADMIN_URL, '-XqAt', '-v', 'ON_ERROR_STOP=1', '-c', sql],
        {
          encoding: 'utf8',
        },
      );
      if (r.status !== 0) throw new Error(`psql ${sql}: ${r.stderr}`);
    },
    stop() {
      spawnSync('bash', [script, 'stop', env.CARTKIT_SERVICES_DIR], { stdio: 'ignore' });
    },
  };
}

/** What a row is compared with: node:http for express, express for cartkit and Flask. */
function baselineOf(kind) {
  if (kind === 'node-http') return undefined;
  if (kind === 'express') return 'node-http';
  // express-in-place and every cartkit row: against express as its users run it.
  return 'express';
}

// ---------------------------------------------------------------- run

try {
  for (const s of scenarios) {
    if (!wanted(s.id)) continue;
    const t0 = Date.now();
    process.stderr.write(`== ${s.title}\n`);
    currentScenario = s.title;
    await s.run(s.title);
    process.stderr.write(`   ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
} finally {
  for (const [key, s] of reused) await stopServer(key.split(' ')[0], s);
  rmSync(work, { recursive: true, force: true });
}

const results = {
  kind: smoke ? 'smoke' : 'full',
  date: new Date(started).toISOString(),
  durationSeconds: (Date.now() - started) / 1000,
  machine: { ...facts, loadAverageAfter: loadavg().map((x) => Number(x.toFixed(2))) },
  plan,
  flask: flaskDir === undefined ? `skipped: ${flask.missing}` : 'measured',
  rows: derive(rows),
  memory,
  errors,
};

function derive(list) {
  // Ratios to the baseline row of the same group.
  for (const row of list) {
    if (row.baseline === undefined) continue;
    const base = list.find((r) => r.group === row.baselineGroup && r.kind === row.baseline);
    if (base === undefined || !base.value) continue;
    row.ratio = row.value / base.value;
    row.ratioText = `${row.ratio.toFixed(2)} x ${LABEL[row.baseline]}${row.baselineGroup === row.group ? '' : ' (hot line)'}`;
    // cartkit runs with express's prototypes in place (expressServerClasses): where the
    // group has that ceiling too, say how close cartkit comes to it (the target stays
    // the ratio to express as its users run it).
    const inPlace = list.find((r) => r.group === row.group && r.kind === 'express-in-place');
    if (row.kind.startsWith('cartkit') && inPlace?.value) {
      row.inPlaceRatio = row.value / inPlace.value;
      row.ratioText += `; ${row.inPlaceRatio.toFixed(2)} x prototypes in place`;
    }
  }
  // The seed: cartkit on SQLite against Flask, and the stated targets.
  for (const group of new Set(list.map((r) => r.group))) {
    const flask = list.find((r) => r.group === group && r.kind === 'flask');
    const sqlite = list.find(
      (r) => r.group === group && r.kind === 'cartkit-sqlite' && r.unit === 'req/s',
    );
    if (flask !== undefined && sqlite !== undefined && flask.value > 0) {
      flask.seedRatio = sqlite.value / flask.value;
      flask.ratioText = `cartkit SQLite = ${flask.seedRatio.toFixed(1)} x Flask`;
      const min = group.startsWith('GET') ? 8 : 12;
      flask.target = { minSeedRatio: min, text: `cartkit >= ${min} x Flask` };
    }
    if (sqlite !== undefined && sqlite.target === undefined) {
      if (group.startsWith('GET /items, 10-line'))
        sqlite.target = { minRatio: 0.7, text: '>= 0.70 x express' };
      if (group.startsWith('POST /items, one hot') || group.startsWith('POST /items, 50 names')) {
        sqlite.target = { minRatio: 0.5, text: '>= 0.50 x express' };
      }
    }
  }
  const peak = (fits) => {
    const of = memory.filter((m) => fits(m.kind));
    if (of.length === 0) return undefined;
    const top = of.reduce((a, b) => (b.peakRss > a.peakRss ? b : a));
    // Reached before the measured load began (filling the scenario's cart, or start-up).
    const beforeLoad = top.peakRssPrepared !== undefined && top.peakRssPrepared >= top.peakRss;
    return { mb: top.peakRss / 2 ** 20, n: of.length, scenario: top.scenario, beforeLoad };
  };
  // The target is the example server as shipped (SQLite or in-memory storage); the
  // scale-out instances (pg, BullMQ, ioredis loaded) get a row of their own.
  const cartkitRss = peak((kind) => kind.startsWith('cartkit') && kind !== 'cartkit-postgres');
  const scaleOutRss = peak((kind) => kind === 'cartkit-postgres');
  const expressRss = peak((kind) => kind === 'express');
  if (cartkitRss !== undefined) {
    list.push({
      group: 'Memory during the HTTP runs',
      subject: `cartkit servers: highest peak RSS (of ${cartkitRss.n})`,
      kind: 'cartkit',
      value: cartkitRss.mb,
      unit: 'MB',
      ...(cartkitRss.scenario === undefined
        ? {}
        : {
            peakIn: `${cartkitRss.scenario}${cartkitRss.beforeLoad ? ' (before the load: filling the cart)' : ''}`,
          }),
      ...(expressRss === undefined
        ? {}
        : {
            ratio: cartkitRss.mb / expressRss.mb,
            ratioText: `bare express 5: ${expressRss.mb.toFixed(0)} MB${
              cartkitRss.scenario === undefined
                ? ''
                : `; cartkit's in ${cartkitRss.scenario}${cartkitRss.beforeLoad ? ', filling the cart' : ''}`
            }`,
          }),
      target: { max: 150, unit: 'MB', text: '< 150 MB' },
    });
  }
  if (scaleOutRss !== undefined) {
    list.push({
      group: 'Memory during the HTTP runs',
      subject: `cartkit on PostgreSQL + BullMQ: highest peak RSS (of ${scaleOutRss.n})`,
      kind: 'cartkit-postgres',
      value: scaleOutRss.mb,
      unit: 'MB',
    });
  }
  // The smoke run's sizes and durations are not the targets' (and timings never fail it).
  for (const row of list) {
    if (smoke) delete row.target;
    row.met = met(row);
  }
  return list;
}

function met(row) {
  const t = row.target;
  if (t === undefined || row.value === null) return undefined;
  if (t.minRatio !== undefined) return row.ratio !== undefined && row.ratio >= t.minRatio;
  if (t.maxRatio !== undefined) return row.ratio !== undefined && row.ratio <= t.maxRatio;
  if (t.minSeedRatio !== undefined) return row.seedRatio >= t.minSeedRatio;
  if (t.min !== undefined) return row.value >= t.min;
  if (t.max !== undefined) return row.value <= t.max;
  return undefined;
}

console.log(renderText(results));
const out = opts.out ?? join(here, 'results', smoke ? 'smoke.json' : 'latest.json');
mkdirSync(join(out, '..'), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
// The repository's formatter has the last word on layout, so `pnpm lint` stays clean.
const biome = (file) =>
  spawnSync(join(root, 'node_modules/.bin/biome'), ['format', '--write', file], {
    stdio: 'ignore',
  });
biome(out);
console.log(`\nresults: ${out}`);
if (!smoke && !opts['no-docs'] && only === undefined) {
  const doc = join(root, 'docs/performance.md');
  updatePerformanceDoc(doc, renderMarkdownTable(results));
  biome(doc);
  console.log('docs/performance.md regenerated');
}
if (errors.length > 0) {
  console.error(`\n${errors.length} scenario(s) had errors:\n  ${errors.join('\n  ')}`);
  process.exit(1);
}

function machineFacts() {
  const version = (command, args) => {
    // `wrk -v` prints its version and exits 1; any output will do.
    const r = spawnSync(command, args, { encoding: 'utf8' });
    const first = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0];
    return r.error === undefined && first ? first : 'not installed';
  };
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    wrk: version('wrk', ['-v'])
      .replace(/ \[.*$/, '')
      .replace(/ Copyright.*$/, ''),
    python: version(flask.python ?? 'python3', ['--version']),
    commit: git.status === 0 ? git.stdout.trim() : 'unknown',
    loadAverageBefore: loadavg().map((x) => Number(x.toFixed(2))),
  };
}
