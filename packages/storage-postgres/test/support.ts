import { randomBytes } from 'node:crypto';
import type { Clock } from '@cartkit/core';
import {
  createPostgresCartStorage,
  type PostgresCartStorage,
  type PostgresCartStorageOptions,
} from '@cartkit/storage-postgres';
import { requireEngines } from '../../../scripts/vitest/engines.js';

/** A schema name no other test uses: every test gets empty tables. */
export function freshSchema(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

/** Opens a storage on the test server, in a fresh schema unless one is given. */
export function openStorage(
  options: Partial<PostgresCartStorageOptions> & { clock?: Clock } = {},
): Promise<PostgresCartStorage> {
  return createPostgresCartStorage({
    url: requireEngines().pgUrl,
    schema: freshSchema(),
    poolSize: 4,
    ...options,
  });
}
