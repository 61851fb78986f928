// HTTP load from a separate process: Debian's `wrk`, one thread, fixed connections,
// driven by bench/wrk/cart.lua, which prints its totals as one JSON line.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../wrk/cart.lua', import.meta.url));

/**
 * One wrk run. `request` is the script's arguments:
 * `{ method, path, names, cartPrefix, carts, rotate }`.
 * Resolves with requests/s, latency percentiles (ms) and error counts.
 */
export function wrk({ origin, connections, seconds, request, timeoutSeconds = 10 }) {
  const r = {
    method: 'GET',
    path: '/items',
    names: 1,
    cartPrefix: '-',
    carts: 1,
    rotate: 0,
    ...request,
  };
  const args = [
    '-t1',
    `-c${connections}`,
    `-d${seconds}s`,
    `--timeout`,
    `${timeoutSeconds}s`,
    '-s',
    SCRIPT,
    `${origin}${r.path}`,
    '--',
    r.method,
    r.path,
    String(r.names),
    r.cartPrefix,
    String(r.carts),
    String(r.rotate),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    child.once('error', (error) =>
      reject(
        error.code === 'ENOENT' ? new Error('wrk is not installed: apt-get install -y wrk') : error,
      ),
    );
    // 'close', not 'exit': 'exit' may come before the last of stdout has been read (seen
    // under load with several wrk processes at once), which lost the WRKJSON line.
    child.once('close', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
      if (code !== 0 || line === undefined) {
        reject(
          new Error(`wrk ${args.join(' ')} failed (exit ${code}, signal ${signal}): ${err}${out}`),
        );
        return;
      }
      const raw = JSON.parse(line.slice('WRKJSON '.length));
      const errors = Object.values(raw.errors).reduce((a, b) => a + b, 0);
      resolve({
        rps: raw.requests / (raw.durationUs / 1e6),
        requests: raw.requests,
        errors,
        errorDetail: raw.errors,
        p50: raw.latencyUs.p50 / 1000,
        p90: raw.latencyUs.p90 / 1000,
        p99: raw.latencyUs.p99 / 1000,
        max: raw.latencyUs.max / 1000,
      });
    });
  });
}

/** Middle value (mean of the two middle ones for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Warm-up run (discarded), then `repeats` measured runs. `request` may be a
 * function of the run label (`warmup`, `r1`, ...) so each run can use fresh carts.
 * Resolves with the medians and every run's figures.
 */
export async function measure({ origin, connections, warmupSeconds, seconds, repeats, request }) {
  const at = (label) => (typeof request === 'function' ? request(label) : request);
  let warmupErrors = 0;
  if (warmupSeconds > 0) {
    const warm = await wrk({ origin, connections, seconds: warmupSeconds, request: at('warmup') });
    warmupErrors = warm.errors;
  }
  const runs = [];
  for (let i = 1; i <= repeats; i++) {
    runs.push(await wrk({ origin, connections, seconds, request: at(`r${i}`) }));
  }
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((sum, r) => sum + r.errors, warmupErrors),
    runs,
  };
}
