// Server processes for the benchmarks: start on a free loopback port, wait until
// they answer, sample their memory from /proc, stop them by pid.
import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A free TCP port on loopback (bound, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts `command args` with `env` (plus PORT), output to `<logDir>/<name>.log`, and
 * waits until `GET readyPath` answers 2xx (or the process dies, or 30 s pass).
 */
export async function startServer(options) {
  // freePort() releases the port before the server binds it: in between, another
  // process (an outgoing connection's local port, a server's demo service on port 0)
  // can take it. A start that died with EADDRINUSE gets another port; anything else
  // is reported with the end of the server's log.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      const log = join(options.logDir, `${options.name}.log`);
      const tail = readFileSync(log, 'utf8').slice(-2000);
      if (error.exited !== undefined && tail.includes('EADDRINUSE') && attempt < 3) continue;
      error.message += `\n--- end of ${log} ---\n${tail}`;
      throw error;
    }
  }
}

async function startOnce({
  name,
  command,
  args,
  env = {},
  cwd,
  logDir,
  readyPath = '/items',
  readyHeaders = {},
  readyStatus,
}) {
  const port = await freePort();
  const log = openSync(join(logDir, `${name}.log`), 'a');
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', log, log],
  });
  let exited = null;
  child.once('exit', (code, signal) => {
    exited = { code, signal };
  });
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) {
      throw Object.assign(
        new Error(
          `${name} exited before it was ready (${JSON.stringify(exited)}); see ${join(logDir, `${name}.log`)}`,
        ),
        { exited },
      );
    }
    try {
      const res = await fetch(`${origin}${readyPath}`, { headers: readyHeaders });
      await res.arrayBuffer();
      if (readyStatus === undefined ? res.ok : res.status === readyStatus) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not answer within 30 s; see ${join(logDir, `${name}.log`)}`);
    }
    await sleep(50);
  }
  return {
    name,
    origin,
    port,
    pid: child.pid,
    child,
    /** Resident set size now and at its peak, in bytes (from /proc; Linux only). */
    memory: () => procMemory(child.pid),
    async stop() {
      if (exited !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      // SIGINT: the example server closes at once (SIGTERM would drain first).
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** VmRSS and VmHWM of a process, in bytes; undefined where /proc is missing. */
export function procMemory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (key) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
    return { rss: field('VmRSS'), peakRss: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Runs a node script to completion; resolves with the last `RESULT {...}` line it prints. */
export function runNodeScript(script, args, { env = {}, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('RESULT '));
      if (code !== 0 || line === undefined) {
        reject(new Error(`${script} failed (exit ${code}):\n${out.slice(-2000)}`));
      } else resolve(JSON.parse(line.slice('RESULT '.length)));
    });
  });
}
