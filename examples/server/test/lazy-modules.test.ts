import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

const recorder = fileURLToPath(new URL('./support/record-imports.mjs', import.meta.url));
const running: ServerProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.stop('SIGINT')));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Starts the built server with `env`, sends a write, and returns the modules it resolved. */
async function modulesLoaded(env: Record<string, string>): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cartkit-modules-'));
  dirs.push(dir);
  const file = join(dir, 'imports.txt');
  const server = await startServerProcess({
    DATABASE_URL: join(dir, 'cart.db'),
    NODE_OPTIONS: `--import ${recorder}`,
    RECORD_IMPORTS_FILE: file,
    ...env,
  });
  running.push(server);
  // A write goes through the rate limit and the identity, whatever they are.
  const res = await fetch(`${server.url}/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-cart-id': 'c1' },
    body: JSON.stringify({ name: 'A' }),
  });
  await res.arrayBuffer();
  return readFileSync(file, 'utf8').split('\n');
}

const loads = (modules: string[], pkg: string) =>
  modules.some((url) => url.includes(`/node_modules/${pkg}/`));

// Heap a configuration does not use is not spent: jose only with CART_IDENTITY=jwt,
// express-rate-limit only with a rate limit (each stays in the heap once loaded).
describe('modules the configuration does not use', () => {
  it('are not loaded: header identity, no rate limit (as the benchmarks run it)', async () => {
    const modules = await modulesLoaded({ CART_IDENTITY: 'header', RATE_LIMIT_PER_MINUTE: '0' });
    expect(loads(modules, 'express')).toBe(true); // the recorder works
    expect(loads(modules, 'jose')).toBe(false);
    expect(loads(modules, 'express-rate-limit')).toBe(false);
  });

  it('are loaded when configured: JWT identity, a rate limit', async () => {
    const modules = await modulesLoaded({
      CART_IDENTITY: 'jwt',
      JWT_SECRET: 'a-secret-of-at-least-thirty-two-bytes!',
      RATE_LIMIT_PER_MINUTE: '600',
    });
    expect(loads(modules, 'jose')).toBe(true);
    expect(loads(modules, 'express-rate-limit')).toBe(true);
  });
});
