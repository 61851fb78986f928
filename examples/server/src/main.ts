// The application entry point: the one place that loads reflect-metadata. cartkit
// binds everything as values and factories and needs no metadata, but an app that
// adds decorated classes to the same inversify container needs it loaded first.
import 'reflect-metadata';
import { ConfigError, readConfig } from './config.js';
import { startServer } from './server.js';

async function main(): Promise<void> {
  const config = readConfig();
  const server = await startServer(config);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      console.error(`${signal} again: exiting now`);
      process.exit(1);
    }
    server.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('shutdown failed', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else if ((error as { code?: unknown }).code === 'EADDRINUSE') {
    console.error(`${(error as Error).message}: the port is taken; set PORT to another one.`);
  } else console.error('cartkit example server failed to start:', error);
  process.exit(1);
});
