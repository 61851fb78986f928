import { z } from 'zod';

/** How the server tells carts apart. */
export type CartIdentity = 'shared' | 'header' | 'cookie' | 'jwt';

/** Settings of `CART_IDENTITY=cookie`: signed guest-cart cookies. */
export interface CookieIdentityConfig {
  /** `COOKIE_SECRET`: the HMAC-SHA256 key the cookie is signed with (at least 32 bytes). */
  readonly secret: string;
  /**
   * `COOKIE_SECRET_PREVIOUS`: a secret being rotated out. Cookies it signed are still
   * accepted, and re-issued signed with `secret`.
   */
  readonly previousSecret: string | undefined;
  /** `COOKIE_SECURE`: send the cookie with `Secure` (default: on unless `HOST` is a loopback address). */
  readonly secure: boolean;
  /** `COOKIE_MAX_AGE_DAYS`: the cookie's `Max-Age`, in days (default 30). */
  readonly maxAgeDays: number;
}

/** Settings of `CART_IDENTITY=jwt`: `Authorization: Bearer` JWTs; the cart id is the `sub` claim. */
export interface JwtIdentityConfig {
  /** `JWT_SECRET`: the HS256 key (at least 32 bytes); exactly one of this and `jwksUrl`. */
  readonly secret: string | undefined;
  /** `JWT_JWKS_URL`: where the public keys are published (RS256, ES256, EdDSA...). */
  readonly jwksUrl: string | undefined;
  /** `JWT_ISSUER`: the required `iss` claim (default: not checked). */
  readonly issuer: string | undefined;
  /** `JWT_AUDIENCE`: the required `aud` claim (default: not checked). */
  readonly audience: string | undefined;
}

/** The example server's configuration, read from the environment. */
export interface ServerConfig {
  /** `PORT` (default 3000; 0 picks a free port). */
  readonly port: number;
  /** `HOST` (default 127.0.0.1). */
  readonly host: string;
  /**
   * From `DATABASE_URL`: `postgres://…` PostgreSQL (several instances may share it),
   * `memory:` process memory (nothing persists), anything else a SQLite file.
   */
  readonly storage: 'sqlite' | 'memory' | 'postgres';
  /** `DATABASE_URL` when it is a `postgres://` / `postgresql://` URL. */
  readonly postgresUrl: string | undefined;
  /**
   * `REDIS_URL` (`redis://…`): deliver reservations with BullMQ on this Redis instead of
   * the in-process timer scheduler, and publish cart changes on it (Redis pub/sub), so an
   * event stream (`GET /events`) on one instance sees changes made through any. Unset:
   * timers and the in-memory change feed.
   */
  readonly redisUrl: string | undefined;
  /**
   * `JOB_LOCK_MS`: with `REDIS_URL`, how long a running reservation job stays locked to
   * its instance; a killed instance's jobs are taken over after about this long (default 30 000).
   */
  readonly jobLockMs: number;
  /** `DATABASE_URL`: a SQLite file path, `file:` URL or `:memory:` (default `./data/cartkit.db`). */
  readonly databasePath: string;
  /** `RESERVATION_URL`: the external reservation service; unset starts the demo service. */
  readonly reservationUrl: string | undefined;
  /** `LOG_LEVEL` (default `info`). */
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** `RATE_LIMIT_PER_MINUTE`: writes per client per minute (default 600; 0 turns it off). */
  readonly rateLimitPerMinute: number;
  /**
   * `CART_IDENTITY`: `shared` (one cart, as the seed; default), `cookie` (signed guest
   * cookies), `jwt` (bearer tokens) or `header` (`X-Cart-Id`, a development stand-in).
   */
  readonly cartIdentity: CartIdentity;
  /** With `CART_IDENTITY=cookie`: how the cookie is signed and sent. */
  readonly cookieIdentity: CookieIdentityConfig | undefined;
  /** With `CART_IDENTITY=jwt`: how tokens are verified. */
  readonly jwtIdentity: JwtIdentityConfig | undefined;
  /**
   * `SHUTDOWN_DRAIN_MS`: after `SIGTERM`, how long the server keeps serving — readiness
   * answering 503, every response closing its connection — so a load balancer sees it
   * leave before it stops accepting connections (default 5 000; `SIGINT` skips it).
   */
  readonly shutdownDrainMs: number;
  /** `SHUTDOWN_TIMEOUT_MS`: bound on closing after the drain: in-flight requests and reservation attempts (default 10 000). */
  readonly shutdownTimeoutMs: number;
  /** `REQUEST_TIMEOUT_MS`: the whole request (headers and body) must arrive within it, else 408 (default 30 000; 0 = none). */
  readonly requestTimeoutMs: number;
  /** `HEADERS_TIMEOUT_MS`: the request headers must arrive within it, else 408 (default 10 000; at most the request timeout). */
  readonly headersTimeoutMs: number;
  /** `KEEP_ALIVE_TIMEOUT_MS`: an idle keep-alive connection is closed after it (default 5 000; 0 = no keep-alive). */
  readonly keepAliveTimeoutMs: number;
  /** `DEMO_RESERVATION_LATENCY_MS`: latency of the demo reservation service (default 200). */
  readonly demoLatencyMs: number;
  /**
   * `IDEMPOTENCY_LEASE_MS`: how long a request holds its `Idempotency-Key` before a
   * retry may take it over (default 30 000, the router's default).
   */
  readonly idempotencyLeaseMs: number;
}

