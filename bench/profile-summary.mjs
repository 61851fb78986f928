// Sums a V8 CPU profile (`node --cpu-prof`): where did the main thread's time go?
// Proportions stay meaningful on a loaded machine, where requests/s do not.
//
//   node bench/profile-summary.mjs <file.cpuprofile> [--last <seconds>] [--top <n>]
//
// --last keeps only the profile's last n seconds (leave start-up and filling out:
// profile a server, load it for 8 s with wrk, stop it, and pass --last 7.5).
// Prints three tables:
// - by owner: each sample is charged to the innermost frame that belongs to a package
//   (an npm package, or a workspace package / example), so the node internals a package
//   calls (setHeader, socket writes) count as that package's cost; express and its router
//   helpers count as "express", pino-http and pino as "pino-http (+pino)";
// - by owner and function: the same, split by that frame's function;
// - self time by function (where the CPU actually was).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { last: { type: 'string' }, top: { type: 'string', default: '25' } },
});
const [file] = positionals;
if (file === undefined) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [--last s] [--top n]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const top = Number(values.top);
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const GROUPS = {
  router: 'express',
  parseurl: 'express',
  debug: 'express',
  finalhandler: 'express',
  'on-finished': 'express',
  'path-to-regexp': 'express',
  pino: 'pino-http (+pino)',
  'pino-http': 'pino-http (+pino)',
  'pino-std-serializers': 'pino-http (+pino)',
  'sonic-boom': 'pino-http (+pino)',
};
function packageOf(node) {
  const url = node.callFrame.url;
  if (!url) return undefined;
  const npm = url.match(/node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/);
  if (npm) return GROUPS[npm[1]] ?? npm[1];
  const workspace = url.match(/\/(packages|examples|bench)\/([^/]+)\//);
  return workspace ? `${workspace[1]}/${workspace[2]}` : undefined;
}
const label = (node) => {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
};
const ownerCache = new Map();
function owner(id) {
  let found = ownerCache.get(id);
  if (found !== undefined) return found;
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const node = byId.get(cur);
    const pkg = packageOf(node);
    if (pkg !== undefined) {
      found = { pkg, fn: `${pkg}  ${label(node)}` };
      break;
    }
  }
  if (found === undefined) {
    const name = byId.get(id).callFrame.functionName;
    const pkg = name.startsWith('(') ? name : 'node (http, streams, timers)';
    found = { pkg, fn: pkg };
  }
  ownerCache.set(id, found);
  return found;
}

const span = profile.endTime - profile.startTime;
const skip = values.last === undefined ? 0 : span - Number(values.last) * 1e6;
const byOwner = new Map();
const byOwnerFn = new Map();
const bySelf = new Map();
const add = (map, key, d) => map.set(key, (map.get(key) ?? 0) + d);
let clock = 0;
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const d = profile.timeDeltas[i] ?? 0;
  clock += d;
  if (clock < skip) continue;
  total += d;
  const id = profile.samples[i];
  const o = owner(id);
  add(byOwner, o.pkg, d);
  add(byOwnerFn, o.fn, d);
  add(bySelf, label(byId.get(id)), d);
}
const print = (title, map, n) => {
  console.log(`\n== ${title}`);
  for (const [key, t] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(`${((100 * t) / total).toFixed(1).padStart(5)} %  ${key}`);
  }
};
console.log(`${file}: ${(total / 1e6).toFixed(2)} s of samples`);
print('by owner (innermost package frame)', byOwner, top);
print('by owner and function', byOwnerFn, top);
print('self time by function', bySelf, top);
