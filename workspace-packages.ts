import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One importable specifier of a workspace package and the source file it builds from. */
export interface WorkspaceEntry {
  /** The bare specifier users import, e.g. `@cartkit/core/inversify`. */
  readonly specifier: string;
  /** Absolute path of the TypeScript source behind it. */
  readonly source: string;
}

const here = fileURLToPath(new URL('.', import.meta.url));

/** The folders `pnpm-workspace.yaml` lists (only `dir/*` globs and plain folders are used here). */
export function workspaceFolders(root: string = here): string[] {
  const yaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const section = /^packages:\s*\n((?:[ \t]+-.*\n?)+)/m.exec(yaml);
  if (!section?.[1]) throw new Error('pnpm-workspace.yaml has no packages list');
  const globs = [...section[1].matchAll(/-\s*['"]?([^'"\s#]+)['"]?/g)].map((m) => m[1] ?? '');
  return globs.flatMap((glob) => {
    if (glob.endsWith('/*')) {
      const parent = join(root, glob.slice(0, -2));
      if (!existsSync(parent)) return [];
      return readdirSync(parent)
        .map((name) => join(parent, name))
        .filter((dir) => statSync(dir).isDirectory() && existsSync(join(dir, 'package.json')));
    }
    if (glob.includes('*')) throw new Error(`unsupported workspace glob: ${glob}`);
    return [join(root, glob)];
  });
}

/**
 * Every `exports` subpath of every workspace package, mapped to its source: an export whose
 * built file is `dist/<stem>.js` comes from `src/<stem>.ts` or `src/<stem>/index.ts` (the tsup
 * entry of the same name). Packages without `exports` (the example apps) are not importable and
 * have no entries. Throws when an export has no source file, so a mistake cannot silently fall
 * back to a stale `dist`.
 */
export function workspaceEntries(root: string = here): WorkspaceEntry[] {
  const entries: WorkspaceEntry[] = [];
  for (const dir of workspaceFolders(root)) {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name?: string;
      exports?: Record<string, unknown>;
    };
    if (!manifest.name || !manifest.exports) continue;
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (subpath.endsWith('.json')) continue;
      const built =
        typeof target === 'string'
          ? target
          : ((target as { default?: unknown; import?: unknown }).default ??
            (target as { import?: unknown }).import);
      if (typeof built !== 'string') {
        throw new Error(`${manifest.name}: export "${subpath}" has no default/import target`);
      }
      const stem = basename(built).replace(/\.[cm]?js$/, '');
      const candidates = [join(dir, 'src', `${stem}.ts`), join(dir, 'src', stem, 'index.ts')];
      const source = candidates.find((file) => existsSync(file));
      if (!source) {
        throw new Error(
          `${manifest.name}: export "${subpath}" (${built}) has no source; expected one of ${candidates
            .map((file) => relative(root, file))
            .join(', ')}`,
        );
      }
      entries.push({
        specifier: subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`,
        source,
      });
    }
  }
  return entries;
}

/** `tsconfig.json` `paths` for the workspace entries, relative to `root`. */
export function workspaceTsconfigPaths(root: string = here): Record<string, string[]> {
  return Object.fromEntries(
    workspaceEntries(root).map(({ specifier, source }) => [
      specifier,
      [`./${relative(root, source).split('\\').join('/')}`],
    ]),
  );
}
