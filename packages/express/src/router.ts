import {
  type Cart,
  CartError,
  type CartLimits,
  type CartLine,
  ErrorCode,
  findLine,
  type LineChange,
  NotFoundError,
  parseItemName,
  type ReservationRequestResult,
  type WriteOptions,
} from '@cartkit/core';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { resolveCartOf } from './cart-resolution.js';
import { HttpErrorCode } from './errors/http-error-codes.js';
import { HttpProblem } from './errors/http-problem.js';
import { problemErrorHandler } from './errors/problem-error-handler.js';
import { EventStreams } from './events/event-streams.js';
import { createJsonBodyReader } from './http/json-body.js';
import { PATCH_MEDIA_TYPES, POST_MEDIA_TYPES } from './http/media-types.js';
import {
  type EntityTagCondition,
  etagOf,
  expectedVersionFor,
  notModified,
  parseEntityTagCondition,
} from './http/preconditions.js';
import { type HttpResult, sendResult } from './http/respond.js';
import { idempotencyKeyOf } from './idempotency/idempotency-key.js';
import { IdempotentRequests } from './idempotency/idempotent-requests.js';
import { buildOpenApiDocument } from './openapi/build-openapi-document.js';
import { type CartRouterOptions, resolveCartRouterOptions } from './options.js';
import { cartItemsPayload, toItem, toReservation } from './representation.js';
import { createRequestSchemas } from './schemas.js';

type Method = 'get' | 'post' | 'patch' | 'delete';
type Endpoint = (req: Request, res: Response) => Promise<HttpResult>;

/**
 * Creates an express `Router` with the cart API (mount it where you like, e.g.
 * `app.use('/cart', createCartRouter({ service, storage }))`):
 *
 * | route | answer |
 * | --- | --- |
 * | `GET /items` | 200 `{ items, version }` (a cart never written: empty, version 0) |
 * | `POST /items {name, quantity?}` | 201 `{ item, version }`, `Location` of the item |
 * | `GET /items/:name` | 200 `{ item, version }` |
 * | `PATCH /items/:name {quantity}` | 200 `{ item, version }` |
 * | `DELETE /items/:name` | 204 |
 * | `DELETE /items` | 204 (the cart is emptied) |
 * | `POST /reserve {name}` | 202 task started, 200 already pending or reserved: `{ name, reservation, version }` |
 * | `GET /events` | the cart's changes as Server-Sent Events (only with `changeFeed`) |
 * | `GET /openapi.json` | the OpenAPI 3.1 document |
 *
 * Cart responses carry `ETag: "<version>"`; writes honour `If-Match`; the POST
 * routes honour `Idempotency-Key`. Every error is an RFC 9457 problem document
 * with a stable `code`, rendered by {@link problemErrorHandler}.
 *
 * @throws ConfigurationError when an option is invalid (the error names it).
 */
