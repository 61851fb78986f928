import { STATUS_CODES } from 'node:http';
import {
  type CartService,
  type CartStorage,
  type ChangeFeed,
  ErrorCode,
  ValidationError,
} from '@cartkit/core';
import {
  createCartRouter,
  problemErrorHandler,
  type ResolveCartId,
  UnauthorizedError,
} from '@cartkit/express';
import express, { type Express, type RequestHandler, type Response } from 'express';
import type { Logger as PinoLogger } from 'pino';
import type { CartIdentity, CookieIdentityConfig, JwtIdentityConfig } from './config.js';
import { identityResolver } from './identity.js';
import { assignRequestId } from './request-id.js';
import { requestLogging } from './request-log.js';
import { securityHeaderWriter } from './security-headers.js';

/** What the HTTP app needs. */
export interface AppDependencies {
  readonly service: CartService;
  readonly storage: CartStorage;
  /** The feed the service publishes to: `GET /events` streams from it (absent without). */
  readonly changeFeed?: ChangeFeed;
  /** Aborted when the server starts closing: open event streams end. */
  readonly shutdownSignal?: AbortSignal;
  readonly logger: PinoLogger;
  readonly cartIdentity: CartIdentity;
  /** With `cartIdentity: 'cookie'`: the signed guest cookie's settings. */
  readonly cookieIdentity?: CookieIdentityConfig | undefined;
  /** With `cartIdentity: 'jwt'`: how bearer tokens are verified. */
  readonly jwtIdentity?: JwtIdentityConfig | undefined;
  readonly rateLimitPerMinute: number;
  /** How long a request holds its `Idempotency-Key` before a retry may take it over. */
  readonly idempotencyLeaseMs?: number;
  /** False once shutdown has begun: readiness answers 503. */
  readonly isReady: () => boolean;
}

/**
 * Per-client carts from the `X-Cart-Id` header (a stand-in for a session or token).
 * Several `X-Cart-Id` lines are refused: Node would join them into one id (`a, b`),
 * naming a third cart instead of either.
 */
const cartFromHeader: ResolveCartId = (req) => {
  // The usual case without `headersDistinct` (which copies every header of the
  // request): Node joins repeated lines with ", ", so a value without a comma came
  // from exactly one line.
  const joined = req.headers['x-cart-id'];
  if (typeof joined === 'string' && !joined.includes(',')) return joined;
  const values = req.headersDistinct['x-cart-id'];
  if (values === undefined) {
    throw new UnauthorizedError('Send an X-Cart-Id header naming your cart.', {
      challenge: 'CartId realm="cartkit-example"',
    });
  }
  if (values.length > 1) {
    throw new ValidationError(
      ErrorCode.INVALID_CART_ID,
      `Send one X-Cart-Id header, not ${values.length}.`,
    );
  }
  return values[0];
};

/**
 * The example server's express app: request ids, structured request logs,
 * security headers, liveness and readiness, a per-client write rate limit, and
 * the cartkit routes at `/` (with `GET /events`, the cart's changes live).
 */
export function createApp(deps: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  // What every request gets, in one middleware (each express layer costs a match,
  // a `next()` and a check of its return value per request): its id, its log line,
  // `Connection: close` while draining — busy keep-alive connections then finish their
  // request and go away instead of taking new ones — and helmet's default headers,
  // computed once (see security-headers.ts).
  const logRequest = requestLogging(app, deps.logger);
  const writeSecurityHeaders = securityHeaderWriter();
  app.use((req, res, next) => {
    assignRequestId(req, res);
    logRequest(req, res);
    if (!deps.isReady()) res.setHeader('Connection', 'close');
    writeSecurityHeaders(res);
    next();
  });

  app.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/health/ready', (_req, res) => {
    if (deps.isReady()) res.json({ status: 'ready' });
    else sendProblem(res, 503, 'SHUTTING_DOWN', 'The server is shutting down.');
  });

  if (deps.rateLimitPerMinute > 0) app.use(writeRateLimit(deps.rateLimitPerMinute));

  const resolveCartId = deps.cartIdentity === 'header' ? cartFromHeader : identityResolver(deps);
  if (resolveCartId === undefined && deps.cartIdentity !== 'shared') {
    throw new Error(
      `cartIdentity '${deps.cartIdentity}' needs its settings (cookieIdentity / jwtIdentity).`,
    );
  }

  app.use(
    createCartRouter({
      service: deps.service,
      storage: deps.storage,
      ...(deps.changeFeed === undefined ? {} : { changeFeed: deps.changeFeed }),
      ...(deps.shutdownSignal === undefined ? {} : { shutdownSignal: deps.shutdownSignal }),
      logger: deps.logger,
      ...(deps.idempotencyLeaseMs === undefined
        ? {}
        : { idempotencyLeaseMs: deps.idempotencyLeaseMs }),
      ...(resolveCartId === undefined ? {} : { resolveCartId }),
      openApi: { title: 'cartkit example server' },
    }),
  );
  app.use(problemErrorHandler({ logger: deps.logger }));
  return app;
}

/**
 * Limits writes (not reads) per client address; answers 429 problem+json with `Retry-After`.
 * express-rate-limit is loaded here, when a limit is configured, not with this module: with
 * `RATE_LIMIT_PER_MINUTE=0` it is never loaded (its heap is kept for nothing otherwise). The
 * import starts with the app; a request that comes before it finished waits for it.
 */
function writeRateLimit(perMinute: number): RequestHandler {
  let limit: RequestHandler | undefined;
  const loading = import('express-rate-limit').then(({ rateLimit }) => {
    limit = createWriteRateLimit(rateLimit, perMinute);
  });
  loading.catch(() => undefined); // a failed import is reported to the requests that need it
  return (req, res, next) => {
    if (limit !== undefined) {
      limit(req, res, next);
      return;
    }
    loading.then(() => limit?.(req, res, next), next);
  };
}

function createWriteRateLimit(
  rateLimit: typeof import('express-rate-limit').rateLimit,
  perMinute: number,
): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    skip: (req) => req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS',
    handler: (_req, res, _next, options) => {
      sendProblem(
        res,
        options.statusCode,
        'RATE_LIMITED',
        `At most ${perMinute} writes per minute per client.`,
      );
    },
  });
}

/**
 * Answers with a problem document of the example's own, typed exactly as the cart
 * router types its problems: `application/problem+json`, no charset parameter (JSON
 * has none, RFC 8259) — express's `res.json` would add `; charset=utf-8`.
 */
function sendProblem(res: Response, status: number, code: string, detail: string): void {
  const body = JSON.stringify({
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    code,
    detail,
  });
  res.status(status);
  res.setHeader('Content-Type', 'application/problem+json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
