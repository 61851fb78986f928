import { type CartLimits, defaultCartLimits } from '@cartkit/core';
import { z } from 'zod';
import { EVENT_STREAM_MEDIA_TYPE, LAST_EVENT_ID_PARAMETER } from '../events/event-streams.js';
import {
  JSON_MEDIA_TYPE,
  PATCH_MEDIA_TYPES,
  POST_MEDIA_TYPES,
  PROBLEM_MEDIA_TYPE,
} from '../http/media-types.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../idempotency/idempotency-key.js';
import { REPLAYED_HEADER } from '../idempotency/idempotent-requests.js';
import {
  CartItemsSchema,
  createRequestSchemas,
  ItemResponseSchema,
  ItemSchema,
  OpenApiDocumentSchema,
  ProblemSchema,
  ReservationFailureSchema,
  ReservationResponseSchema,
  ReservationSchema,
} from '../schemas.js';

/** A JSON value in the OpenAPI document. */
export type OpenApiObject = Record<string, unknown>;

/** Options of {@link buildOpenApiDocument}. */
export interface OpenApiOptions {
  /** The service's limits, shown in the request schemas. Default: core's defaults. */
  readonly limits?: CartLimits;
  /** `info.title`. Default `cartkit cart API`. */
  readonly title?: string;
  /** `info.version` (the API document's version). Default `0.1.0`. */
  readonly version?: string;
  /** `info.description`. Default: a short description of the API. */
  readonly description?: string;
  /**
   * Describe `GET /events` (the router serves it only with a `changeFeed`, and
   * passes `false` without one). Default `true`.
   */
  readonly events?: boolean;
  /** `servers`; the router serves the document with its mount path as the server URL. */
  readonly servers?: readonly { readonly url: string; readonly description?: string }[];
}

const SCHEMA_REF = (id: string) => `#/components/schemas/${id}`;

/**
 * Builds the OpenAPI 3.1 document of the cart API from the same zod schemas the
 * router validates with (`z.toJSONSchema`, JSON Schema 2020-12, the dialect of
 * OpenAPI 3.1). Paths are relative to where the router is mounted.
 */
export function buildOpenApiDocument(options: OpenApiOptions = {}): OpenApiObject {
  const limits = options.limits ?? defaultCartLimits;
  const requests = createRequestSchemas(limits);

  const responseRegistry = z.registry<{ id: string }>();
  responseRegistry.add(ReservationFailureSchema, { id: 'ReservationFailure' });
  responseRegistry.add(ReservationSchema, { id: 'Reservation' });
  responseRegistry.add(ItemSchema, { id: 'Item' });
  responseRegistry.add(CartItemsSchema, { id: 'CartItems' });
  responseRegistry.add(ItemResponseSchema, { id: 'ItemResponse' });
  responseRegistry.add(ReservationResponseSchema, { id: 'ReservationResponse' });
  responseRegistry.add(ProblemSchema, { id: 'Problem' });
  responseRegistry.add(OpenApiDocumentSchema, { id: 'OpenApiDocument' });
  const requestRegistry = z.registry<{ id: string }>();
  requestRegistry.add(requests.addItem, { id: 'AddItemRequest' });
  requestRegistry.add(requests.setQuantity, { id: 'SetQuantityRequest' });
  requestRegistry.add(requests.reserve, { id: 'ReserveRequest' });

  const schemas = {
    ...componentSchemas(z.toJSONSchema(responseRegistry, { io: 'output', uri: SCHEMA_REF })),
    ...componentSchemas(z.toJSONSchema(requestRegistry, { io: 'input', uri: SCHEMA_REF })),
  };

  return {
    openapi: '3.1.1',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: options.title ?? 'cartkit cart API',
      version: options.version ?? '0.1.0',
      description:
        options.description ??
        'A shopping cart: add, change and remove items, reserve them at the inventory service in the background. ' +
          'Errors are RFC 9457 problem documents with a stable `code`. Responses that show the cart carry ' +
          '`ETag: "<version>"`; writes honour `If-Match`. `POST` requests honour `Idempotency-Key`.',
    },
    ...(options.servers === undefined
      ? {}
      : { servers: options.servers.map((server) => ({ ...server })) }),
    paths: options.events === false ? paths() : { ...paths(), ...eventPaths() },
    components: {
      schemas,
      parameters: parameters(stripDocumentKeys(z.toJSONSchema(requests.itemName))),
      headers: headers(),
      responses: problemResponses(),
    },
  };
}

