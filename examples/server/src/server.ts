import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { startFakeReservationService } from '@cartkit/testing';
import { pino } from 'pino';
import { createApp } from './app.js';
import type { ServerConfig } from './config.js';
import { composeCart } from './container.js';

/** A running example server. */
export interface RunningServer {
  /** Where it listens, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  /** Graceful shutdown: readiness 503, in-flight requests finish, scheduler stops, storage closes. */
  shutdown(): Promise<void>;
}

/** Starts the example server with `config`. */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const logger = pino({ level: config.logLevel, base: { service: 'cartkit-example' } });

  let demo: Awaited<ReturnType<typeof startFakeReservationService>> | undefined;
  let reservationUrl = config.reservationUrl;
  if (reservationUrl === undefined) {
    demo = await startFakeReservationService({
      faults: { latencyMs: config.demoLatencyMs },
      logger: logger.child({ component: 'demo-reservation-service' }),
    });
    reservationUrl = demo.url;
    logger.info(
      { url: reservationUrl },
      'RESERVATION_URL not set: started the demo reservation service',
    );
  }

  if (config.databasePath !== ':memory:')
    mkdirSync(dirname(config.databasePath), { recursive: true });
  const cart = await composeCart({ databasePath: config.databasePath, reservationUrl, logger });

  let ready = true;
  const app = createApp({
    service: cart.service,
    storage: cart.storage,
    logger,
    cartIdentity: config.cartIdentity,
    rateLimitPerMinute: config.rateLimitPerMinute,
    isReady: () => ready,
  });
  const server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info(
    { url, database: config.databasePath, identity: config.cartIdentity },
    'cartkit example server listening',
  );

  let shuttingDown: Promise<void> | undefined;
  const shutdown = () => {
    shuttingDown ??= (async () => {
      const deadline = Date.now() + config.shutdownTimeoutMs;
      ready = false;
      logger.info('shutting down: finishing in-flight requests');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Responses now carry `Connection: close`; drop each connection as it goes idle.
      server.on('request', (_req, res) => res.on('finish', () => server.closeIdleConnections()));
      const force = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      force.unref();
      await closed;
      clearTimeout(force);
      await cart.close(Math.max(0, deadline - Date.now()));
      await demo?.close();
      logger.info('shut down cleanly; unfinished reservation jobs stay persisted');
    })();
    return shuttingDown;
  };
  return { url, shutdown };
}
