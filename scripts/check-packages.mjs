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
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { conventionProblems } from './lib/conventions.mjs';
import {
  existingPacks,
  output,
  packAll,
  publishablePackages,
  readJson,
  root,
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
/** Files a tarball may hold besides dist/. */
const TOP_LEVEL = new Set(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']);
const packages = publishablePackages();
for (const pkg of workspacePackages()) {
  if (pkg.manifest.private === true) console.log(`(skipping private ${pkg.dir})`);
}

// 1. Manifest and README conventions.
problems.push(...conventionProblems());

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
