// The application entry point: the one place that loads reflect-metadata. cartkit
// binds everything as values and factories and needs no metadata, but an app that
// adds decorated classes to the same inversify container needs it loaded first.
import 'reflect-metadata';
import { ConfigError, readConfig } from './config.js';
import { StartupError } from './container.js';
import { type RunningServer, startServer } from './server.js';

async function main(): Promise<void> {
  const config = readConfig();
  // Signal handlers go in before the server starts: a signal that arrives while it
  // starts (even right after it logged "listening") must shut it down, not kill it.
  let server: RunningServer | undefined;
  let early: NodeJS.Signals | undefined;
  // SIGTERM (orchestrators, `docker stop`): drain, then close. SIGINT (Ctrl-C): close
  // now; also ends a drain in progress. Any signal while closing: exit at once.
  const onSignal = (signal: NodeJS.Signals) => {
    if (server === undefined) {
      early ??= signal;
      return;
    }
    if (server.phase === 'closing') {
      console.error(`${signal} again: exiting now`);
      process.exit(1);
    }
    const drain = signal === 'SIGTERM' && server.phase === 'running';
    server.shutdown(drain ? {} : { drainMs: 0 }).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('shutdown failed', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  server = await startServer(config);
  if (early !== undefined) onSignal(early);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else if (error instanceof StartupError)
    console.error(`cartkit example server cannot start: ${error.message}`);
  else if ((error as { code?: unknown }).code === 'EADDRINUSE') {
    console.error(`${(error as Error).message}: the port is taken; set PORT to another one.`);
  } else console.error('cartkit example server failed to start:', error);
  process.exit(1);
});
