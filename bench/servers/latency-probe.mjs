// Preload (`node --import bench/servers/latency-probe.mjs server.js`) that records a
// timeline of what a server's main thread did, for finding where slow requests wait:
//   requests   [start, end, url]           from the `request` event to the response's `finish`
//   gc         [start, duration, kind]     every GC pause (kind 1 scavenge, 4 mark-compact, ...)
//   stalls     [start, gap]                a 1 ms interval timer that fired more than 3 ms late
//   sql        [call, callback, connection, first words, main-thread ms]
//                                          every sqlite3 `Database#all` (what @keyv/sqlite runs);
//                                          the last field is the synchronous part of the call
//   writes     [call, callback, bytes]     every asynchronous `fs.write` (pino's log destination)
//   loopDelay  monitorEventLoopDelay percentiles (ms)
// Times are epoch milliseconds (performance.timeOrigin + now), comparable across processes.
// SIGUSR2 writes everything recorded since the previous SIGUSR2 to $LATENCY_PROBE_OUT as
// JSON, starts afresh and prints `latency-probe: window` to stderr. sqlite3 is resolved from $LATENCY_PROBE_SQLITE_FROM (a file in
// the package that depends on it, e.g. @keyv/sqlite's package.json). Used by
// bench/micro/reserve-tail.mjs; it costs some CPU of its own, so compare like with like.
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';

const origin = performance.timeOrigin;
const now = () => origin + performance.now();
let t = fresh();
function fresh() {
  return { requests: [], gc: [], stalls: [], sql: [], writes: [] };
}
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) t.gc.push([origin + e.startTime, e.duration, e.detail?.kind]);
}).observe({ entryTypes: ['gc'] });

let last = performance.now();
setInterval(() => {
  const at = performance.now();
  if (at - last > 3) t.stalls.push([origin + last, at - last]);
  last = at;
}, 1).unref();

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, ...args) {
  if (event === 'request') {
    const [req, res] = args;
    const start = now();
    const url = req.url;
    res.once('finish', () => t.requests.push([start, now(), url]));
  }
  return emit.call(this, event, ...args);
};

if (process.env.LATENCY_PROBE_SQLITE_FROM !== undefined) {
  const sqlite3 = createRequire(fs.realpathSync(process.env.LATENCY_PROBE_SQLITE_FROM))('sqlite3');
  const connections = new WeakMap();
  let opened = 0;
  const all = sqlite3.Database.prototype.all;
  sqlite3.Database.prototype.all = function (sql, ...rest) {
    // Numbered in order of first use: the writer runs the schema first, so it is 0.
    if (!connections.has(this)) connections.set(this, opened++);
    const conn = connections.get(this);
    const callback = rest.pop();
    const call = now();
    let sync = 0;
    const words = String(sql).replace(/\s+/g, ' ').trim().split(' ').slice(0, 3).join(' ');
    all.call(this, sql, ...rest, function (...args) {
      t.sql.push([call, now(), conn, words, sync]);
      return callback.apply(this, args);
    });
    sync = now() - call;
    return this;
  };
}
const write = fs.write;
fs.write = (fd, buffer, ...rest) => {
  const callback = rest.pop();
  const call = now();
  const bytes = typeof buffer === 'string' ? Buffer.byteLength(buffer) : buffer.byteLength;
  return write.call(fs, fd, buffer, ...rest, (...args) => {
    t.writes.push([call, now(), bytes]);
    return callback(...args);
  });
};

process.on('SIGUSR2', () => {
  const loopDelay = { max: delay.max / 1e6, mean: delay.mean / 1e6 };
  for (const p of [50, 90, 99, 99.9]) loopDelay[`p${p}`] = delay.percentile(p) / 1e6;
  fs.writeFileSync(process.env.LATENCY_PROBE_OUT, JSON.stringify({ ...t, loopDelay }));
  t = fresh();
  delay.reset();
  // A mark in the process's output, e.g. between the lines of --trace-gc-nvp.
  process.stderr.write('latency-probe: window\n');
});
