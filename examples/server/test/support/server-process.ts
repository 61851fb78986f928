import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
/** How long a start may take before the child is given up on (see where it is used). */
const START_LIMIT_MS = 60_000;

/** A running example server child process. */
export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Structured log lines seen so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Resolves with the first log line whose `msg` matches, already seen or still to come. */
  waitForLog(msg: string | RegExp): Promise<Record<string, unknown>>;
  /** Sends `signal` (if still running) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `examples/server` (built) on a free port with `env`, resolving once it listens. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  if (!existsSync(entry)) throw new Error('examples/server is not built: run `pnpm build` first');
  const child = spawn(process.execPath, [entry], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      // The test's fetch closes idle keep-alive connections after ~4 s; a server that
      // closed them first (its default is 5 s) races a reused connection on a loaded
      // machine ("other side closed"). Keep the server's keep-alive longer than the
      // client's, as docs/operations.md advises behind a load balancer.
      KEEP_ALIVE_TIMEOUT_MS: '65000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<(entry: Record<string, unknown>) => boolean> = [];
  const matches = (msg: string | RegExp, entry: Record<string, unknown>) =>
    typeof entry.msg === 'string' &&
    (typeof msg === 'string' ? entry.msg === msg : msg.test(entry.msg));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => resolve(code)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    // Only a child that neither listens nor exits (an exit rejects at once) reaches this.
    // A start costs about 2 s of CPU (1.9-2.1 s measured: node, imports, pool, migrations,
    // BullMQ); with a load average of 15-20 on 2 cores a process gets 1/8-1/10 of a core,
    // so 15 s (the former limit) failed healthy starts on a loaded machine. The log lines
    // seen so far say which step a start that does hang is stuck in.
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `server did not start within ${START_LIMIT_MS} ms; logs so far:\n${logs.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${stderr}`,
          ),
        ),
      START_LIMIT_MS,
    );
    exited.then((code) =>
      reject(new Error(`server exited with ${code} before listening:\n${stderr}`)),
    );
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]?.(entry)) waiters.splice(i, 1);
        if (entry.msg === 'cartkit example server listening') {
          clearTimeout(timer);
          resolve(entry.url as string);
        }
      } catch {
        // not a log line
      }
    });
  });
  return {
    url,
    child,
    logs,
    waitForLog(msg) {
      const seen = logs.find((entry) => matches(msg, entry));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        exited.then((code) =>
          reject(new Error(`server exited with ${code} before logging ${msg}`)),
        );
        waiters.push((entry) => {
          if (!matches(msg, entry)) return false;
          resolve(entry);
          return true;
        });
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
