import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { describe } from 'vitest';

/** Debian's chromium (`apt-get install chromium`); `CARTKIT_CHROMIUM` names another. */
export const CHROMIUM_PATH = process.env.CARTKIT_CHROMIUM ?? '/usr/bin/chromium';

const found = existsSync(CHROMIUM_PATH);
if (!found) {
  if (process.env.CI === 'true') {
    throw new Error(
      `cartkit: the browser tests need chromium at ${CHROMIUM_PATH} in CI (apt-get install -y chromium)`,
    );
  }
  process.stdout.write(
    `\ncartkit: browser tests NOT RUN (skipped) — no chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)\n\n`,
  );
}

/**
 * `describe` for suites that drive a real browser: runs them when chromium is
 * installed; outside CI, without it, they report as skipped after one line saying
 * why; with CI=true a missing chromium fails the file instead.
 */
export const describeBrowser: typeof describe = describe.runIf(found) as typeof describe;

/** The flags the browser tests run chromium with (no sandbox: containers; no network chatter). */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A headless chromium with a fresh user-data-dir; `close()` removes it. */
export async function launchBrowser(): Promise<{
  context: BrowserContext;
  close: () => Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'cartkit-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
    });
    return {
      context,
      close: async () => {
        await context.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
