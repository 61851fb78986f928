import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import type { EngineUrls } from './engines.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../services.sh', import.meta.url));

function parseExports(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^export (\w+)='([^']*)'$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) vars[match[1]] = match[2];
  }
  return vars;
}

/**
 * vitest globalSetup of the `engines` project: uses CARTKIT_TEST_PG_URL / CARTKIT_TEST_REDIS_URL
 * when set (CI starts the servers itself), else starts throwaway servers with scripts/services.sh
 * and stops them after the run. When they cannot be started it prints one line and the engine
 * suites are reported as skipped — except under CI=true, where that is a failure.
 */
export default async function setup(
  project: TestProject,
): Promise<(() => Promise<void>) | undefined> {
  const pg = process.env.CARTKIT_TEST_PG_URL;
  const redis = process.env.CARTKIT_TEST_REDIS_URL;
  if (pg && redis) {
    const given: EngineUrls = {
      pgUrl: pg,
      pgAdminUrl: process.env.CARTKIT_TEST_PG_ADMIN_URL ?? null,
      redisUrl: redis,
      servicesDir: process.env.CARTKIT_SERVICES_DIR ?? null,
    };
    project.provide('cartkitEngines', given);
    return undefined;
  }
  let vars: Record<string, string>;
  try {
    const { stdout } = await run(script, ['start'], { timeout: 120_000 });
    vars = parseExports(stdout);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    const reason =
      stderr
        .split('\n')
        .filter((line) => line.startsWith('services:'))
        .pop() ?? (error as Error).message.split('\n')[0];
    if (process.env.CI === 'true') {
      throw new Error(
        `cartkit: cannot start PostgreSQL/Redis for the engine suites in CI: ${reason}`,
      );
    }
    process.stdout.write(
      `\ncartkit: PostgreSQL/Redis engine suites NOT RUN (skipped) — could not start the servers: ${reason}\n\n`,
    );
    project.provide('cartkitEngines', null);
    return undefined;
  }
  const dir = vars.CARTKIT_SERVICES_DIR;
  const pgUrl = vars.CARTKIT_TEST_PG_URL;
  const redisUrl = vars.CARTKIT_TEST_REDIS_URL;
  if (!dir || !pgUrl || !redisUrl) throw new Error('scripts/services.sh start printed no URLs');
  project.provide('cartkitEngines', {
    pgUrl,
    pgAdminUrl: vars.CARTKIT_TEST_PG_ADMIN_URL ?? null,
    redisUrl,
    servicesDir: dir,
  });
  return async () => {
    await run(script, ['stop', dir], { timeout: 60_000 });
  };
}
