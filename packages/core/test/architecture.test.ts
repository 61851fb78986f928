import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const coreSrc = join(root, 'packages/core/src');

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

/** Every module specifier a file names: static, type-only, re-exports, `import()` and `require()`. */
function importsOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((ref) => ref.fileName);
}

/**
 * What core's source may import — an allowlist, so anything new (`pg`, `bullmq`, `zod`, another
 * `@cartkit/*` package, a bare `crypto`) fails until it is argued for here:
 * - `node:` builtins;
 * - its own files (relative paths that stay inside `packages/core/src`);
 * - `inversify`, only from the composition entry `src/inversify/` (an optional peer).
 * Returns the violations, one line each.
 */
function coreImportViolations(file: string, text: string): string[] {
  const rel = relative(root, file);
  const inComposition = file.startsWith(join(coreSrc, 'inversify') + sep);
  return importsOf(text).flatMap((specifier) => {
    if (specifier.startsWith('node:')) {
      return builtinModules.includes(specifier.slice(5))
        ? []
        : [`${rel}: unknown builtin ${specifier}`];
    }
    if (specifier.startsWith('./') || specifier.startsWith('../')) {
      const target = resolve(dirname(file), specifier);
      return target.startsWith(coreSrc + sep)
        ? []
        : [`${rel}: ${specifier} leaves packages/core/src`];
    }
    if (specifier === 'inversify' && inComposition) return [];
    return [`${rel}: imports ${specifier}`];
  });
}

describe('architecture rules', () => {
  it('no library package imports reflect-metadata or uses decorators', () => {
    for (const name of packages) {
      for (const file of sourceFiles(join(root, 'packages', name, 'src'))) {
        const text = readFileSync(file, 'utf8');
        expect(importsOf(text), relative(root, file)).not.toContain('reflect-metadata');
        expect(text, relative(root, file)).not.toMatch(/^\s*@(injectable|inject)\b/m);
      }
    }
  });

  it('core imports only node: builtins and its own files (inversify only in its composition entry)', () => {
    const violations = sourceFiles(coreSrc).flatMap((file) =>
      coreImportViolations(file, readFileSync(file, 'utf8')),
    );
    expect(violations).toEqual([]);
  });

  it('the allowlist refuses anything not on it', () => {
    const service = join(coreSrc, 'service/cart-service.ts');
    const composition = join(coreSrc, 'inversify/index.ts');
    expect(existsSync(composition)).toBe(true);
    const refused = [
      "import { Pool } from 'pg';",
      "import type { Queue } from 'bullmq';",
      "export { z } from 'zod';",
      "const redis = await import('ioredis');",
      "import { randomUUID } from 'crypto';",
      "import { createExpressCartRouter } from '@cartkit/express';",
      "import { x } from '../../express/src/index.js';",
      "import 'reflect-metadata';",
      "import { Container } from 'inversify';",
      "import { x } from 'node:nonexistent';",
    ];
    for (const line of refused) {
      expect(coreImportViolations(service, line), line).toHaveLength(1);
    }
    expect(
      coreImportViolations(
        service,
        "import { randomUUID } from 'node:crypto';\nimport type { Cart } from '../domain/cart.js';",
      ),
    ).toEqual([]);
    expect(
      coreImportViolations(composition, "import { ContainerModule } from 'inversify';"),
    ).toEqual([]);
  });
});
