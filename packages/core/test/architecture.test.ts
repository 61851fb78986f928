import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const packages = readdirSync(join(root, 'packages')).filter((name) =>
  statSync(join(root, 'packages', name, 'src')).isDirectory(),
);

describe('architecture rules', () => {
  it('no library package imports reflect-metadata or uses decorators', () => {
    for (const name of packages) {
      for (const file of sourceFiles(join(root, 'packages', name, 'src'))) {
        const text = readFileSync(file, 'utf8');
        expect(text, relative(root, file)).not.toMatch(
          /from ['"]reflect-metadata['"]|import ['"]reflect-metadata['"]/,
        );
        expect(text, relative(root, file)).not.toMatch(/^\s*@(injectable|inject)\b/m);
      }
    }
  });

  it('core imports no adapter, framework or driver, and inversify only in its composition entry', () => {
    const forbidden =
      /from ['"](express|got|keyv|@keyv\/[\w-]+|sqlite3|@cartkit\/(?!core)[\w-]+)['"]/;
    for (const file of sourceFiles(join(root, 'packages/core/src'))) {
      const text = readFileSync(file, 'utf8');
      const rel = relative(root, file);
      expect(text, rel).not.toMatch(forbidden);
      if (!rel.includes('/inversify/')) expect(text, rel).not.toMatch(/from ['"]inversify['"]/);
    }
  });
});
