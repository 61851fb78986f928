import {
  type CartService,
  type ChangeFeed,
  type Clock,
  ConfigurationError,
  type IdempotencyStore,
  type Logger,
  systemClock,
} from '@cartkit/core';
import { type ResolveCartId, sharedCart } from './cart-resolution.js';
import {
  checkChallenge,
  checkLogger,
  checkMethods,
  checkPositiveInteger,
} from './option-checks.js';

/** What the router needs of the cart service (a `CartService` has all of it). */
export type CartServiceApi = Pick<
  CartService,
  | 'limits'
  | 'getCart'
  | 'getItem'
  | 'addItem'
  | 'setQuantity'
  | 'removeItem'
  | 'clear'
  | 'requestReservation'
>;

/** What `GET /openapi.json` says about the API (`false` removes the route). */
export interface OpenApiInfoOptions {
  /** `info.title`. Default `cartkit cart API`. */
  readonly title?: string;
  /** `info.version`. Default `0.1.0`. */
  readonly version?: string;
  /** `info.description`. */
  readonly description?: string;
}

/** Options of {@link createCartRouter}. */
export interface CartRouterOptions {
  /** The built cart service (e.g. `createCart(...).service`, or resolved from a container). */
  readonly service: CartServiceApi;
  /**
   * The `CartStorage` the service writes to. Its `idempotency` store keeps the
   * `Idempotency-Key` records, so every process sharing the carts shares the keys,
   * and a write's answer is recorded in the same atomic write as the change.
   */
  readonly storage: { readonly idempotency?: IdempotencyStore | undefined };
  /** Which cart a request acts on. Default: one shared cart, `default`. */
  readonly resolveCartId?: ResolveCartId;
  /** Largest accepted request body, in bytes. Default 16 KiB (16,384). */
  readonly bodyLimit?: number;
  /** How long an `Idempotency-Key` is remembered, in milliseconds. Default 24 h. */
  readonly idempotencyTtlMs?: number;
  /**
   * How long a request holds its `Idempotency-Key` while it runs, in
   * milliseconds: retries meanwhile get 409 `IDEMPOTENCY_KEY_IN_PROGRESS`; after
   * it, a retry takes the key over and runs the request (a first request that
   * died with its process never blocks the key for long). Set it to about your
   * server's request time limit. A shorter lease is still safe — of two runs of
   * one request only the first to commit changes the cart, the other answers
   * with its response — it only lets retries run sooner. Default 30 s.
   */
  readonly idempotencyLeaseMs?: number;
  /** Time source of idempotency expiry (use the storage's clock). Default: the system clock. */
  readonly clock?: Clock;
  /** Logs 5xx failures (`error`) and 4xx rejections (`debug`). Default: silent. */
  readonly logger?: Logger;
  /** `WWW-Authenticate` challenge of 401 answers. Default `Bearer`. */
  readonly authChallenge?: string;
  /**
   * Answer 404 `ROUTE_NOT_FOUND` for unknown paths under the mount point.
   * Default `true`; set `false` to let requests fall through to later app routes.
   */
  readonly handleUnknownRoutes?: boolean;
  /** The `GET /openapi.json` document's info, or `false` to leave the route out. Default `{}`. */
  readonly openApi?: OpenApiInfoOptions | false;
  /**
   * The change feed the service publishes to (e.g. `createCart(...).changeFeed`, or
   * `CartTokens.ChangeFeed` from a container). It enables `GET /events`, the cart's
   * changes as Server-Sent Events; without it that route is not mounted (404
   * `ROUTE_NOT_FOUND`) nor documented.
   */
  readonly changeFeed?: ChangeFeed;
  /**
   * How often an idle event stream gets a comment line, so proxies and load
   * balancers do not time it out, in milliseconds (on `clock`). Default 15 s.
   */
  readonly heartbeatMs?: number;
  /**
   * Events an event stream holds for a client that reads more slowly than its cart
   * changes. Beyond it they are dropped and one `resync` event is sent once the
   * client catches up: memory per connection stays bounded. Default 100.
   */
  readonly eventQueueLimit?: number;
  /**
   * Aborting it (at shutdown) ends every open event stream — they never end on their
   * own, and would hold up a server's `close()` — and refuses new ones with 503
   * `SHUTTING_DOWN`. Clients reconnect with their `Last-Event-ID`.
   */
  readonly shutdownSignal?: AbortSignal;
}

/** {@link CartRouterOptions} with defaults applied. */
export interface ResolvedCartRouterOptions {
  readonly service: CartServiceApi;
  readonly idempotency: IdempotencyStore;
  readonly resolveCartId: ResolveCartId;
  readonly bodyLimit: number;
  readonly idempotencyTtlMs: number;
  readonly idempotencyLeaseMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly authChallenge: string;
  readonly handleUnknownRoutes: boolean;
  readonly openApi: OpenApiInfoOptions | false;
  readonly changeFeed: ChangeFeed | undefined;
  readonly heartbeatMs: number;
  readonly eventQueueLimit: number;
  readonly shutdownSignal: AbortSignal | undefined;
}