export function createCartRouter(options: CartRouterOptions): Router {
  const config = resolveCartRouterOptions(options);
  const { service } = config;
  const schemas = createRequestSchemas(service.limits);
  const bodies = createJsonBodyReader(config.bodyLimit);
  const idempotency = new IdempotentRequests({
    store: config.idempotency,
    ttlMs: config.idempotencyTtlMs,
    leaseMs: config.idempotencyLeaseMs,
    clock: config.clock,
    logger: config.logger,
  });
  const openApiDocument =
    config.openApi === false
      ? undefined
      : buildOpenApiDocument({
          ...config.openApi,
          limits: service.limits,
          events: config.changeFeed !== undefined,
        });

  const cartOf = (req: Request) => resolveCartOf(config.resolveCartId, req);
  const versionOf = (cartId: string) => async () => (await service.getCart(cartId)).version;
  const ifMatch = (req: Request) => parseEntityTagCondition(req.get('if-match'), 'If-Match');
  const writeOptions = async (
    condition: EntityTagCondition | undefined,
    cartId: string,
  ): Promise<WriteOptions> => {
    const expectedVersion = await expectedVersionFor(condition, versionOf(cartId));
    return expectedVersion === undefined ? {} : { expectedVersion };
  };
  /** Item routes answer `ITEM_NOT_FOUND` also when the cart was never written. */
  const inCart = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (NotFoundError.is(error) && error.code === ErrorCode.CART_NOT_FOUND) {
        const itemName = parseItemName(name, service.limits);
        throw new NotFoundError(
          ErrorCode.ITEM_NOT_FOUND,
          `Item "${itemName}" is not in the cart.`,
          {
            cause: error,
            details: { name: itemName },
          },
        );
      }
      throw error;
    }
  };

  const router = express.Router({ caseSensitive: true });

  route(router, '/items', {
    get: async (req) => {
      const cartId = await cartOf(req);
      const cart = await service.getCart(cartId);
      return readAnswer(req, cart, () => ({ payload: cartItemsPayload(cart) }));
    },
    post: async (req, res) => {
      const cartId = await cartOf(req);
      const body = await bodies.read(req, res, schemas.addItem, POST_MEDIA_TYPES);
      const key = idempotencyKeyOf(req);
      const condition = ifMatch(req);
      const request = { key, cartId, method: 'POST', path: '/items', body: body.raw };
      const present = (written: LineChange): HttpResult => ({
        status: 201,
        headers: { ...cartHeaders(written.cart), Location: itemLocation(req, written.line) },
        body: { item: toItem(lineAsSaved(written)), version: written.cart.version },
      });
      return idempotency.run(request, async (recorder) => {
        const written = await service.addItem(cartId, body.value, {
          ...(await writeOptions(condition, cartId)),
          ...recorder.writeOptions(present),
        });
        return recorder.respond(written, present);
      });
    },
    delete: async (req) => {
      const cartId = await cartOf(req);
      const condition = ifMatch(req);
      const cart = await service.clear(cartId, await writeOptions(condition, cartId));
      return { status: 204, headers: cartHeaders(cart) };
    },
  });

  route(router, '/items/:name', {
    get: async (req) => {
      const cartId = await cartOf(req);
      const name = nameParam(req, service.limits);
      const { cart, line } = await inCart(name, () => service.getItem(cartId, name));
      return readAnswer(req, cart, () => ({
        body: { item: toItem(line), version: cart.version },
      }));
    },
    patch: async (req, res) => {
      const cartId = await cartOf(req);
      const name = nameParam(req, service.limits);
      const body = await bodies.read(req, res, schemas.setQuantity, PATCH_MEDIA_TYPES);
      const condition = ifMatch(req);
      const options = await writeOptions(condition, cartId);
      const written = await inCart(name, () =>
        service.setQuantity(cartId, name, body.value.quantity, options),
      );
      return {
        status: 200,
        headers: cartHeaders(written.cart),
        body: { item: toItem(lineAsSaved(written)), version: written.cart.version },
      };
    },
    delete: async (req) => {
      const cartId = await cartOf(req);
      const name = nameParam(req, service.limits);
      const condition = ifMatch(req);
      const options = await writeOptions(condition, cartId);
      const { cart } = await inCart(name, () => service.removeItem(cartId, name, options));
      return { status: 204, headers: cartHeaders(cart) };
    },
  });

  route(router, '/reserve', {
    post: async (req, res) => {
      const cartId = await cartOf(req);
      const body = await bodies.read(req, res, schemas.reserve, POST_MEDIA_TYPES);
      const key = idempotencyKeyOf(req);
      const condition = ifMatch(req);
      const request = { key, cartId, method: 'POST', path: '/reserve', body: body.raw };
      const present = ({ cart, line: own, created }: ReservationRequestResult): HttpResult => {
        const saved = lineAsSaved({ cart, line: own });
        const line = saved.reservation === null ? own : saved;
        if (line.reservation === null) {
          throw new HttpProblem(500, HttpErrorCode.INTERNAL_ERROR, 'An unexpected error occurred.');
        }
        return {
          status: created ? 202 : 200,
          headers: { ...cartHeaders(cart), Location: itemLocation(req, line) },
          body: {
            name: line.name,
            reservation: toReservation(line.reservation),
            version: cart.version,
          },
        };
      };
      return idempotency.run(request, async (recorder) => {
        const options = {
          ...(await writeOptions(condition, cartId)),
          ...recorder.writeOptions(present),
        };
        const outcome = await inCart(body.value.name, () =>
          service.requestReservation(cartId, body.value.name, options),
        );
        return recorder.respond(outcome, present);
      });
    },
  });

  if (config.changeFeed !== undefined) {
    const streams = new EventStreams({
      changeFeed: config.changeFeed,
      versionOf: async (cartId) => (await service.getCart(cartId)).version,
      clock: config.clock,
      logger: config.logger,
      heartbeatMs: config.heartbeatMs,
      queueLimit: config.eventQueueLimit,
    });
    const signal = config.shutdownSignal;
    if (signal?.aborted) streams.closeAll();
    else signal?.addEventListener('abort', () => streams.closeAll(), { once: true });
    mount(router, '/events', {
      get: (req, res, next) => {
        cartOf(req)
          .then((cartId) => streams.open(req, res, cartId))
          .catch((error: unknown) => next(error));
      },
    });
  }

  if (openApiDocument !== undefined) {
    route(router, '/openapi.json', {
      get: async (req) => ({
        status: 200,
        headers: {},
        body: { ...openApiDocument, servers: [{ url: req.baseUrl === '' ? '/' : req.baseUrl }] },
      }),
    });
  }

  if (config.handleUnknownRoutes) {
    router.use((req, _res, next) => {
      next(
        new HttpProblem(
          404,
          HttpErrorCode.ROUTE_NOT_FOUND,
          `No cart API route matches ${req.method} ${req.path}.`,
        ),
      );
    });
  }
  router.use(problemErrorHandler({ logger: config.logger, authChallenge: config.authChallenge }));
  return router;
}

