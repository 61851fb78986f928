import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import config from '../vitest.config.js';
import { workspaceEntries } from '../workspace-packages.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const entries = workspaceEntries(root);

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, JSON.stringify(value));
}

describe('workspace resolution', () => {
  const temps: string[] = [];
  afterEach(() => {
    for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('finds every library package and its subpath exports', () => {
    const specifiers = entries.map((entry) => entry.specifier);
    expect(specifiers).toEqual(
      expect.arrayContaining(['@cartkit/core', '@cartkit/core/inversify', '@cartkit/express']),
    );
    expect(specifiers.every((s) => s.startsWith('@cartkit/'))).toBe(true);
  });

  it('a new package (and a new subpath) resolves to its source with no config edit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cartkit-ws-'));
    temps.push(dir);
    writeFileSync(join(dir, 'pnpm-workspace.yaml'), 'packages:\n  - packages/*\n  - examples/*\n');
    mkdirSync(join(dir, 'packages/fresh/src/extra'), { recursive: true });
    writeFileSync(join(dir, 'packages/fresh/src/index.ts'), '');
    writeFileSync(join(dir, 'packages/fresh/src/extra/index.ts'), '');
    writeJson(join(dir, 'packages/fresh/package.json'), {
      name: '@cartkit/fresh',
      exports: {
        '.': { types: './dist/index.d.ts', default: './dist/index.js' },
        './extra': { types: './dist/extra.d.ts', default: './dist/extra.js' },
        './package.json': './package.json',
      },
    });
    mkdirSync(join(dir, 'examples/app/src'), { recursive: true });
    writeJson(join(dir, 'examples/app/package.json'), { name: '@cartkit/app', private: true });
    expect(workspaceEntries(dir)).toEqual([
      { specifier: '@cartkit/fresh', source: join(dir, 'packages/fresh/src/index.ts') },
      { specifier: '@cartkit/fresh/extra', source: join(dir, 'packages/fresh/src/extra/index.ts') },
    ]);
  });

  it('an export without a source file is an error, not a silent fall-back to dist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cartkit-ws-'));
    temps.push(dir);
    writeFileSync(join(dir, 'pnpm-workspace.yaml'), 'packages:\n  - packages/*\n');
    mkdirSync(join(dir, 'packages/broken/src'), { recursive: true });
    writeJson(join(dir, 'packages/broken/package.json'), {
      name: '@cartkit/broken',
      exports: { '.': { default: './dist/index.js' } },
    });
    expect(() => workspaceEntries(dir)).toThrow(/@cartkit\/broken: export "\." .*src\/index\.ts/);
  });

  it('vitest aliases every workspace entry to its source', () => {
    const aliases = config.resolve?.alias;
    if (!Array.isArray(aliases)) throw new Error('vitest.config.ts: resolve.alias is not a list');
    for (const { specifier, source } of entries) {
      const hits = aliases.filter((alias: { find: string | RegExp }) =>
        typeof alias.find === 'string' ? alias.find === specifier : alias.find.test(specifier),
      );
      expect(
        hits.map((alias: { replacement: string }) => alias.replacement),
        specifier,
      ).toEqual([source]);
    }
  });

  it('tsconfig.json paths resolve every workspace entry to its source', () => {
    const file = join(root, 'tsconfig.json');
    const { config: json, error } = ts.readConfigFile(file, ts.sys.readFile);
    if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
    const parsed = ts.parseJsonConfigFileContent(json, ts.sys, root);
    const from = join(root, 'test/workspace.test.ts');
    for (const { specifier, source } of entries) {
      const resolved = ts.resolveModuleName(specifier, from, parsed.options, ts.sys);
      expect(resolved.resolvedModule?.resolvedFileName, `tsconfig.json paths: ${specifier}`).toBe(
        source,
      );
    }
  });
});