/** Default `bodyLimit`: 16 KiB. */
export const DEFAULT_BODY_LIMIT = 16 * 1024;
/** Default `idempotencyTtlMs`: 24 hours. */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** Default `idempotencyLeaseMs`: 30 seconds. */
export const DEFAULT_IDEMPOTENCY_LEASE_MS = 30 * 1000;

/** Default `heartbeatMs`: 15 seconds. */
export const DEFAULT_HEARTBEAT_MS = 15 * 1000;
/** Default `eventQueueLimit`. */
export const DEFAULT_EVENT_QUEUE_LIMIT = 100;

/** Validates options up front and applies defaults. @throws ConfigurationError naming the option */
export function resolveCartRouterOptions(options: CartRouterOptions): ResolvedCartRouterOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('createCartRouter needs an options object.', {
      option: 'options',
    });
  }
  const service = checkMethods(
    options.service,
    ['getCart', 'getItem', 'addItem', 'setQuantity', 'removeItem', 'clear', 'requestReservation'],
    'service',
    'a CartService',
  );
  if (typeof service.limits !== 'object' || service.limits === null) {
    throw new ConfigurationError('Option "service" must be a CartService (with limits).', {
      option: 'service',
    });
  }
  const idempotency = checkMethods(
    options.storage?.idempotency,
    ['claim', 'complete', 'release', 'get'],
    'storage',
    'a CartStorage with an idempotency store, storage.idempotency,',
  ) as IdempotencyStore;
  if (options.resolveCartId !== undefined && typeof options.resolveCartId !== 'function') {
    throw new ConfigurationError('Option "resolveCartId" must be a function.', {
      option: 'resolveCartId',
    });
  }
  const clock =
    options.clock === undefined
      ? systemClock
      : checkMethods(
          options.clock,
          options.changeFeed === undefined ? ['now'] : ['now', 'setTimer'],
          'clock',
          'a Clock',
        );
  if (
    options.handleUnknownRoutes !== undefined &&
    typeof options.handleUnknownRoutes !== 'boolean'
  ) {
    throw new ConfigurationError('Option "handleUnknownRoutes" must be a boolean.', {
      option: 'handleUnknownRoutes',
    });
  }
  const changeFeed =
    options.changeFeed === undefined
      ? undefined
      : (checkMethods(
          options.changeFeed,
          ['subscribe', 'publish', 'close'],
          'changeFeed',
          'a ChangeFeed',
        ) as ChangeFeed);
  if (options.shutdownSignal !== undefined && !(options.shutdownSignal instanceof AbortSignal)) {
    throw new ConfigurationError('Option "shutdownSignal" must be an AbortSignal.', {
      option: 'shutdownSignal',
    });
  }
  return {
    service,
    idempotency,
    resolveCartId: options.resolveCartId ?? sharedCart,
    bodyLimit: checkPositiveInteger(options.bodyLimit, DEFAULT_BODY_LIMIT, 'bodyLimit'),
    idempotencyTtlMs: checkPositiveInteger(
      options.idempotencyTtlMs,
      DEFAULT_IDEMPOTENCY_TTL_MS,
      'idempotencyTtlMs',
    ),
    idempotencyLeaseMs: checkPositiveInteger(
      options.idempotencyLeaseMs,
      DEFAULT_IDEMPOTENCY_LEASE_MS,
      'idempotencyLeaseMs',
    ),
    clock,
    logger: checkLogger(options.logger),
    authChallenge:
      options.authChallenge === undefined ? 'Bearer' : checkChallenge(options.authChallenge),
    handleUnknownRoutes: options.handleUnknownRoutes ?? true,
    openApi: checkOpenApi(options.openApi),
    changeFeed,
    heartbeatMs: checkPositiveInteger(options.heartbeatMs, DEFAULT_HEARTBEAT_MS, 'heartbeatMs'),
    eventQueueLimit: checkPositiveInteger(
      options.eventQueueLimit,
      DEFAULT_EVENT_QUEUE_LIMIT,
      'eventQueueLimit',
    ),
    shutdownSignal: options.shutdownSignal,
  };
}

function checkOpenApi(value: OpenApiInfoOptions | false | undefined): OpenApiInfoOptions | false {
  if (value === undefined) return {};
  if (value === false) return false;
  const ok =
    typeof value === 'object' &&
    value !== null &&
    (['title', 'version', 'description'] as const).every(
      (key) => value[key] === undefined || typeof value[key] === 'string',
    );
  if (!ok) {
    throw new ConfigurationError(
      'Option "openApi" must be false or an object with string title, version and description.',
      { option: 'openApi' },
    );
  }
  return value;
}
