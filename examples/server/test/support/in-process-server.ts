import { readConfig } from '../../src/config.js';
import { type RunningServer, type StartOptions, startServer } from '../../src/server.js';

/**
 * The configuration most in-process tests of the example server start from:
 * loopback on a free port, memory storage, no logs, no write rate limit, a demo
 * reservation service that answers at once and no drain pause at shutdown.
 */
export const TEST_SERVER_ENV: Readonly<Record<string, string>> = {
  PORT: '0',
  HOST: '127.0.0.1',
  DATABASE_URL: 'memory:',
  LOG_LEVEL: 'silent',
  RATE_LIMIT_PER_MINUTE: '0',
  DEMO_RESERVATION_LATENCY_MS: '0',
  SHUTDOWN_DRAIN_MS: '0',
};

/**
 * Starts the example server in this process with {@link TEST_SERVER_ENV} and `env`
 * on top, and registers its shutdown (without drain) with `cleanups`.
 */
export async function startTestServer(
  cleanups: Array<() => Promise<void> | void>,
  env: Readonly<Record<string, string>> = {},
  options: StartOptions = {},
): Promise<RunningServer> {
  const server = await startServer(readConfig({ ...TEST_SERVER_ENV, ...env }), options);
  cleanups.push(() => server.shutdown({ drainMs: 0 }));
  return server;
}
