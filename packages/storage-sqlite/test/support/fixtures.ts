import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Child fixtures import `@cartkit/storage-sqlite` by name, which resolves to the
 * built `dist/`. Fails fast, with the fix, when the build is missing or older than
 * the sources (a stale build would test old code).
 */
export function assertPackageBuilt(): void {
  let built: number;
  try {
    built = statSync(`${packageDir}dist/index.js`).mtimeMs;
  } catch {
    throw new Error('packages/storage-sqlite/dist is missing: run `pnpm build` first.');
  }
  for (const name of readdirSync(`${packageDir}src`)) {
    if (statSync(`${packageDir}src/${name}`).mtimeMs > built) {
      throw new Error(
        `packages/storage-sqlite/dist is older than src/${name}: run \`pnpm build\`.`,
      );
    }
  }
}

/** A message a fixture sends over IPC. */
export type FixtureMessage = Readonly<Record<string, unknown>> & { readonly type: string };

/** A running child fixture. */
export interface Fixture {
  readonly child: ChildProcess;
  /** Resolves with the next message of `type` (rejects if the child exits first). */
  next(type: string): Promise<FixtureMessage>;
  /** Every message received so far. */
  readonly messages: readonly FixtureMessage[];
  /** Resolves when the child has exited, with its code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the child wrote to stderr. */
  stderr(): string;
  /** Sends a message to the child. */
  send(message: FixtureMessage): void;
}

const running = new Set<ChildProcess>();

/** Starts `test/fixtures/<name>.mjs` with IPC. Use {@link killFixtures} in `afterEach`. */
export function startFixture(
  name: string,
  args: readonly string[],
  options: { uid?: number; gid?: number } = {},
): Fixture {
  const child = fork(fileURLToPath(new URL(`../fixtures/${name}.mjs`, import.meta.url)), args, {
    cwd: packageDir,
    execArgv: [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    ...options,
  });
  running.add(child);
  const messages: FixtureMessage[] = [];
  const waiters: Array<{ type: string; resolve: (m: FixtureMessage) => void }> = [];
  let errors = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  child.on('message', (raw) => {
    const message = raw as FixtureMessage;
    messages.push(message);
    const index = waiters.findIndex((w) => w.type === message.type);
    if (index !== -1) waiters.splice(index, 1)[0]?.resolve(message);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    child,
    messages,
    exited,
    stderr: () => errors,
    send: (message) => {
      child.send(message);
    },
    next(type) {
      const seen = messages.find((m) => m.type === type && !consumed.has(m));
      if (seen !== undefined) {
        consumed.add(seen);
        return Promise.resolve(seen);
      }
      return new Promise<FixtureMessage>((resolve, reject) => {
        waiters.push({
          type,
          resolve: (m) => {
            consumed.add(m);
            resolve(m);
          },
        });
        void exited.then(({ code, signal }) =>
          reject(
            new Error(
              `fixture ${name} exited (code ${code}, signal ${signal}) before sending "${type}"\n${errors}`,
            ),
          ),
        );
      });
    },
  };
}

const consumed = new WeakSet<FixtureMessage>();

/** Kills every fixture still running (SIGKILL) and waits for them to exit. */
export async function killFixtures(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}