const integer = (name: string, min: number, max: number, fallback: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, `${name} must be at least ${min}`)
        .max(max, `${name} must be at most ${max}`),
    )
    .optional()
    .transform((value) => value ?? fallback);

/** A signing key: at least 32 bytes (256 bits, the HMAC-SHA256 output size). */
const secret = (name: string) =>
  z
    .string()
    .refine((value) => Buffer.byteLength(value, 'utf8') >= 32, {
      error: `${name} must be at least 32 bytes long`,
    })
    .optional();

const schema = z.object({
  PORT: integer('PORT', 0, 65_535, 3000),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .trim()
    .min(1)
    .default('./data/cartkit.db')
    .refine((url) => !isPostgresUrl(url) || isParsablePostgresUrl(url), {
      error: 'DATABASE_URL must be postgres://user:password@host:port/database',
    }),
  REDIS_URL: z
    .url({
      protocol: /^rediss?$/,
      error: 'REDIS_URL must be a redis://host:port (or rediss://) URL',
    })
    .optional(),
  JOB_LOCK_MS: integer('JOB_LOCK_MS', 1_000, 3_600_000, 30_000),
  RESERVATION_URL: z
    .url({ protocol: /^https?$/, error: 'RESERVATION_URL must be an http(s) URL' })
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  RATE_LIMIT_PER_MINUTE: integer('RATE_LIMIT_PER_MINUTE', 0, 1_000_000, 600),
  CART_IDENTITY: z.enum(['shared', 'header', 'cookie', 'jwt']).default('shared'),
  COOKIE_SECRET: secret('COOKIE_SECRET'),
  COOKIE_SECRET_PREVIOUS: secret('COOKIE_SECRET_PREVIOUS'),
  COOKIE_SECURE: z
    .enum(['true', 'false'], { error: 'COOKIE_SECURE must be true or false' })
    .transform((value) => value === 'true')
    .optional(),
  COOKIE_MAX_AGE_DAYS: integer('COOKIE_MAX_AGE_DAYS', 1, 400, 30),
  JWT_SECRET: secret('JWT_SECRET'),
  JWT_JWKS_URL: z
    .url({ protocol: /^https?$/, error: 'JWT_JWKS_URL must be an http(s) URL' })
    .optional(),
  JWT_ISSUER: z.string().trim().min(1).optional(),
  JWT_AUDIENCE: z.string().trim().min(1).optional(),
  SHUTDOWN_DRAIN_MS: integer('SHUTDOWN_DRAIN_MS', 0, 600_000, 5_000),
  SHUTDOWN_TIMEOUT_MS: integer('SHUTDOWN_TIMEOUT_MS', 0, 600_000, 10_000),
  REQUEST_TIMEOUT_MS: integer('REQUEST_TIMEOUT_MS', 0, 3_600_000, 30_000),
  HEADERS_TIMEOUT_MS: integer('HEADERS_TIMEOUT_MS', 1, 3_600_000, 10_000),
  KEEP_ALIVE_TIMEOUT_MS: integer('KEEP_ALIVE_TIMEOUT_MS', 0, 3_600_000, 5_000),
  DEMO_RESERVATION_LATENCY_MS: integer('DEMO_RESERVATION_LATENCY_MS', 0, 60_000, 200),
  IDEMPOTENCY_LEASE_MS: integer('IDEMPOTENCY_LEASE_MS', 1, 3_600_000, 30_000),
});

