/**
 * Express 5 adapter for cartkit: a router factory that mounts the cart API on a
 * built `CartService`, RFC 9457 problem+json errors, `ETag` / `If-Match`,
 * `Idempotency-Key`, and an OpenAPI 3.1 document generated from the zod schemas
 * that validate requests.
 * @packageDocumentation
 */
export {
  DEFAULT_CART_ID,
  type ResolveCartId,
  sharedCart,
} from './cart-resolution.js';
export { HttpErrorCode } from './errors/http-error-codes.js';
export { HttpProblem, type HttpProblemOptions } from './errors/http-problem.js';
export {
  type DescribeErrorOptions,
  describeError,
  type ProblemDocument,
  type ProblemResponse,
} from './errors/problem-details.js';
export {
  type ProblemErrorHandlerOptions,
  problemErrorHandler,
} from './errors/problem-error-handler.js';
export { UnauthorizedError, type UnauthorizedErrorOptions } from './errors/unauthorized-error.js';
export {
  EVENT_STREAM_MEDIA_TYPE,
  LAST_EVENT_ID_PARAMETER,
} from './events/event-streams.js';
export {
  JSON_MEDIA_TYPE,
  PATCH_MEDIA_TYPES,
  POST_MEDIA_TYPES,
  PROBLEM_MEDIA_TYPE,
} from './http/media-types.js';
export type { HttpResult } from './http/respond.js';
export { type ExpressServerClasses, expressServerClasses } from './http/server-classes.js';
export {
  type ClientError,
  clientErrorListener,
  connectListener,
  expectationListener,
  problemRequestListener,
  type RequestListenerWithNext,
  type ServerProblemOptions,
} from './http/server-problems.js';
export { MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency/idempotency-key.js';
export { REPLAYED_HEADER } from './idempotency/idempotent-requests.js';
export {
  buildOpenApiDocument,
  type OpenApiObject,
  type OpenApiOptions,
} from './openapi/build-openapi-document.js';
export {
  type CartRouterOptions,
  type CartServiceApi,
  DEFAULT_BODY_LIMIT,
  DEFAULT_EVENT_QUEUE_LIMIT,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_IDEMPOTENCY_LEASE_MS,
  DEFAULT_IDEMPOTENCY_TTL_MS,
  type OpenApiInfoOptions,
} from './options.js';
export { createCartRouter } from './router.js';
export {
  CartItemsSchema,
  type CartRequestSchemas,
  CartVersionSchema,
  createRequestSchemas,
  type ItemRepresentation,
  ItemResponseSchema,
  ItemSchema,
  ProblemSchema,
  type ReservationRepresentation,
  ReservationResponseSchema,
  ReservationSchema,
} from './schemas.js';