/** Takes the schemas out of a registry export, dropping per-schema `$schema` / `$id`. */
function componentSchemas(exported: { schemas: Record<string, unknown> }): OpenApiObject {
  const out: OpenApiObject = {};
  for (const [id, schema] of Object.entries(exported.schemas)) {
    out[id] = stripDocumentKeys(schema as OpenApiObject);
  }
  return out;
}

function stripDocumentKeys(schema: OpenApiObject): OpenApiObject {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  return rest;
}

const ref = (kind: string, id: string) => ({ $ref: `#/components/${kind}/${id}` });
const jsonContent = (schemaId: string) => ({
  [JSON_MEDIA_TYPE]: { schema: ref('schemas', schemaId) },
});

const CART_HEADERS = {
  ETag: ref('headers', 'ETag'),
  'Cache-Control': ref('headers', 'CacheControl'),
};

function problemResponses(): OpenApiObject {
  const problem = (description: string, extraHeaders: OpenApiObject = {}) => ({
    description,
    ...(Object.keys(extraHeaders).length > 0 ? { headers: extraHeaders } : {}),
    content: { [PROBLEM_MEDIA_TYPE]: { schema: ref('schemas', 'Problem') } },
  });
  return {
    BadRequest: problem(
      'Invalid input: `INVALID_ITEM_NAME`, `INVALID_QUANTITY`, `QUANTITY_LIMIT_EXCEEDED`, ' +
        '`CART_LINE_LIMIT_EXCEEDED`, `UNKNOWN_PROPERTY`, `INVALID_BODY`, `MALFORMED_JSON`, ' +
        '`MALFORMED_URI`, `INVALID_PRECONDITION`, `INVALID_IDEMPOTENCY_KEY`, `INVALID_CART_ID`, ' +
        '`MISSING_BODY`, `INVALID_LAST_EVENT_ID`. A refused body field lists every problem in `errors`, one per pointer.',
    ),
    Unauthenticated: problem('`UNAUTHENTICATED`: the request has no identity the app accepts.', {
      'WWW-Authenticate': { required: true, schema: { type: 'string' } },
    }),
    NotFound: problem('`ITEM_NOT_FOUND`: the item is not in the cart.'),
    Conflict: problem(
      '`VERSION_CONFLICT` / `CONCURRENT_MODIFICATION`: the write kept racing other writers; ' +
        '`IDEMPOTENCY_KEY_IN_PROGRESS`: the first request with this key is still running.',
      { 'Retry-After': ref('headers', 'RetryAfter') },
    ),
    PreconditionFailed: problem('`VERSION_MISMATCH`: the cart is not at the `If-Match` version.'),
    PayloadTooLarge: problem('`PAYLOAD_TOO_LARGE`: the body exceeds the configured limit.'),
    UnsupportedMediaType: problem('`UNSUPPORTED_MEDIA_TYPE`: the body must be JSON in UTF-8.', {
      'Accept-Post': { schema: { type: 'string' } },
      'Accept-Patch': { schema: { type: 'string' } },
    }),
    IdempotencyKeyReused: problem(
      '`IDEMPOTENCY_KEY_REUSED`: the key was used for a different request.',
    ),
    InternalError: problem('`INTERNAL_ERROR`: an unexpected failure (details are logged).'),
    Unavailable: problem(
      'The cart storage is unavailable (`STORAGE_*`, `CLOSED`); `SHUTTING_DOWN`: the server ' +
        'is shutting down and opens no new event stream.',
      {
        'Retry-After': ref('headers', 'RetryAfter'),
      },
    ),
  };
}

function parameters(itemNameSchema: OpenApiObject): OpenApiObject {
  return {
    ItemName: {
      name: 'name',
      in: 'path',
      required: true,
      description: 'The item name, URL-encoded.',
      schema: itemNameSchema,
    },
    IfMatch: {
      name: 'If-Match',
      in: 'header',
      required: false,
      description:
        'Write only if the cart is at this version: `"<version>"` (the `ETag` of a previous response), ' +
        'a list of them, or `*` (the cart exists). Mismatch: 412 `VERSION_MISMATCH`.',
      schema: { type: 'string' },
    },
    IfNoneMatch: {
      name: 'If-None-Match',
      in: 'header',
      required: false,
      description: 'Answer 304 when the cart is still at this version.',
      schema: { type: 'string' },
    },
    IdempotencyKey: {
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description:
        'Makes a retry safe: a repeated request with the same key and body replays the first response ' +
        `(header \`${REPLAYED_HEADER}: true\`). 1–${MAX_IDEMPOTENCY_KEY_LENGTH} characters of ` +
        '`A-Z a-z 0-9 . _ ~ : + / = -`, optionally in double quotes. Keys are scoped to the cart and expire.',
      schema: { type: 'string', minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH + 2 },
    },
  };
}

