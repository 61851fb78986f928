import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import {
  clientErrorListener,
  connectListener,
  expectationListener,
  expressServerClasses,
  problemRequestListener,
} from '@cartkit/express';
import { startFakeReservationService } from '@cartkit/testing';
import { pino } from 'pino';
import { createApp } from './app.js';
import { isLoopback, type ServerConfig } from './config.js';
import { composeCart } from './container.js';

/** Where a server is in its life: serving, draining (still serving, not ready), or closing. */
export type ServerPhase = 'running' | 'draining' | 'closing';

/** Options of {@link RunningServer.shutdown}. */
export interface ShutdownOptions {
  /**
   * How long to keep serving (readiness 503, `Connection: close` on every response)
   * before closing. Default: the configured `SHUTDOWN_DRAIN_MS`. Calling `shutdown`
   * again with `0` during the drain ends it at once.
   */
  readonly drainMs?: number;
}

/** A running example server. */
export interface RunningServer {
  /** Where it listens, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  /** `running`, then `draining` once shutdown began, then `closing` after the drain. */
  readonly phase: ServerPhase;
  /**
   * Graceful shutdown. Drain: readiness answers 503 and every response closes its
   * connection, while new connections are still accepted and served, so a load
   * balancer sees the instance leave before it goes. Then close: stop accepting,
   * let in-flight requests finish (bounded by `SHUTDOWN_TIMEOUT_MS`), stop the
   * scheduler, close the storage. Resolves when all is closed; repeated calls share it.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
}

/** Options of {@link startServer} that are not configuration. */
export interface StartOptions {
  /** The file descriptor the logs are written to. Default: 1 (stdout). */
  readonly logFd?: number;
}

/** Starts the example server with `config`. */
export async function startServer(
  config: ServerConfig,
  options: StartOptions = {},
): Promise<RunningServer> {
  // Asynchronous writes (sonic-boom): a log line does not block the request that
  // logs it; lines written while one write is in flight go out together. Shutdown
  // waits until every line is written (`flush`), and pino writes whatever is left
  // synchronously when the process exits. `minLength: 1` writes each line at once,
  // as the default 0 does, but makes `flush(cb)` wait for the writes in flight
  // (with 0, sonic-boom's flush does nothing and calls back at once).
  const destination = pino.destination({ dest: options.logFd ?? 1, sync: false, minLength: 1 });
  const logger = pino(
    { level: config.logLevel, base: { service: 'cartkit-example' } },
    destination,
  );

  let demo: Awaited<ReturnType<typeof startFakeReservationService>> | undefined;
  let reservationUrl = config.reservationUrl;
  if (reservationUrl === undefined) {
    demo = await startFakeReservationService({
      faults: { latencyMs: config.demoLatencyMs },
      // It runs as long as the server: remember a bounded number of idempotency
      // keys (the default, unbounded, suits tests that count calls per key).
      maxKeys: 10_000,
      logger: logger.child({ component: 'demo-reservation-service' }),
    });
    reservationUrl = demo.url;
    logger.info(
      { url: reservationUrl },
      'RESERVATION_URL not set: started the demo reservation service',
    );
  }

  if (config.storage === 'sqlite' && config.databasePath !== ':memory:')
    mkdirSync(dirname(config.databasePath), { recursive: true });
  const cart = await composeCart({
    storage: config.storage,
    databasePath: config.databasePath,
    postgresUrl: config.postgresUrl,
    redisUrl: config.redisUrl,
    jobLockMs: config.jobLockMs,
    reservationUrl,
    logger,
  });

  let ready = true;
  const closing = new AbortController();
  const app = createApp({
    service: cart.service,
    storage: cart.storage,
    changeFeed: cart.changeFeed,
    shutdownSignal: closing.signal,
    logger,
    cartIdentity: config.cartIdentity,
    cookieIdentity: config.cookieIdentity,
    jwtIdentity: config.jwtIdentity,
    rateLimitPerMinute: config.rateLimitPerMinute,
    idempotencyLeaseMs: config.idempotencyLeaseMs,
    isReady: () => ready,
  });
  const server = createServer(
    {
      // Requests and responses are created with express's prototypes in place, so
      // express does not have to change them on every request (costly in V8).
      ...expressServerClasses(app),
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.headersTimeoutMs,
      keepAliveTimeout: config.keepAliveTimeoutMs,
      // How often Node checks the two timeouts above (its default, 30 s, would let a
      // slow client outlive a short timeout by that much).
      connectionsCheckingInterval: checkingInterval(config),
      // problemRequestListener answers a missing (or repeated) Host with problem+json;
      // Node's own check would answer a bare 400 first.
      requireHostHeader: false,
    },
    // What the app leaves unanswered (a request target express cannot parse skips
    // every middleware) gets problem+json, not express's HTML page.
    problemRequestListener(app, { logger }),
  );
  // What Node's parser refuses before any request exists (headers over 16 KiB, a
  // timeout, malformed HTTP) gets problem+json too, not a bare status line.
  server.on('clientError', clientErrorListener({ logger }));
  // CONNECT (a proxy tunnel) would otherwise have its connection closed unanswered.
  server.on('connect', connectListener({ logger }));
  // An Expect header other than 100-continue: Node would answer a bare 417 itself.
  server.on('checkExpectation', expectationListener({ logger }));
  // Set as properties too: they are what the server consults.
  server.requestTimeout = config.requestTimeoutMs;
  server.headersTimeout = config.headersTimeoutMs;
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info(
    {
      url,
      database:
        config.storage === 'memory'
          ? 'memory'
          : config.storage === 'postgres'
            ? redactPassword(config.postgresUrl ?? '')
            : config.databasePath,
      scheduler:
        config.redisUrl === undefined ? 'timer' : `bullmq ${redactPassword(config.redisUrl)}`,
      changeFeed: config.redisUrl === undefined ? 'memory' : 'redis',
      identity: config.cartIdentity,
    },
    'cartkit example server listening',
  );
  if (config.cartIdentity === 'header' && !isLoopback(config.host)) {
    logger.warn(
      { host: config.host },
      'CART_IDENTITY=header off loopback: any client can act on any cart by naming it in X-Cart-Id (a development stand-in, not authentication; use cookie or jwt)',
    );
  }

  let phase: ServerPhase = 'running';
  let endDrain: (() => void) | undefined;
  let shuttingDown: Promise<void> | undefined;
  const shutdown = (options: ShutdownOptions = {}) => {
    const drainMs = options.drainMs ?? config.shutdownDrainMs;
    if (drainMs === 0) endDrain?.();
    shuttingDown ??= (async () => {
      phase = 'draining';
      ready = false;
      // Still accepting and serving: a load balancer learns from readiness (503) that
      // this instance is leaving, and keep-alive clients are told to reconnect
      // (`Connection: close`, set by the app while not ready) — elsewhere, by then.
      logger.info({ drainMs }, 'shutting down: draining (readiness 503, still serving)');
      if (drainMs > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, drainMs);
          endDrain = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      phase = 'closing';
      const deadline = Date.now() + config.shutdownTimeoutMs;
      logger.info('shutting down: closing (no new connections; in-flight requests finish)');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Event streams never finish on their own: end them (clients reconnect elsewhere
      // with their Last-Event-ID), or they would hold the close up to the timeout.
      closing.abort();
      server.closeIdleConnections();
      // Responses carry `Connection: close`; drop each connection as it goes idle.
      server.on('request', (_req, res) => res.on('finish', () => server.closeIdleConnections()));
      const force = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      force.unref();
      await closed;
      clearTimeout(force);
      await cart.close(Math.max(0, deadline - Date.now()));
      await demo?.close();
      logger.info('shut down cleanly; unfinished reservation tasks stay in the outbox');
      // Every line logged so far written out (a slow stdout may still hold some),
      // within what is left of the shutdown bound.
      await logsWritten(destination, Math.max(0, deadline - Date.now()));
    })();
    return shuttingDown;
  };
  return {
    url,
    get phase() {
      return phase;
    },
    shutdown,
  };
}

/**
 * Resolves once the lines given to `destination` so far are written (a write error
 * counts as done: nothing more can be written), or after `limitMs`.
 */
function logsWritten(
  destination: ReturnType<typeof pino.destination>,
  limitMs: number,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, limitMs);
    timer.unref();
    destination.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Check the request and header timeouts often enough for them to hold to within ~25 %. */
function checkingInterval(config: ServerConfig): number {
  const timeouts = [config.headersTimeoutMs, config.requestTimeoutMs].filter((ms) => ms > 0);
  return Math.max(50, Math.min(1_000, Math.floor(Math.min(...timeouts) / 4)));
}

/** A URL with its password replaced by `***`, for logs. */
function redactPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid URL>';
  }
}