/** Mounts `endpoints` on `path`; other methods get 405 with `Allow`, OPTIONS gets 204. */
function route(router: Router, path: string, endpoints: Partial<Record<Method, Endpoint>>): void {
  const handlers: Partial<Record<Method, RequestHandler>> = {};
  for (const [method, endpoint] of Object.entries(endpoints) as [Method, Endpoint][]) {
    handlers[method] = handle(endpoint);
  }
  mount(router, path, handlers);
}

/** Mounts request handlers on `path`; other methods get 405 with `Allow`, OPTIONS gets 204. */
function mount(
  router: Router,
  path: string,
  handlers: Partial<Record<Method, RequestHandler>>,
): void {
  const chain = router.route(path);
  const methods: string[] = [];
  for (const [method, handler] of Object.entries(handlers) as [Method, RequestHandler][]) {
    chain[method](handler);
    methods.push(method.toUpperCase());
    if (method === 'get') methods.push('HEAD');
  }
  const allow = [...methods, 'OPTIONS'].join(', ');
  chain.all((req, res, next) => {
    if (req.method === 'OPTIONS') {
      res.status(204).setHeader('Allow', allow);
      res.end();
      return;
    }
    next(
      new HttpProblem(
        405,
        HttpErrorCode.METHOD_NOT_ALLOWED,
        `${req.method} is not allowed here; use ${allow}.`,
        { headers: { Allow: allow } },
      ),
    );
  });
}

/** Runs an endpoint and sends its result; errors go to the problem+json middleware. */
function handle(endpoint: Endpoint): RequestHandler {
  return (req, res, next) => {
    endpoint(req, res).then(
      (result) => sendResult(res, result),
      (error: unknown) => next(error),
    );
  };
}

/**
 * 200 with the cart's headers and `content()`, or 304 when `If-None-Match` still
 * matches (then no body is built).
 */
function readAnswer(
  req: Request,
  cart: Cart,
  content: () => Pick<HttpResult, 'body' | 'payload'>,
): HttpResult {
  const headers = cartHeaders(cart);
  const condition = lenientCondition(req.get('if-none-match'));
  if (notModified(condition, cart.version)) return { status: 304, headers };
  return { status: 200, headers, ...content() };
}

/** A malformed `If-None-Match` is ignored: the client simply gets the full answer. */
function lenientCondition(value: string | undefined): EntityTagCondition | undefined {
  try {
    return parseEntityTagCondition(value, 'If-None-Match');
  } catch {
    return undefined;
  }
}

function cartHeaders(cart: Cart): Record<string, string> {
  return { ETag: etagOf(cart.version), 'Cache-Control': 'private, no-cache' };
}

/**
 * The line as it is in the saved cart. Writes to one cart queued behind a save in
 * flight are saved together as one version, so the cart a write returns may hold
 * later writes to its line too: the body shows the line at the version its `ETag`
 * names (a client caching it under that tag would otherwise keep a state that never
 * had that version). core never saves a write together with a later removal of its
 * line (the removal opens the next version), so the line is there; the write's own
 * line is only a fallback.
 */
function lineAsSaved({ cart, line }: { cart: Cart; line: CartLine }): CartLine {
  return findLine(cart, line.name) ?? line;
}

function itemLocation(req: Request, line: CartLine): string {
  return `${req.baseUrl}/items/${encodeURIComponent(line.name)}`;
}

/**
 * The item name in the URL, checked by core's rules before anything is read. Its
 * refusal is about the URL, not the body: no `errors[]` pointer.
 */
function nameParam(req: Request, limits: CartLimits): string {
  const name: unknown = req.params.name;
  try {
    return parseItemName(typeof name === 'string' ? name : '', limits);
  } catch (error) {
    if (CartError.is(error) && error.kind === 'validation') {
      throw new HttpProblem(400, error.code, error.message, { cause: error });
    }
    throw error;
  }
}
