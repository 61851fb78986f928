// The static package conventions of CONTRIBUTING.md ("Package conventions"), checked
// for every publishable package under packages/* without building or packing:
// manifest metadata, prepack build, files, LICENSE, exports, peers, README install
// line and links. Used by check-packages.mjs and by scripts/test/package-conventions.test.ts
// (so `pnpm test` reports a broken convention at once).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { installLines, publishablePackages, readJson, repoUrlOf, root } from './workspace.mjs';

/** Optional peers the packages may declare; each is documented in its README. */
export const OPTIONAL_PEERS = new Set(['inversify', '@types/express']);

/**
 * Every broken convention of the workspace at `rootDir` (default: this repository),
 * as `<file>: <what is wrong and how to fix it>`.
 */
export function conventionProblems(rootDir = root) {
  const problems = [];
  const fail = (where, message) => problems.push(`${where}: ${message}`);
  const rootManifest = readJson(join(rootDir, 'package.json'));
  const repoUrl = repoUrlOf(rootManifest);
  const hasLicense = existsSync(join(rootDir, 'LICENSE'));
  if (!hasLicense) fail('LICENSE', 'the root LICENSE is missing');
  const rootLicense = hasLicense ? readFileSync(join(rootDir, 'LICENSE'), 'utf8') : '';
  if (!/^https:\/\/github\.com\/[^/]+\/[^/]+$/.test(repoUrl)) {
    fail('package.json', 'repository.url must be git+https://github.com/<owner>/<name>.git');
  }
  if (rootManifest.license !== 'MIT') fail('package.json', 'license must be MIT');
  const packages = publishablePackages(rootDir);
  const names = new Set(packages.map((pkg) => pkg.manifest.name));
  for (const pkg of packages) checkManifest(pkg);
  return problems;

  function checkManifest(pkg) {
    const { manifest: m, dir, folder } = pkg;
    const at = `${dir}/package.json`;
    const expect = (ok, message) => ok || fail(at, message);

    expect(m.name === `@cartkit/${folder}`, `name must be "@cartkit/${folder}" (the folder name)`);
    expect(/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(m.version ?? ''), 'version must be semver');
    expect(typeof m.description === 'string' && m.description.length > 10, 'needs a description');
    expect(
      Array.isArray(m.keywords) && m.keywords.includes('cartkit'),
      'keywords must include "cartkit"',
    );
    expect(m.license === 'MIT', 'license must be "MIT"');
    expect(m.type === 'module', 'type must be "module" (ESM only)');
    expect(m.sideEffects === false, 'sideEffects must be false');
    expect(
      m.engines?.node === rootManifest.engines.node,
      `engines.node must be "${rootManifest.engines.node}" like the root`,
    );
    expect(
      m.repository?.type === 'git' &&
        m.repository?.url === rootManifest.repository.url &&
        m.repository?.directory === dir,
      `repository must be { type: "git", url: "${rootManifest.repository.url}", directory: "${dir}" }`,
    );
    expect(
      m.homepage === `${repoUrl}/tree/main/${dir}#readme`,
      `homepage must be "${repoUrl}/tree/main/${dir}#readme"`,
    );
    expect(m.bugs?.url === `${repoUrl}/issues`, `bugs.url must be "${repoUrl}/issues"`);
    expect(m.publishConfig?.access === 'public', 'publishConfig.access must be "public"');
    expect(typeof m.scripts?.build === 'string', 'needs a build script');
    expect(
      m.scripts?.prepack === 'pnpm run build',
      'scripts.prepack must be "pnpm run build" (a pack always ships a fresh build)',
    );
    for (const file of ['dist', 'README.md', 'LICENSE']) {
      expect(m.files?.includes(file), `files must list "${file}"`);
    }
    expect(m.main === undefined && m.types === undefined, 'use exports, not main/types');
    const exportsMap = m.exports ?? {};
    expect(exportsMap['.'] !== undefined, 'exports must have "."');
    expect(exportsMap['./package.json'] === './package.json', 'exports must expose ./package.json');
    for (const [subpath, target] of Object.entries(exportsMap)) {
      if (subpath === './package.json') continue;
      const keys = typeof target === 'object' && target !== null ? Object.keys(target) : [];
      expect(
        keys[0] === 'types' && keys.includes('default') && keys.length === 2,
        `exports["${subpath}"] must be { types, default } with types first`,
      );
      if (subpath.endsWith('/inversify')) {
        expect(
          m.peerDependenciesMeta?.inversify?.optional === true,
          'an /inversify subpath needs inversify as an optional peer',
        );
      }
    }
    for (const peer of Object.keys(m.peerDependencies ?? {})) {
      if (m.peerDependenciesMeta?.[peer]?.optional === true) {
        expect(OPTIONAL_PEERS.has(peer), `optional peer ${peer} is not a known one`);
      }
      expect(m.devDependencies?.[peer] !== undefined, `peer ${peer} must also be a devDependency`);
    }
    for (const [dep, range] of Object.entries({ ...m.dependencies, ...m.peerDependencies })) {
      if (dep.startsWith('@cartkit/')) {
        expect(names.has(dep), `${dep} is not a publishable workspace package`);
        expect(
          range === 'workspace:^',
          `${dep} must be "workspace:^" (it becomes ^<version> when packed)`,
        );
      }
    }

    const license = join(pkg.path, 'LICENSE');
    if (!existsSync(license)) fail(dir, 'LICENSE missing: copy the root LICENSE');
    else if (readFileSync(license, 'utf8') !== rootLicense)
      fail(dir, 'LICENSE differs from the root LICENSE');

    checkReadme(pkg);
  }

  function checkReadme(pkg) {
    const { manifest: m, dir } = pkg;
    const at = `${dir}/README.md`;
    const path = join(pkg.path, 'README.md');
    if (!existsSync(path)) return fail(dir, 'README.md missing');
    const text = readFileSync(path, 'utf8');
    if (!text.startsWith(`# ${m.name}\n`)) fail(at, `must start with "# ${m.name}"`);

    // Links must work on the registry's page: absolute, or in-page anchors. Links into
    // this repository must name a file or folder that exists.
    const prose = text.replace(/^```[\s\S]*?^```/gm, '');
    const links = [
      ...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g),
      ...prose.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm),
      ...prose.matchAll(/\b(?:href|src)="([^"]+)"/g),
    ].map((match) => match[1]);
    for (const link of links) {
      if (link.startsWith('#') || link.startsWith('mailto:')) continue;
      if (!/^https?:\/\//.test(link)) {
        fail(at, `relative link "${link}" breaks once packed: use ${repoUrl}/blob/main/…`);
        continue;
      }
      const inRepo = link.match(
        /^https:\/\/github\.com\/[^/]+\/[^/]+\/(?:blob|tree)\/main\/([^#?]*)/,
      );
      if (
        link.startsWith(repoUrl) &&
        inRepo &&
        !existsSync(join(rootDir, decodeURI(inRepo[1] ?? '')))
      ) {
        fail(at, `link "${link}" names a path that does not exist in the repository`);
      }
    }

    // The install block: the first ```sh block; its `pnpm add` lines install this
    // package and its required peers (scripts/consumer-test.mjs runs them as written).
    const lines = installLines(text);
    if (lines.length === 0)
      return fail(at, 'the first ```sh block must hold the `pnpm add …` install line');
    const installed = new Set(lines.flatMap((line) => line.packages));
    if (!installed.has(m.name)) fail(at, `the install line must add ${m.name}`);
    for (const peer of Object.keys(m.peerDependencies ?? {})) {
      if (m.peerDependenciesMeta?.[peer]?.optional !== true && !installed.has(peer)) {
        fail(at, `the install line must add the required peer ${peer}`);
      }
    }
    for (const name of installed) {
      if (name.startsWith('@cartkit/') && !names.has(name))
        fail(at, `installs unknown package ${name}`);
    }
    for (const peer of Object.keys(m.peerDependencies ?? {})) {
      if (m.peerDependenciesMeta?.[peer]?.optional === true && !text.includes(peer)) {
        fail(at, `must say when the optional peer ${peer} is needed`);
      }
    }
  }
}
