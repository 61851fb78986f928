import { describe, inject } from 'vitest';

/** URLs of the PostgreSQL and Redis servers the engine suites run against. */
export interface EngineUrls {
  /** postgres://… as an ordinary role that owns the test database. */
  readonly pgUrl: string;
  /** postgres://… as the superuser (to terminate connections), when known. */
  readonly pgAdminUrl: string | null;
  /** redis://… */
  readonly redisUrl: string;
  /** scripts/services.sh's folder, when it started the servers (for `redis-stop`/`redis-start`). */
  readonly servicesDir: string | null;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where the engine suites find PostgreSQL and Redis; `null` when they could not be started. */
    cartkitEngines: EngineUrls | null;
  }
}

/** The engines provided by the globalSetup, or `null` when they could not be started. */
export function engines(): EngineUrls | null {
  return inject('cartkitEngines') ?? null;
}

/** The engines, for code that only runs when they are available. */
export function requireEngines(): EngineUrls {
  const found = engines();
  if (!found)
    throw new Error('PostgreSQL/Redis are not available (see the line printed at start-up)');
  return found;
}

/**
 * `describe` for suites that need PostgreSQL and Redis: runs them whenever the servers are up; when
 * they could not be started (outside CI) the globalSetup has printed why and these report as skipped.
 */
export const describeEngines: typeof describe = describe.runIf(
  engines() !== null,
) as typeof describe;
