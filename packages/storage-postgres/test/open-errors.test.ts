import { createServer } from 'node:net';
import { ConfigurationError, ErrorCode, StorageError } from '@cartkit/core';
import { createPostgresCartStorage, LAYOUT_VERSION } from '@cartkit/storage-postgres';
import pg from 'pg';
import { expect, it } from 'vitest';
import { describeEngines, requireEngines } from '../../../scripts/vitest/engines.js';
import { freshSchema, openStorage } from './support.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

describeEngines('opening the PostgreSQL storage', () => {
  it('refuses wrong credentials with STORAGE_UNAVAILABLE naming the cause, never the password', async () => {
    const url = withPassword(requireEngines().pgUrl, 'not-the-password');
    const error = await createPostgresCartStorage({ url }).catch((e: unknown) => e);
    expect(StorageError.is(error)).toBe(true);
    expect(error).toMatchObject({ code: ErrorCode.STORAGE_UNAVAILABLE });
    const message = (error as Error).message;
    expect(message).toMatch(/authentication failed/);
    expect(message).toContain('127.0.0.1');
    expect(message).not.toContain('not-the-password');
    expect(JSON.stringify((error as StorageError).details)).not.toContain('not-the-password');
  });

  it('reports an unreachable server as STORAGE_UNAVAILABLE: connection refused', async () => {
    const port = await closedPort();
    const error = await createPostgresCartStorage({
      url: `postgres://cartkit:secret@127.0.0.1:${port}/cartkit_test`,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.STORAGE_UNAVAILABLE });
    expect((error as Error).message).toMatch(/connection refused/);
    expect((error as Error).message).not.toContain('secret');
  });

  it('reports a missing database as STORAGE_UNAVAILABLE', async () => {
    const url = new URL(requireEngines().pgUrl);
    url.pathname = '/no_such_database';
    const error = await createPostgresCartStorage({ url: url.toString() }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.STORAGE_UNAVAILABLE });
    expect((error as Error).message).toMatch(/database does not exist/);
  });

  it('rejects bad options with a ConfigurationError naming the option, before connecting', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, 'url'],
      [{ url: 'mysql://x@localhost/db' }, 'url'],
      [{ url: 'not a url' }, 'url'],
      [{ url: requireEngines().pgUrl, schema: 'bad-name' }, 'schema'],
      [{ url: requireEngines().pgUrl, tablePrefix: 'x;drop' }, 'tablePrefix'],
      [{ url: requireEngines().pgUrl, poolSize: 0 }, 'poolSize'],
      [{ url: requireEngines().pgUrl, connectTimeoutMs: -1 }, 'connectTimeoutMs'],
      [{ url: requireEngines().pgUrl, clock: {} }, 'clock'],
      [{ url: requireEngines().pgUrl, colour: 'red' }, 'colour'],
    ];
    for (const [options, option] of cases) {
      const error = await createPostgresCartStorage(options as never).catch((e: unknown) => e);
      expect(ConfigurationError.is(error), JSON.stringify(options)).toBe(true);
      expect(error).toMatchObject({ code: ErrorCode.INVALID_OPTION, details: { option } });
    }
  });

  it('creates the schema and tables once when several instances open it at the same time', async () => {
    const schema = freshSchema();
    const storages = await Promise.all(Array.from({ length: 5 }, () => openStorage({ schema })));
    expect(storages.map((s) => s.layout)).toEqual(Array(5).fill(LAYOUT_VERSION));
    await storages[0]?.saveCart(
      { id: 'c1', version: 1, lines: [], createdAt: 'a', updatedAt: 'a' },
      { expectedVersion: 0 },
    );
    expect((await storages[4]?.getCart('c1'))?.version).toBe(1);
    await Promise.all(storages.map((s) => s.close()));
  });

  it('refuses tables migrated by a newer release', async () => {
    const schema = freshSchema();
    const first = await openStorage({ schema });
    await first.close();
    const client = new pg.Client({ connectionString: requireEngines().pgUrl });
    await client.connect();
    await client.query(`INSERT INTO "${schema}"."cartkit_migrations" (version) VALUES ($1)`, [
      LAYOUT_VERSION + 1,
    ]);
    await client.end();
    const error = await openStorage({ schema }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.STORAGE_UNAVAILABLE });
    expect((error as Error).message).toMatch(/newer cartkit/);
  });
});