function headers(): OpenApiObject {
  return {
    ETag: {
      description: 'The cart version in double quotes (a strong entity tag).',
      required: true,
      schema: { type: 'string', pattern: '^"(0|[1-9][0-9]*)"$' },
    },
    CacheControl: {
      description: 'Cart responses are private and must be revalidated.',
      schema: { type: 'string' },
    },
    Location: {
      description: 'URL path of the item.',
      required: true,
      schema: { type: 'string' },
    },
    Replayed: {
      description:
        '`true` when this response is the replay of an earlier request with the same `Idempotency-Key`.',
      schema: { type: 'string', enum: ['true'] },
    },
    RetryAfter: {
      description: 'Seconds to wait before retrying.',
      schema: { type: 'string' },
    },
  };
}

const errors = (...names: string[]) =>
  Object.fromEntries(names.map((name) => [STATUS_OF[name] ?? name, ref('responses', name)]));

const STATUS_OF: Readonly<Record<string, string>> = {
  BadRequest: '400',
  Unauthenticated: '401',
  NotFound: '404',
  Conflict: '409',
  PreconditionFailed: '412',
  PayloadTooLarge: '413',
  UnsupportedMediaType: '415',
  IdempotencyKeyReused: '422',
  InternalError: '500',
  Unavailable: '503',
};

const READ_ERRORS = ['BadRequest', 'Unauthenticated', 'InternalError', 'Unavailable'];
const WRITE_ERRORS = [...READ_ERRORS, 'Conflict', 'PreconditionFailed'];
const BODY_ERRORS = [...WRITE_ERRORS, 'PayloadTooLarge', 'UnsupportedMediaType'];

function requestBody(schemaId: string, mediaTypes: readonly string[]): OpenApiObject {
  return {
    required: true,
    content: Object.fromEntries(
      mediaTypes.map((type) => [type, { schema: ref('schemas', schemaId) }]),
    ),
  };
}

const notModified = {
  description: 'The cart is still at the `If-None-Match` version.',
  headers: CART_HEADERS,
};

