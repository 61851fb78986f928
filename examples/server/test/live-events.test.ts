import { afterEach, describe, expect, it } from 'vitest';
import { openEventStream } from '../../../packages/express/test/support/sse-client.js';
import type { RunningServer } from '../src/server.js';
import { describeBrowser, launchBrowser } from './support/browser.js';
import { startTestServer } from './support/in-process-server.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The example server in this process, on memory storage, with a long shutdown bound. */
async function start(): Promise<RunningServer> {
  // Far beyond the test's time limit: a shutdown that waited for the streams fails it.
  return startTestServer(cleanups, { SHUTDOWN_TIMEOUT_MS: '600000' });
}

async function addItem(url: string, name: string): Promise<void> {
  const res = await fetch(`${url}/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  expect(res.status).toBe(201);
}

describe('example server: GET /events', () => {
  it('streams the changes made through it', async () => {
    const server = await start();
    const stream = await openEventStream(`${server.url}/events`);
    cleanups.push(stream.close);
    expect(stream.status).toBe(200);
    await stream.parser.waitFor((f) => f.event === 'ready');
    await addItem(server.url, 'Kiwi');
    const change = await stream.parser.waitFor((f) => f.event === 'change');
    expect(change.data).toMatchObject({ kind: 'item-added', itemName: 'Kiwi', version: 1 });
    expect(change.id).toBe('1');
  });

  it('ends open event streams when it shuts down, instead of waiting for them', async () => {
    const server = await start();
    const streams = [
      await openEventStream(`${server.url}/events`),
      await openEventStream(`${server.url}/events`),
    ];
    for (const stream of streams) {
      cleanups.push(stream.close);
      await stream.parser.waitFor((f) => f.event === 'ready');
    }
    // Resolves only once the HTTP server has closed: held open streams would keep it
    // waiting for SHUTDOWN_TIMEOUT_MS (10 minutes here).
    await server.shutdown({ drainMs: 0 });
    for (const stream of streams) await stream.parser.waitForEnd();
  });
});

describeBrowser('example server: a browser watching its cart', () => {
  it("sees, through EventSource('/events'), the change a POST made", async () => {
    const server = await start();
    const browser = await launchBrowser();
    cleanups.push(browser.close);
    const page = await browser.context.newPage();
    // A page of the server's origin (so '/events' is same-origin for its CSP).
    await page.goto(`${server.url}/health/live`);
    await page.evaluate(() => {
      const seen: Array<{ type: string; id: string; data: unknown }> = [];
      (globalThis as unknown as { seen: typeof seen }).seen = seen;
      const source = new EventSource('/events');
      for (const type of ['ready', 'change', 'resync']) {
        source.addEventListener(type, (event) => {
          const message = event as unknown as { lastEventId: string; data: string };
          seen.push({ type, id: message.lastEventId, data: JSON.parse(message.data) });
        });
      }
    });
    await page.waitForFunction(() =>
      (globalThis as unknown as { seen: Array<{ type: string }> }).seen.some(
        (e) => e.type === 'ready',
      ),
    );
    await addItem(server.url, 'Seen in the browser');
    const change = await page.waitForFunction(() =>
      (
        globalThis as unknown as { seen: Array<{ type: string; data: { itemName?: string } }> }
      ).seen.find((e) => e.type === 'change' && e.data.itemName === 'Seen in the browser'),
    );
    expect(await change.jsonValue()).toMatchObject({
      type: 'change',
      id: '1',
      data: { version: 1, kind: 'item-added', itemName: 'Seen in the browser' },
    });
  });
});
