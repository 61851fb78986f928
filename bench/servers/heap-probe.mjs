// Preloaded into a server under test (`node --expose-gc --import heap-probe.mjs`):
// on SIGUSR2 it collects garbage and appends the heap used after GC and the RSS, as
// one JSON line, to the file named by HEAP_PROBE_FILE.
import { appendFileSync } from 'node:fs';

const file = process.env.HEAP_PROBE_FILE;
if (file !== undefined && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc();
    const { heapUsed, rss } = process.memoryUsage();
    appendFileSync(file, `${JSON.stringify({ at: Date.now(), heapUsed, rss })}\n`);
  });
}
