import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { describeEngines } from '../vitest/engines.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../services.sh', import.meta.url));

function parse(stdout: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const match of stdout.matchAll(/^export (\w+)='([^']*)'$/gm)) {
    if (match[1] && match[2] !== undefined) vars[match[1]] = match[2];
  }
  return vars;
}

async function psql(url: string, sql: string): Promise<string> {
  const { stdout } = await run('psql', [url, '-XAtc', sql]);
  return stdout.trim();
}

async function redis(url: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-u', url, ...args]);
  return stdout.trim();
}

// scripts/services.sh starts its own second pair of servers here (the suites share the first).
describeEngines('scripts/services.sh', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir && existsSync(dir)) await run(script, ['stop', dir]);
  });

  it('starts PostgreSQL 15 and Redis 7 on loopback, restarts Redis alone, stops and removes everything', async () => {
    const vars = parse((await run(script, ['start'], { timeout: 120_000 })).stdout);
    dir = vars.CARTKIT_SERVICES_DIR;
    const pgUrl = vars.CARTKIT_TEST_PG_URL;
    const redisUrl = vars.CARTKIT_TEST_REDIS_URL;
    expect(dir && pgUrl && redisUrl && vars.CARTKIT_TEST_PG_ADMIN_URL).toBeTruthy();
    if (!dir || !pgUrl || !redisUrl) return;
    expect(pgUrl).toMatch(/^postgres:\/\/cartkit:[0-9a-f]+@127\.0\.0\.1:\d+\/cartkit_test$/);
    expect(redisUrl).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);

    expect(await psql(pgUrl, 'SHOW server_version_num')).toMatch(/^15/);
    expect(await psql(pgUrl, 'SELECT current_user')).toBe('cartkit');
    expect(
      await psql(pgUrl, "SELECT setting FROM pg_settings WHERE name = 'listen_addresses'"),
    ).toBe('127.0.0.1');
    await expect(psql(pgUrl.replace(/:[0-9a-f]+@/, ':wrong@'), 'SELECT 1')).rejects.toThrow(
      /password authentication failed/,
    );

    expect(await redis(redisUrl, 'PING')).toBe('PONG');
    expect(await redis(redisUrl, 'CONFIG', 'GET', 'bind')).toMatch(/127\.0\.0\.1/);
    expect(await redis(redisUrl, 'CONFIG', 'GET', 'save')).toBe('save');
    await redis(redisUrl, 'SET', 'k', 'v');

    await run(script, ['redis-stop', dir]);
    await expect(redis(redisUrl, 'PING')).rejects.toThrow();
    await run(script, ['redis-start', dir]);
    expect(await redis(redisUrl, 'PING')).toBe('PONG');
    expect(await redis(redisUrl, 'EXISTS', 'k')).toBe('0'); // nothing persisted across the restart

    expect(parse((await run(script, ['env', dir])).stdout)).toEqual(vars);
    await run(script, ['stop', dir]);
    expect(existsSync(dir)).toBe(false);
    await expect(psql(pgUrl, 'SELECT 1')).rejects.toThrow();
  });
});
