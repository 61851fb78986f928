/**
 * `@cartkit/reserver-http`: a cartkit `Reserver` that calls an external
 * reservation service over HTTP (Node's own `http` / `https` clients). The inversify `ContainerModule` lives in
 * `@cartkit/reserver-http/inversify`.
 * @packageDocumentation
 */
export { createHttpReserver, type HttpReserver } from './http-reserver.js';
export {
  DEFAULT_MAX_RESPONSE_BYTES,
  DEFAULT_TIMEOUT_MS,
  defaultMapRequest,
  defaultMapResponse,
  type HttpReserverOptions,
  MAX_RESERVATION_ID_LENGTH,
  type ResponseHeaders,
} from './options.js';
export { MAX_RETRY_AFTER_MS, parseRetryAfter } from './retry-after.js';