/** Thrown when the environment holds an invalid setting. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the configuration; throws {@link ConfigError} listing every problem. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const result = schema
    .refine((c) => c.REQUEST_TIMEOUT_MS === 0 || c.HEADERS_TIMEOUT_MS <= c.REQUEST_TIMEOUT_MS, {
      path: ['HEADERS_TIMEOUT_MS'],
      error: 'HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS',
    })
    .refine((c) => c.CART_IDENTITY !== 'cookie' || c.COOKIE_SECRET !== undefined, {
      path: ['COOKIE_SECRET'],
      error: 'COOKIE_SECRET is required with CART_IDENTITY=cookie (at least 32 bytes)',
    })
    .refine(
      (c) =>
        c.CART_IDENTITY !== 'jwt' ||
        (c.JWT_SECRET === undefined) !== (c.JWT_JWKS_URL === undefined),
      {
        path: ['JWT_SECRET'],
        error:
          'CART_IDENTITY=jwt needs exactly one of JWT_SECRET (HS256, at least 32 bytes) and JWT_JWKS_URL',
      },
    )
    .safeParse(present);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join('.')}: ${issue.message}`,
    );
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const c = result.data;
  return {
    port: c.PORT,
    host: c.HOST,
    storage: isPostgresUrl(c.DATABASE_URL)
      ? 'postgres'
      : c.DATABASE_URL === MEMORY
        ? 'memory'
        : 'sqlite',
    postgresUrl: isPostgresUrl(c.DATABASE_URL) ? c.DATABASE_URL : undefined,
    redisUrl: c.REDIS_URL,
    jobLockMs: c.JOB_LOCK_MS,
    databasePath: toSqlitePath(c.DATABASE_URL),
    reservationUrl: c.RESERVATION_URL,
    logLevel: c.LOG_LEVEL,
    rateLimitPerMinute: c.RATE_LIMIT_PER_MINUTE,
    cartIdentity: c.CART_IDENTITY,
    cookieIdentity:
      c.CART_IDENTITY === 'cookie' && c.COOKIE_SECRET !== undefined
        ? {
            secret: c.COOKIE_SECRET,
            previousSecret: c.COOKIE_SECRET_PREVIOUS,
            secure: c.COOKIE_SECURE ?? !isLoopback(c.HOST),
            maxAgeDays: c.COOKIE_MAX_AGE_DAYS,
          }
        : undefined,
    jwtIdentity:
      c.CART_IDENTITY === 'jwt'
        ? {
            secret: c.JWT_SECRET,
            jwksUrl: c.JWT_JWKS_URL,
            issuer: c.JWT_ISSUER,
            audience: c.JWT_AUDIENCE,
          }
        : undefined,
    shutdownDrainMs: c.SHUTDOWN_DRAIN_MS,
    shutdownTimeoutMs: c.SHUTDOWN_TIMEOUT_MS,
    requestTimeoutMs: c.REQUEST_TIMEOUT_MS,
    headersTimeoutMs: c.HEADERS_TIMEOUT_MS,
    keepAliveTimeoutMs: c.KEEP_ALIVE_TIMEOUT_MS,
    demoLatencyMs: c.DEMO_RESERVATION_LATENCY_MS,
    idempotencyLeaseMs: c.IDEMPOTENCY_LEASE_MS,
  };
}

/** `localhost`, `127.x.x.x` and `::1`: addresses only this machine reaches (plain HTTP is fine there). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** `postgres://` and `postgresql://` select PostgreSQL. */
function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

function isParsablePostgresUrl(url: string): boolean {
  try {
    return new URL(url).hostname !== '';
  } catch {
    return false;
  }
}

/** `DATABASE_URL` value that selects core's in-memory storage (for trials and benchmarks). */
const MEMORY = 'memory:';

/** Accepts a plain path, `sqlite:` / `file:` URLs, or `:memory:`. */
function toSqlitePath(url: string): string {
  if (url === ':memory:') return url;
  for (const prefix of ['sqlite://', 'sqlite:', 'file://', 'file:']) {
    if (url.startsWith(prefix)) return decodeURIComponent(url.slice(prefix.length));
  }
  return url;
}
