// What do the example server's third-party middleware cost on their own? The bare
// express baseline serving GET /items (10 items) with none, helmet(), pino-http, and
// both in front (bench/servers/express-middleware.mjs), each in its own process, under
// `wrk -t1 -c32` from another process. Rounds are interleaved (A B C D A B C D …) so
// a change in machine load hits every variant alike; the medians are compared.
//
//   node bench/micro/express-middleware.mjs [--rounds 3] [--seconds 2]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startServer } from '../lib/procs.mjs';
import { median, wrk } from '../lib/wrk.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '2' },
  },
});
const server = fileURLToPath(new URL('../servers/express-middleware.mjs', import.meta.url));
const variants = ['', 'helmet', 'pino-http', 'pino-http,helmet'];
const dir = mkdtempSync(join(tmpdir(), 'cartkit-bench-mw-'));
const before = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
const servers = [];
try {
  for (const [i, middleware] of variants.entries()) {
    servers.push(
      await startServer({
        name: `mw-${i}`,
        command: process.execPath,
        args: [server],
        env: { MIDDLEWARE: middleware, LOG_FILE: join(dir, `mw-${i}.log`) },
        logDir: dir,
      }),
    );
  }
  const results = variants.map(() => []);
  for (const s of servers) await wrk({ origin: s.origin, connections: 32, seconds: 1 }); // warm-up
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [i, s] of servers.entries()) {
      const r = await wrk({ origin: s.origin, connections: 32, seconds: Number(values.seconds) });
      results[i].push(r.rps);
    }
  }
  const base = median(results[0]);
  console.log(
    `load average before ${before}, after ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const [i, middleware] of variants.entries()) {
    const m = median(results[i]);
    console.log(
      `${(middleware || 'bare express').padEnd(20)} ${m.toFixed(0).padStart(7)} req/s  ${(m / base).toFixed(2)} x bare`,
    );
  }
} finally {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
}
