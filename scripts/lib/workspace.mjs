// The publishable packages of the workspace (every `packages/*` that is not
// private) and how to pack them. Shared by check-packages.mjs and consumer-test.mjs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const rootManifest = readJson(join(root, 'package.json'));

/** `https://github.com/owner/name`, from a root manifest's `repository.url`. */
export function repoUrlOf(manifest) {
  return String(manifest.repository?.url ?? '')
    .replace(/^git\+/, '')
    .replace(/\.git$/, '');
}
export const repoUrl = repoUrlOf(rootManifest);

export function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/**
 * Every folder under `packages/` with a package.json, in name order. `private`
 * packages are returned too (callers skip them), so nothing is silently missed.
 */
export function workspacePackages(rootDir = root) {
  const base = join(rootDir, 'packages');
  return readdirSync(base, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(base, entry.name, 'package.json')))
    .map((entry) => {
      const path = join(base, entry.name);
      return {
        dir: `packages/${entry.name}`,
        folder: entry.name,
        path,
        manifest: readJson(join(path, 'package.json')),
      };
    })
    .sort((a, b) => a.manifest.name.localeCompare(b.manifest.name));
}

export function publishablePackages(rootDir = root) {
  return workspacePackages(rootDir).filter((pkg) => pkg.manifest.private !== true);
}

/** Runs a command, inheriting output; throws with the command line on failure. */
export function run(command, args, options = {}) {
  execFileSync(command, args, { stdio: 'inherit', ...options });
}

/** Runs a command and returns its stdout. */
export function output(command, args, options = {}) {
  return execFileSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
}

/**
 * Packs one package with `pnpm pack` (which runs its `prepack` script, i.e. the
 * build) into `destination` and returns the tarball's path.
 */
export function pack(pkg, destination) {
  mkdirSync(destination, { recursive: true });
  const before = new Set(readdirSync(destination));
  run('pnpm', ['pack', '--pack-destination', destination], { cwd: pkg.path });
  const made = readdirSync(destination).filter(
    (name) => name.endsWith('.tgz') && !before.has(name),
  );
  if (made.length !== 1) throw new Error(`pnpm pack in ${pkg.dir} made ${made.length} tarballs`);
  return join(destination, made[0]);
}

/** Packs every publishable package into a fresh `destination`; returns `[{pkg, tarball}]`. */
export function packAll(destination, { clean = true } = {}) {
  rmSync(destination, { recursive: true, force: true });
  return publishablePackages().map((pkg) => {
    // Without dist, a tarball can only hold a build if `prepack` made it.
    if (clean) rmSync(join(pkg.path, 'dist'), { recursive: true, force: true });
    return { pkg, tarball: pack(pkg, destination) };
  });
}

/** The tarballs `packAll` left in `destination`, for the current versions. */
export function existingPacks(destination) {
  return publishablePackages().map((pkg) => {
    const tarball = join(
      destination,
      `${pkg.manifest.name.slice(1).replace('/', '-')}-${pkg.manifest.version}.tgz`,
    );
    if (!existsSync(tarball)) throw new Error(`${tarball} is missing: pack first`);
    return { pkg, tarball };
  });
}

/** The file names in a tarball, without npm's `package/` prefix. */
export function tarballFiles(tarball) {
  return output('tar', ['-tzf', tarball])
    .split('\n')
    .filter((line) => line !== '' && !line.endsWith('/'))
    .map((line) => line.replace(/^package\//, ''));
}

/** The package.json inside a tarball. */
export function tarballManifest(tarball) {
  return JSON.parse(output('tar', ['-xzf', tarball, '-O', 'package/package.json']));
}

/** `pnpm add` lines of the first ```sh block of a README, with the packages they name. */
export function installLines(readme) {
  const block = readme.match(/^```sh\n([\s\S]*?)^```/m)?.[1] ?? '';
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line.startsWith('pnpm add '))
    .map((line) => ({
      line,
      packages: line
        .split(/\s+/)
        .slice(2)
        .filter((word) => !word.startsWith('-'))
        .map((word) => word.replace(/(.)@[^@/]*$/, '$1')),
    }));
}
