#!/usr/bin/env node
// Checks that every publishable package under packages/* is ready to publish:
//   1. its manifest follows the conventions of CONTRIBUTING.md (metadata, files,
//      prepack build, LICENSE, exports, optional peers, README install line and links);
//   2. `pnpm pack` (running the package's own prepack build from a removed dist/)
//      produces a tarball holding exactly dist/ + package.json, README.md, LICENSE
//      (+ CHANGELOG.md), with every export target present and no `workspace:` range;
//   3. the tarball passes publint (strict) and @arethetypeswrong/cli
//      (`--profile esm-only`: ESM-only packages; see CONTRIBUTING.md);
//   4. `pnpm publish -r --dry-run` succeeds.
// New packages are covered automatically. Usage:
//   node scripts/check-packages.mjs [--packs <dir>] [--no-publish-dry-run]
// The tarballs are left in <dir> (default .tmp/packs) for scripts/consumer-test.mjs.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import {
  existingPacks,
  installLines,
  output,
  packAll,
  publishablePackages,
  readJson,
  repoUrl,
  root,
  rootManifest,
  run,
  tarballFiles,
  tarballManifest,
  workspacePackages,
} from './lib/workspace.mjs';

const { values: args } = parseArgs({
  options: {
    packs: { type: 'string', default: join(root, '.tmp/packs') },
    'no-publish-dry-run': { type: 'boolean', default: false },
    // For iterating on this script: check the tarballs already in --packs.
    reuse: { type: 'boolean', default: false },
  },
});

const problems = [];
const fail = (where, message) => problems.push(`${where}: ${message}`);
const rootLicense = readFileSync(join(root, 'LICENSE'), 'utf8');
/** Files a tarball may hold besides dist/. */
const TOP_LEVEL = new Set(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']);
/** Optional peers the packages may declare; each is documented in its README. */
const OPTIONAL_PEERS = new Set(['inversify', '@types/express']);

if (!/^https:\/\/github\.com\/[^/]+\/[^/]+$/.test(repoUrl)) {
  fail('package.json', `repository.url must be git+https://github.com/<owner>/<name>.git`);
}
if (rootManifest.license !== 'MIT') fail('package.json', 'license must be MIT');

const packages = publishablePackages();
const names = new Set(packages.map((pkg) => pkg.manifest.name));
for (const pkg of workspacePackages()) {
  if (pkg.manifest.private === true) console.log(`(skipping private ${pkg.dir})`);
}

// 1. Manifest and README conventions.
for (const pkg of packages) checkManifest(pkg);

// 2–3. Pack from a clean dist/, then look inside each tarball.
console.log(`\n== packing ${packages.length} packages (prepack builds each)`);
const packed = args.reuse ? existingPacks(resolve(args.packs)) : packAll(resolve(args.packs));
for (const { pkg, tarball } of packed) await checkTarball(pkg, tarball);

// 4. A dry-run publish of the whole workspace (dist/ is fresh from the step above).
if (!args['no-publish-dry-run'] && problems.length === 0) {
  console.log('\n== pnpm publish -r --dry-run');
  try {
    run('pnpm', ['publish', '-r', '--dry-run', '--no-git-checks', '--ignore-scripts'], {
      cwd: root,
    });
  } catch (error) {
    fail('pnpm publish -r --dry-run', error.message);
  }
}

if (problems.length > 0) {
  console.error(`\n${problems.length} package problem(s):\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log(`\nAll ${packages.length} packages are ready to publish; tarballs in ${args.packs}`);

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
    if (link.startsWith(repoUrl) && inRepo && !existsSync(join(root, decodeURI(inRepo[1] ?? '')))) {
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

async function checkTarball(pkg, tarball) {
  const at = `${pkg.dir} (packed)`;
  const files = tarballFiles(tarball);
  for (const file of files) {
    if (!file.startsWith('dist/') && !TOP_LEVEL.has(file)) fail(at, `ships ${file}`);
    if (/\.test\.|\/test\//.test(file)) fail(at, `ships a test file: ${file}`);
  }
  for (const file of ['package.json', 'README.md', 'LICENSE']) {
    if (!files.includes(file)) fail(at, `does not ship ${file}`);
  }
  const manifest = tarballManifest(tarball);
  for (const target of exportTargets(manifest.exports)) {
    if (!files.includes(target.replace(/^\.\//, '')))
      fail(at, `export target ${target} is not in the tarball`);
  }
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
      if (String(range).startsWith('workspace:')) fail(at, `${field}.${dep} is still "${range}"`);
      if (dep.startsWith('@cartkit/')) {
        const version = readJson(
          join(root, 'packages', dep.slice('@cartkit/'.length), 'package.json'),
        ).version;
        if (range !== `^${version}`)
          fail(at, `${field}.${dep} is "${range}", expected "^${version}"`);
      }
    }
  }

  const { messages } = await publint({
    pack: { tarball: readFileSync(tarball).buffer },
    strict: true,
  });
  for (const message of messages) {
    fail(at, `publint ${message.type}: ${formatMessage(message, manifest, { color: false })}`);
  }

  try {
    output(
      join(root, 'node_modules/.bin/attw'),
      [tarball, '--profile', 'esm-only', '--format', 'ascii', '--no-color'],
      {
        cwd: root,
      },
    );
  } catch (error) {
    fail(
      at,
      `@arethetypeswrong/cli --profile esm-only:\n${error.stdout ?? ''}${error.stderr ?? ''}`,
    );
  }
  console.log(`checked ${pkg.manifest.name}: ${files.length} files`);
}

function exportTargets(value) {
  if (typeof value === 'string') return [value];
  if (value === null || typeof value !== 'object') return [];
  return Object.values(value).flatMap(exportTargets);
}
