import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ErrorCode } from '@cartkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertPackageBuilt } from './support/fixtures.js';
import { createTempDir } from './support/temp-dir.js';

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL('../', import.meta.url));

/** The real folder of package `name` as Node resolves it from the package in `from`. */
function installed(from: string, name: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(candidate)) return realpathSync(candidate);
    if (dirname(dir) === dir) throw new Error(`${name} is not installed for ${from}`);
  }
}

/** Copies a package folder, keeping only the entries `keep` names. */
function copyPackage(from: string, to: string, keep: readonly string[]): void {
  mkdirSync(to, { recursive: true });
  for (const entry of keep) cpSync(join(from, entry), join(to, entry), { recursive: true });
}

function link(target: string, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  symlinkSync(target, path, 'dir');
}

/**
 * An app folder whose node_modules holds this package's build, @keyv/sqlite and
 * sqlite3 exactly as installed, except that sqlite3 has no `build/` folder: what
 * an install that skipped sqlite3's build script leaves behind (e.g. pnpm 10
 * without `onlyBuiltDependencies`). Packages are copied where Node would
 * otherwise follow a symlink back to the workspace's working sqlite3.
 */
function appWithoutBinding(root: string): void {
  const modules = join(root, 'node_modules');
  const keyvSqlite = installed(packageDir, '@keyv/sqlite');
  const sqlite3 = installed(keyvSqlite, 'sqlite3');
  copyPackage(packageDir, join(modules, '@cartkit/storage-sqlite'), ['package.json', 'dist']);
  link(installed(packageDir, '@cartkit/core'), join(modules, '@cartkit/core'));
  link(installed(packageDir, 'keyv'), join(modules, 'keyv'));
  copyPackage(keyvSqlite, join(modules, '@keyv/sqlite'), ['package.json', 'dist']);
  copyPackage(sqlite3, join(modules, 'sqlite3'), ['package.json', 'lib']);
  link(installed(sqlite3, 'bindings'), join(modules, 'bindings'));
  cpSync(join(packageDir, 'test/fixtures/missing-binding.mjs'), join(root, 'app.mjs'));
}

interface Report {
  imported: boolean;
  sqlite3: string;
  opened: boolean;
  error?: {
    name: string;
    kind: string;
    code: string;
    message: string;
    details: Record<string, unknown>;
    cause: string;
  };
}

describe('sqlite3 without its native binding', () => {
  const dir = createTempDir('cartkit-no-binding-');
  beforeAll(() => {
    assertPackageBuilt();
    appWithoutBinding(dir.path);
  });
  afterAll(() => dir.remove());

  it('imports, then createSqliteCartStorage fails with STORAGE_UNAVAILABLE saying how to fix it', async () => {
    const path = join(dir.path, 'cart.db');
    const { stdout, stderr } = await run(process.execPath, ['app.mjs', path], {
      cwd: dir.path,
    }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`the app crashed instead of reporting: ${error.stderr ?? error.message}`);
    });
    const report = JSON.parse(stdout) as Report;

    // The precondition is real: in this tree, loading sqlite3 itself fails.
    expect(report.sqlite3, stderr).toMatch(/Could not locate the bindings file/);
    // Importing the storage package does not load the driver...
    expect(report.imported).toBe(true);
    // ...opening a database reports it, typed, with the fix.
    expect(report.opened).toBe(false);
    expect(report.error).toMatchObject({
      name: 'StorageError',
      kind: 'storage',
      code: ErrorCode.STORAGE_UNAVAILABLE,
      details: { path, reason: 'driver-unavailable' },
    });
    expect(report.error?.cause).toMatch(/Could not locate the bindings file/);
    const message = report.error?.message ?? '';
    expect(message).toContain(path);
    expect(message).toContain('Could not locate the bindings file');
    expect(message).toContain('pnpm approve-builds');
    expect(message).toContain('allowBuilds: { sqlite3: true }');
    expect(message).toContain('npm rebuild sqlite3');
  });
});
