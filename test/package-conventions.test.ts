import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { conventionProblems } from '../scripts/lib/conventions.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));

// The static half of `pnpm check:packages` (no build, no pack), so that `pnpm test`
// reports a broken package convention at once. The packing half runs in CI.
describe('package conventions (CONTRIBUTING.md)', () => {
  it('hold for every publishable package under packages/*', () => {
    expect(conventionProblems()).toEqual([]);
  });

  describe('catch what breaks a published package', () => {
    // A copy of the workspace's root files and one package, then broken on purpose.
    const copy = mkdtempSync(join(tmpdir(), 'cartkit-conventions-'));
    afterAll(() => rmSync(copy, { recursive: true, force: true }));
    for (const file of ['package.json', 'LICENSE', 'README.md', 'CONTRIBUTING.md']) {
      cpSync(join(root, file), join(copy, file));
    }
    cpSync(join(root, 'docs'), join(copy, 'docs'), { recursive: true });
    for (const name of ['core', 'storage-sqlite']) {
      for (const file of ['package.json', 'LICENSE', 'README.md']) {
        cpSync(join(root, 'packages', name, file), join(copy, 'packages', name, file));
      }
    }
    const pkg = join(copy, 'packages/storage-sqlite');

    it('accepts the unbroken copy', () => {
      expect(conventionProblems(copy)).toEqual([]);
    });

    it('reports each broken convention, naming the file', () => {
      const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
      delete manifest.scripts.prepack;
      delete manifest.repository.directory;
      manifest.files = ['dist'];
      delete manifest.peerDependenciesMeta;
      writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest));
      writeFileSync(join(pkg, 'LICENSE'), 'ISC');
      const readme = readFileSync(join(pkg, 'README.md'), 'utf8')
        .replace('https://github.com/cartkit/cartkit#readme', '../../README.md')
        .replace('docs/embedding.md#installation', 'docs/no-such-guide.md')
        .replace('pnpm add @cartkit/core @cartkit/storage-sqlite', 'pnpm add @cartkit/core');
      writeFileSync(join(pkg, 'README.md'), readme);

      const problems = conventionProblems(copy).join('\n');
      expect(problems).toMatch(/package\.json: scripts\.prepack must be "pnpm run build"/);
      expect(problems).toMatch(/package\.json: repository must be .*directory/);
      expect(problems).toMatch(/package\.json: files must list "README\.md"/);
      expect(problems).toMatch(/package\.json: files must list "LICENSE"/);
      expect(problems).toMatch(/an \/inversify subpath needs inversify as an optional peer/);
      expect(problems).toMatch(/packages\/storage-sqlite: LICENSE differs from the root LICENSE/);
      expect(problems).toMatch(
        /README\.md: relative link "\.\.\/\.\.\/README\.md" breaks once packed/,
      );
      expect(problems).toMatch(
        /README\.md: link ".*docs\/no-such-guide\.md" names a path that does not exist/,
      );
      expect(problems).toMatch(/README\.md: the install line must add @cartkit\/storage-sqlite/);
    });
  });
});