function paths(): OpenApiObject {
  return {
    '/items': {
      get: {
        operationId: 'listItems',
        summary: "The cart's items and version",
        description: 'A cart that was never written is empty, at version 0.',
        parameters: [ref('parameters', 'IfNoneMatch')],
        responses: {
          '200': {
            description: 'The items, in the order they were added.',
            headers: CART_HEADERS,
            content: jsonContent('CartItems'),
          },
          '304': notModified,
          ...errors(...READ_ERRORS),
        },
      },
      post: {
        operationId: 'addItem',
        summary: 'Add an item (or add to its quantity)',
        description:
          'Adding a name already in the cart adds to its quantity. A background reservation starts ' +
          '(unless the service has `reserveOnAdd` off).',
        parameters: [ref('parameters', 'IfMatch'), ref('parameters', 'IdempotencyKey')],
        requestBody: requestBody('AddItemRequest', POST_MEDIA_TYPES),
        responses: {
          '201': {
            description: 'The line as it is now, and the new cart version.',
            headers: {
              ...CART_HEADERS,
              Location: ref('headers', 'Location'),
              [REPLAYED_HEADER]: ref('headers', 'Replayed'),
            },
            content: jsonContent('ItemResponse'),
          },
          ...errors(...BODY_ERRORS, 'IdempotencyKeyReused'),
        },
      },
      delete: {
        operationId: 'clearCart',
        summary: 'Empty the cart',
        description: 'Releases every reservation. Emptying an empty cart changes nothing.',
        parameters: [ref('parameters', 'IfMatch')],
        responses: {
          '204': { description: 'The cart is empty.', headers: CART_HEADERS },
          ...errors(...WRITE_ERRORS),
        },
      },
    },
    '/items/{name}': {
      parameters: [ref('parameters', 'ItemName')],
      get: {
        operationId: 'getItem',
        summary: 'One item',
        parameters: [ref('parameters', 'IfNoneMatch')],
        responses: {
          '200': {
            description: 'The line and the cart version.',
            headers: CART_HEADERS,
            content: jsonContent('ItemResponse'),
          },
          '304': notModified,
          ...errors(...READ_ERRORS, 'NotFound'),
        },
      },
      patch: {
        operationId: 'setQuantity',
        summary: "Set an item's quantity",
        description:
          'A reserved line is released and reserved again for the new quantity. ' +
          'Setting the current quantity changes nothing.',
        parameters: [ref('parameters', 'IfMatch')],
        requestBody: requestBody('SetQuantityRequest', PATCH_MEDIA_TYPES),
        responses: {
          '200': {
            description: 'The line and the cart version.',
            headers: CART_HEADERS,
            content: jsonContent('ItemResponse'),
          },
          ...errors(...BODY_ERRORS, 'NotFound'),
        },
      },
      delete: {
        operationId: 'removeItem',
        summary: 'Remove an item',
        description: 'Its reservation is released.',
        parameters: [ref('parameters', 'IfMatch')],
        responses: {
          '204': { description: 'The item is removed.', headers: CART_HEADERS },
          ...errors(...WRITE_ERRORS, 'NotFound'),
        },
      },
    },
    '/reserve': {
      post: {
        operationId: 'reserveItem',
        summary: 'Reserve an item of the cart in the background',
        description:
          'Starts a reservation task (202) unless one is pending or the line is reserved for its ' +
          'quantity (200). After a failure, starts a new one. Poll the `Location` for the state.',
        parameters: [ref('parameters', 'IfMatch'), ref('parameters', 'IdempotencyKey')],
        requestBody: requestBody('ReserveRequest', POST_MEDIA_TYPES),
        responses: {
          '200': reservationResponse('The reservation is already pending or reserved.'),
          '202': reservationResponse('A reservation task was started.'),
          ...errors(...BODY_ERRORS, 'NotFound', 'IdempotencyKeyReused'),
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'getOpenApiDocument',
        summary: 'This OpenAPI 3.1 document',
        responses: {
          '200': { description: 'The document.', content: jsonContent('OpenApiDocument') },
          ...errors('InternalError'),
        },
      },
    },
  };
}

/** `GET /events`: only when the router has a change feed. */
function eventPaths(): OpenApiObject {
  return {
    '/events': {
      get: {
        operationId: 'streamCartEvents',
        summary: "The cart's changes, live, as Server-Sent Events",
        description:
          'A `text/event-stream` that stays open. Events (`data` is JSON): `ready` first, with the ' +
          "cart's current `{version}` (and `id: <version>` unless resuming); `change` " +
          '`{version, kind, itemName?, at}` with `id: <version>`, one per committed change, in ' +
          'version order; `resync` `{version, reason}` with `id: <version>` when changes were ' +
          'missed (resume point forgotten, a gap, a client too slow): re-read the cart. ' +
          'Comment lines (`:`) are heartbeats. Resume with `Last-Event-ID` (browsers send it ' +
          `when they reconnect) or \`?${LAST_EVENT_ID_PARAMETER}=\`: the changes after that version ` +
          'follow, or a `resync`.',
        parameters: [
          {
            name: 'Last-Event-ID',
            in: 'header',
            required: false,
            description:
              'Resume after this version (the `id` of the last event received). 400 ' +
              '`INVALID_LAST_EVENT_ID` when it is not a whole number.',
            schema: { type: 'string', pattern: '^(0|[1-9][0-9]*)$' },
          },
          {
            name: LAST_EVENT_ID_PARAMETER,
            in: 'query',
            required: false,
            description:
              'Same as `Last-Event-ID`, for clients that cannot set headers; the header wins.',
            schema: { type: 'string', pattern: '^(0|[1-9][0-9]*)$' },
          },
        ],
        responses: {
          '200': {
            description:
              'The stream (`Cache-Control: no-store`, `X-Accel-Buffering: no`); it ends only ' +
              'when the client or the server (shutting down) closes it.',
            headers: {
              'Cache-Control': { schema: { type: 'string', enum: ['no-store'] } },
              'X-Accel-Buffering': { schema: { type: 'string', enum: ['no'] } },
            },
            content: { [EVENT_STREAM_MEDIA_TYPE]: { schema: { type: 'string' } } },
          },
          ...errors(...READ_ERRORS),
        },
      },
    },
  };
}

function reservationResponse(description: string): OpenApiObject {
  return {
    description,
    headers: {
      ...CART_HEADERS,
      Location: ref('headers', 'Location'),
      [REPLAYED_HEADER]: ref('headers', 'Replayed'),
    },
    content: jsonContent('ReservationResponse'),
  };
}
