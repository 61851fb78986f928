import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private temporary folder for database files, removed by `remove()`. */
export interface TempDir {
  readonly path: string;
  /** A fresh database file path inside the folder (not created). */
  file(name?: string): string;
  remove(): void;
}

/** Creates a temporary folder under the OS temp dir. */
export function createTempDir(prefix = 'cartkit-sqlite-'): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  let counter = 0;
  return {
    path,
    file: (name?: string) => join(path, name ?? `db-${++counter}.sqlite`),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}
