#!/usr/bin/env node
// The consumer test: installs the packed @cartkit packages into fresh apps in a
// temporary folder outside the workspace, once with npm and once with pnpm, the
// way the package READMEs say, then in each app
//   - type-checks scripts/consumer/app.ts with `tsc` (strict) and runs it: a cart on
//     SQLite, an item added and reserved through the express router on a real server,
//     against @cartkit/testing's fake reservation service, read back;
//   - runs scripts/consumer/require-check.cjs: CommonJS require() of every entry point.
// pnpm runs the `pnpm add …` lines of every package README as written (sqlite3's build
// allowed by `--allow-build=sqlite3`, as the storage README says); @cartkit/* names
// resolve to the tarballs through pnpm `overrides`, since they are not on the registry.
// npm installs the same packages, with the tarballs given by path. A third app runs the
// storage README's line without `--allow-build=sqlite3` and checks that opening a database
// then fails with STORAGE_UNAVAILABLE saying how to fix it (scripts/consumer/skipped-build.mjs).
// Usage: node scripts/consumer-test.mjs [--packs <dir>] [--reuse] [--only npm|pnpm|pnpm-skipped-build] [--keep]
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { existingPacks, installLines, packAll, root, rootManifest, run } from './lib/workspace.mjs';

const { values: args } = parseArgs({
  options: {
    packs: { type: 'string', default: join(root, '.tmp/packs') },
    // Use the tarballs already in --packs (e.g. right after check-packages.mjs).
    reuse: { type: 'boolean', default: false },
    only: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

const started = Date.now();
const packs = args.reuse ? existingPacks(resolve(args.packs)) : packAll(resolve(args.packs));
const tarballOf = new Map(packs.map(({ pkg, tarball }) => [pkg.manifest.name, tarball]));

const base = mkdtempSync(join(tmpdir(), 'cartkit-consumer-'));
if (!relative(root, base).startsWith('..')) throw new Error(`${base} is inside the workspace`);
console.log(`== consumer apps in ${base}`);

// Child package managers must not inherit settings from a `pnpm run` around this script.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^(npm_|pnpm_)/i.test(key)),
);

// What the READMEs install, in package order.
const readmeLines = packs.flatMap(({ pkg }) =>
  installLines(readFileSync(join(pkg.path, 'README.md'), 'utf8')).map((line) => ({
    ...line,
    from: `${pkg.dir}/README.md`,
  })),
);
// The program's own tooling, at the workspace's versions.
const toolVersions = ['typescript', '@types/node', '@types/express'].map(
  (name) => `${name}@${rootManifest.devDependencies[name]}`,
);

// `pnpm-skipped-build`: the storage README's line without `--allow-build=sqlite3`, to
// check what the README says happens then (a typed error with the fix, not a crash).
const managers = ['npm', 'pnpm', 'pnpm-skipped-build'].filter(
  (m) => args.only === undefined || args.only === m,
);
try {
  // Both installs at once: each compiles sqlite3 from source, which is mostly one
  // single-threaded compiler run, so together they take about as long as one.
  console.log(
    `== installing with ${managers.join(' and ')} (compiles sqlite3; output in <app>/install.log)`,
  );
  await Promise.all(
    managers.map(async (manager) => {
      const app = join(base, manager);
      mkdirSync(app);
      writeFileSync(
        join(app, 'package.json'),
        `${JSON.stringify({ name: `cartkit-consumer-${manager}`, private: true, type: 'module' }, null, 2)}\n`,
      );
      const t0 = Date.now();
      const log = join(app, 'install.log');
      try {
        if (manager === 'pnpm') await installWithPnpm(app, log);
        else if (manager === 'npm') await installWithNpm(app, log);
        else await installSkippingBuild(app, log);
      } catch (error) {
        console.error(readFileSync(log, 'utf8').split('\n').slice(-60).join('\n'));
        throw new Error(`${manager} install failed: ${error.message}`);
      }
      console.log(`== ${manager}: installed in ${seconds(t0)}`);
    }),
  );

  for (const manager of managers) {
    const app = join(base, manager);
    if (manager === 'pnpm-skipped-build') {
      console.log(`== ${manager}: open a database`);
      cpSync(join(root, 'scripts/consumer/skipped-build.mjs'), join(app, 'skipped-build.mjs'));
      run(process.execPath, ['skipped-build.mjs'], { cwd: app, env });
      continue;
    }
    for (const file of ['app.ts', 'require-check.cjs', 'tsconfig.json']) {
      cpSync(join(root, 'scripts/consumer', file), join(app, file));
    }
    console.log(`== ${manager}: tsc --strict`);
    run(join(app, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json', '--strict'], { cwd: app, env });
    console.log(`== ${manager}: run the app`);
    run(process.execPath, ['dist/app.js'], { cwd: app, env });
    console.log(`== ${manager}: CommonJS require()`);
    run(process.execPath, ['require-check.cjs'], { cwd: app, env });
  }
  console.log(`\nConsumer test passed in ${seconds(started)}`);
} finally {
  if (args.keep) console.log(`(kept ${base})`);
  else rmSync(base, { recursive: true, force: true });
}

/** Runs a command with its output appended to `log`; rejects on failure. */
function logged(log, command, argv, cwd) {
  appendFileSync(log, `$ ${[command, ...argv].join(' ')}\n`);
  return new Promise((resolvePromise, reject) => {
    const fd = openSync(log, 'a');
    const child = spawn(command, argv, { cwd, env, stdio: ['ignore', fd, fd] });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      closeSync(fd);
      if (code === 0) resolvePromise();
      else reject(new Error(`${command} ${argv.join(' ')} exited with ${code ?? signal}`));
    });
  });
}

/** pnpm-workspace.yaml settings that resolve every @cartkit/* name to its tarball. */
function pnpmOverrides() {
  const overrides = [...tarballOf].map(([name, tarball]) => `  '${name}': 'file:${tarball}'`);
  return `overrides:\n${overrides.join('\n')}\n`;
}

/** Runs each README's `pnpm add` line as written; @cartkit/* come from the tarballs. */
async function installWithPnpm(app, log) {
  writeFileSync(join(app, 'pnpm-workspace.yaml'), pnpmOverrides());
  for (const { line, from } of readmeLines) {
    console.log(`[pnpm] $ ${line}   (${from})`);
    await logged(log, 'sh', ['-c', line], app);
  }
  await logged(log, 'pnpm', ['add', '-D', ...toolVersions], app);
  const settings = readFileSync(join(app, 'pnpm-workspace.yaml'), 'utf8');
  if (!/sqlite3/.test(settings)) {
    throw new Error(`the README's pnpm line did not allow sqlite3's build:\n${settings}`);
  }
}

/** The storage README's pnpm line with sqlite3's build not allowed. */
async function installSkippingBuild(app, log) {
  const storage = readmeLines.find(({ from }) => from === 'packages/storage-sqlite/README.md');
  if (storage === undefined)
    throw new Error('no install line in packages/storage-sqlite/README.md');
  const line = storage.line.replace(/\s*--allow-build=sqlite3/, '');
  writeFileSync(join(app, 'pnpm-workspace.yaml'), pnpmOverrides());
  console.log(`[pnpm-skipped-build] $ ${line}`);
  await logged(log, 'sh', ['-c', line], app);
}

/** Installs what the READMEs name with npm: the tarballs by path, the rest from the registry. */
async function installWithNpm(app, log) {
  const spec = (name) => tarballOf.get(name) ?? name;
  const isDev = (line) => /\s(-D|--save-dev)\b/.test(line);
  const prod = new Set(readmeLines.filter(({ line }) => !isDev(line)).flatMap((l) => l.packages));
  const dev = new Set(readmeLines.filter(({ line }) => isDev(line)).flatMap((l) => l.packages));
  const npm = ['--no-audit', '--no-fund'];
  console.log(`[npm] $ npm install ${[...prod].join(' ')}`);
  await logged(log, 'npm', ['install', ...npm, ...[...prod].map(spec)], app);
  console.log(`[npm] $ npm install -D ${[...dev].join(' ')}`);
  await logged(log, 'npm', ['install', '-D', ...npm, ...[...dev].map(spec), ...toolVersions], app);
  const binding = join(app, 'node_modules/sqlite3/build/Release/node_sqlite3.node');
  if (!existsSync(binding)) throw new Error(`npm did not build sqlite3 (${binding} missing)`);
}

function seconds(since) {
  return `${Math.round((Date.now() - since) / 1000)} s`;
}
