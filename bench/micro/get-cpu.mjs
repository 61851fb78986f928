// CPU time of the example server per `GET /items` (10-line cart), on in-memory storage
// and on SQLite, servers interleaved: a figure that depends far less on what else runs
// on the machine than requests/s do. Each round runs `wrk -t1 -c32` against each server
// in turn and reads the server process's CPU time (user + system, all its threads:
// sqlite3's worker threads included) from /proc before and after. Linux only.
//
//   pnpm -r run build
//   node bench/micro/get-cpu.mjs [--rounds 3] [--seconds 4] [--lines 10] [--prof /tmp/prof]
//
// --prof passes --cpu-prof to the servers (profiles written on exit, one per server).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fill, settle } from '../lib/carts.mjs';
import { startServer } from '../lib/procs.mjs';
import { wrk } from '../lib/wrk.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    lines: { type: 'string', default: '10' },
    prof: { type: 'string' },
  },
});
const root = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'cartkit-get-cpu-'));
const TICKS = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime
}

async function start(storage) {
  const profArgs = values.prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${values.prof}`];
  return startServer({
    name: `get-cpu-${storage}`,
    command: process.execPath,
    args: [...profArgs, join(root, 'examples/server/dist/main.js')],
    env: {
      LOG_LEVEL: 'info',
      RATE_LIMIT_PER_MINUTE: '0',
      CART_IDENTITY: 'header',
      DATABASE_URL: storage === 'memory' ? 'memory:' : join(work, 'get-cpu.db'),
    },
    logDir: work,
    readyHeaders: { 'x-cart-id': 'ready' },
  });
}

const servers = {};
try {
  for (const storage of ['memory', 'sqlite']) {
    servers[storage] = await start(storage);
    await fill(servers[storage].origin, 'get-0', Number(values.lines));
    await settle(servers[storage].origin, 'get-0');
  }
  const request = { method: 'GET', path: '/items', cartPrefix: 'get-', carts: 1 };
  for (const s of Object.values(servers)) {
    await wrk({ origin: s.origin, connections: 32, seconds: 1, request }); // warm-up
  }
  const rows = [];
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const [storage, s] of Object.entries(servers)) {
      const before = cpuSeconds(s.pid);
      const result = await wrk({
        origin: s.origin,
        connections: 32,
        seconds: Number(values.seconds),
        request,
      });
      const cpu = cpuSeconds(s.pid) - before;
      rows.push({
        round,
        storage,
        rps: Math.round(result.rps),
        errors: result.errors,
        cpuUsPerRequest: Math.round((cpu * 1e6) / result.requests),
      });
    }
  }
  console.table(rows);
  const median = (list) => list.sort((a, b) => a - b)[Math.floor(list.length / 2)];
  const summary = Object.fromEntries(
    Object.keys(servers).map((storage) => {
      const mine = rows.filter((r) => r.storage === storage);
      return [
        storage,
        {
          rps: median(mine.map((r) => r.rps)),
          cpuUsPerRequest: median(mine.map((r) => r.cpuUsPerRequest)),
        },
      ];
    }),
  );
  console.log(`RESULT ${JSON.stringify(summary)}`);
} finally {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  rmSync(work, { recursive: true, force: true });
}
