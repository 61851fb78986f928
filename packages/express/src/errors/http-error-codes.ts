/**
 * Error codes the HTTP adapter adds to core's {@link ErrorCode}s. Like core's,
 * they are stable: clients branch on the `code` member of problem documents.
 */
export const HttpErrorCode = {
  /** The request body is not valid JSON (or not a JSON object or array). */
  MALFORMED_JSON: 'MALFORMED_JSON',
  /** A body route received something other than JSON, or JSON in another charset than UTF-8. */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** A body route received no body (or an empty one). */
  MISSING_BODY: 'MISSING_BODY',
  /** The request body is larger than the configured `bodyLimit`. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** The JSON body is not an object of the expected shape. */
  INVALID_BODY: 'INVALID_BODY',
  /** The JSON body has a property the operation does not accept. */
  UNKNOWN_PROPERTY: 'UNKNOWN_PROPERTY',
  /** The URL has malformed percent-encoding. */
  MALFORMED_URI: 'MALFORMED_URI',
  /** The request is malformed in another way the HTTP layer detected. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** The request target (URL) cannot be parsed, so no route can match it. */
  INVALID_REQUEST_TARGET: 'INVALID_REQUEST_TARGET',
  /** The request line and headers are larger than the server accepts (Node: 16 KiB). */
  REQUEST_HEADERS_TOO_LARGE: 'REQUEST_HEADERS_TOO_LARGE',
  /** The request's headers or body did not arrive within the server's timeout. */
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  /** The request's `Expect` header asks for something other than `100-continue` (417). */
  EXPECTATION_FAILED: 'EXPECTATION_FAILED',
  /** The request method is well-formed but not one the server implements. */
  METHOD_NOT_IMPLEMENTED: 'METHOD_NOT_IMPLEMENTED',
  /** No route of the cart API matches the path. */
  ROUTE_NOT_FOUND: 'ROUTE_NOT_FOUND',
  /** The route exists but not for this method (see the `Allow` header). */
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  /** The request has no identity the app's `resolveCartId` hook accepts. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** `If-Match` is not `*` or a list of entity tags. */
  INVALID_PRECONDITION: 'INVALID_PRECONDITION',
  /** `Idempotency-Key` is empty, too long or has characters outside the allowed set. */
  INVALID_IDEMPOTENCY_KEY: 'INVALID_IDEMPOTENCY_KEY',
  /** The `Idempotency-Key` was already used with another request (method, path or body). */
  IDEMPOTENCY_KEY_REUSED: 'IDEMPOTENCY_KEY_REUSED',
  /** The first request with this `Idempotency-Key` is still being processed. */
  IDEMPOTENCY_KEY_IN_PROGRESS: 'IDEMPOTENCY_KEY_IN_PROGRESS',
  /** `Last-Event-ID` (or the `lastEventId` parameter) of `GET /events` is not a cart version. */
  INVALID_LAST_EVENT_ID: 'INVALID_LAST_EVENT_ID',
  /** The server is shutting down and opens no new event stream (503, `Retry-After`). */
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  /** Something unexpected failed on the server; the detail is deliberately generic. */
  INTERNAL_ERROR: 'INTERNAL_ERROR',
} as const;

/** A stable error code added by the HTTP adapter. */
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];
