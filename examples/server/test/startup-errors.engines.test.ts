import { createServer } from 'node:net';
import { expect, it } from 'vitest';
import { describeEngines, requireEngines } from '../../../scripts/vitest/engines.js';
import { startServerProcess } from './support/server-process.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts the example server with `env`; resolves with its failure (exit code and stderr). */
async function startFails(env: Record<string, string>): Promise<string> {
  const error = await startServerProcess({ LOG_LEVEL: 'warn', ...env }).then(
    async (server) => {
      await server.stop('SIGKILL');
      throw new Error('the server started');
    },
    (e: unknown) => e as Error,
  );
  return error.message;
}

describeEngines('example server start-up with a wrong DATABASE_URL or REDIS_URL', () => {
  it('exits 1 naming DATABASE_URL when the PostgreSQL credentials are wrong, never printing the password', async () => {
    const url = new URL(requireEngines().pgUrl);
    url.password = 'not-the-password';
    const message = await startFails({ DATABASE_URL: url.toString() });
    expect(message).toMatch(/exited with 1 before listening/);
    expect(message).toMatch(/cannot start: DATABASE_URL: .*authentication failed/);
    expect(message).not.toContain('not-the-password');
  });

  it('exits 1 naming DATABASE_URL when PostgreSQL is unreachable', async () => {
    const port = await closedPort();
    const message = await startFails({
      DATABASE_URL: `postgres://cartkit:secret@127.0.0.1:${port}/cartkit`,
    });
    expect(message).toMatch(/exited with 1 before listening/);
    expect(message).toMatch(/cannot start: DATABASE_URL: .*connection refused/);
    expect(message).not.toContain('secret');
  });

  it('exits 1 naming REDIS_URL when Redis is unreachable (PostgreSQL fine)', async () => {
    const port = await closedPort();
    const message = await startFails({
      DATABASE_URL: requireEngines().pgUrl,
      REDIS_URL: `redis://:hush@127.0.0.1:${port}`,
    });
    expect(message).toMatch(/exited with 1 before listening/);
    expect(message).toMatch(/cannot start: REDIS_URL: .*connection refused/);
    expect(message).not.toContain('hush');
  });

  it('exits 1 naming the variable when a URL is malformed, before connecting to anything', async () => {
    const database = await startFails({ DATABASE_URL: 'postgres://' });
    expect(database).toMatch(/exited with 1 before listening/);
    expect(database).toMatch(/DATABASE_URL: DATABASE_URL must be postgres:\/\//);
    const redis = await startFails({ DATABASE_URL: 'memory:', REDIS_URL: 'http://cache:6379' });
    expect(redis).toMatch(/exited with 1 before listening/);
    expect(redis).toMatch(/REDIS_URL: REDIS_URL must be a redis:\/\//);
  });
});
