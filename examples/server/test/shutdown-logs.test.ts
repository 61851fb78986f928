import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { readConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { TEST_SERVER_ENV } from './support/in-process-server.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A FIFO: the server writes its logs to `writer`; the test reads `reader` when it wants. */
function logPipe() {
  const dir = mkdtempSync(join(tmpdir(), 'cartkit-logs-'));
  const path = join(dir, 'logs');
  execFileSync('mkfifo', [path]);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(path, constants.O_WRONLY); // blocking, as stdout to a pipe
  cleanups.push(() => {
    closeSync(writer);
    closeSync(reader);
    rmSync(dir, { recursive: true, force: true });
  });
  let text = '';
  const chunk = Buffer.alloc(1 << 16);
  /** Reads what the pipe holds now; false when it held nothing. */
  const readNow = (): boolean => {
    try {
      const n = readSync(reader, chunk, 0, chunk.length, null);
      text += chunk.toString('utf8', 0, n);
      return n > 0;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return false;
      throw error;
    }
  };
  return {
    writer,
    readNow,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { msg: string; req?: { url: string } }),
  };
}

describe('example server: logs at shutdown', () => {
  it('writes every line before shutdown resolves, even when stdout is slow to take them', async () => {
    const pipe = logPipe();
    const server = await startServer(
      readConfig({
        ...TEST_SERVER_ENV,
        LOG_LEVEL: 'info',
        CART_IDENTITY: 'header',
        // Far beyond the test's time limit: the shutdown bound never cuts the wait short.
        SHUTDOWN_TIMEOUT_MS: '600000',
      }),
      { logFd: pipe.writer },
    );
    // Nobody reads the pipe yet: 40 request lines of ~4 kB overflow its 64 kB, so a
    // write is stuck in flight and lines queue behind it, as behind a slow stdout.
    const padding = 'x'.repeat(4_000);
    const urls = Array.from({ length: 40 }, (_, i) => `/items?request=${i}&pad=${padding}`);
    for (const url of urls) {
      const res = await fetch(`${server.url}${url}`, { headers: { 'x-cart-id': 'c1' } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }

    let lines: ReturnType<typeof pipe.lines> | undefined;
    const shutdown = server.shutdown({ drainMs: 0 }).then(() => {
      // Once shutdown resolved, the pipe already holds everything: read it out at
      // once, without giving the server another turn of the event loop.
      while (pipe.readNow());
      lines = pipe.lines();
    });
    // Meanwhile the reader catches up while the server shuts down.
    while (lines === undefined) {
      if (!pipe.readNow()) await turn();
    }
    await shutdown;
    const requestUrls = lines.filter((l) => l.msg === 'request completed').map((l) => l.req?.url);
    expect(requestUrls).toEqual(urls);
    expect(lines.at(-1)?.msg).toMatch(/^shut down cleanly/);
  });
});
