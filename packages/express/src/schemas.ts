import { CartError, type CartLimits, parseItemName } from '@cartkit/core';
import { z } from 'zod';

/*
 * The zod 4 schemas of the cart API: request bodies (built from the service's
 * limits) and response bodies. The router validates requests with them and the
 * OpenAPI builder turns the very same schemas into JSON Schema 2020-12.
 */

const Timestamp = z.iso.datetime().meta({ description: 'ISO 8601 UTC timestamp.' });

/**
 * The cart version: 0 for a cart never written, then +1 per save (writes combined into one
 * save share it). Also the `ETag`.
 */
export const CartVersionSchema = z
  .int()
  .min(0)
  .meta({ description: 'Cart version; the response `ETag` is this number in quotes.' });

/** Why the last reservation attempt failed. */
export const ReservationFailureSchema = z.strictObject({
  code: z.string().meta({ description: 'Stable error code, e.g. `RESERVATION_REFUSED`.' }),
  message: z.string(),
});

/** The reservation of one line at the external inventory service. */
export const ReservationSchema = z.strictObject({
  status: z.enum(['pending', 'reserved', 'failed']),
  id: z
    .string()
    .nullable()
    .meta({ description: "The external service's reservation id, once reserved." }),
  quantity: z.int().min(1).meta({ description: 'The quantity this reservation is for.' }),
  attempts: z.int().min(0).meta({ description: 'Attempts made so far.' }),
  lastError: ReservationFailureSchema.nullable(),
  requestedAt: Timestamp,
  updatedAt: Timestamp,
});

/** One cart line. */
export const ItemSchema = z.strictObject({
  name: z.string().meta({ description: 'Item name (trimmed, NFC-normalised).' }),
  quantity: z.int().min(1),
  reservation: ReservationSchema.nullable().meta({
    description: '`null` when no reservation was requested.',
  }),
  addedAt: Timestamp,
  updatedAt: Timestamp,
});

/** `GET /items`: every line and the cart version. */
export const CartItemsSchema = z.strictObject({
  items: z.array(ItemSchema),
  version: CartVersionSchema,
});

/** One line and the cart version it was read or written at. */
export const ItemResponseSchema = z.strictObject({
  item: ItemSchema,
  version: CartVersionSchema,
});

/** `POST /reserve`: the line's reservation and the cart version. */
export const ReservationResponseSchema = z.strictObject({
  name: z.string(),
  reservation: ReservationSchema,
  version: CartVersionSchema,
});

/** An RFC 9457 problem document with cartkit's stable `code`; more members may appear. */
export const ProblemSchema = z.looseObject({
  type: z.string().meta({ description: 'Always `about:blank`; `code` says which problem.' }),
  title: z.string().meta({ description: 'The HTTP status phrase.' }),
  status: z.int().min(400).max(599),
  detail: z.string(),
  code: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]*$/)
    .meta({ description: 'Stable machine-readable error code.' }),
  errors: z
    .array(
      z.strictObject({
        pointer: z.string().meta({ description: 'JSON Pointer to the offending body member.' }),
        code: z.string(),
        detail: z.string(),
      }),
    )
    .optional()
    .meta({
      description:
        'Every problem found in the request body, one per JSON Pointer; the first is the top-level code and detail.',
    }),
});

/** The OpenAPI document itself (only its outline is described). */
export const OpenApiDocumentSchema = z.looseObject({
  openapi: z.string().regex(/^3\.1\.\d+$/),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});

/** The request schemas, which depend on the service's limits. */
export interface CartRequestSchemas {
  readonly itemName: z.ZodString;
  readonly addItem: ReturnType<typeof addItemSchema>;
  readonly setQuantity: ReturnType<typeof setQuantitySchema>;
  readonly reserve: ReturnType<typeof reserveSchema>;
}

/** Builds the request schemas for the given limits. */
export function createRequestSchemas(limits: CartLimits): CartRequestSchemas {
  return {
    itemName: itemNameSchema(limits),
    addItem: addItemSchema(limits),
    setQuantity: setQuantitySchema(limits),
    reserve: reserveSchema(limits),
  };
}

/** The message of a body that is not a JSON object (unknown keys are reported one by one). */
const bodyError = (issue: { readonly code: string }) =>
  issue.code === 'invalid_type' ? 'The request body must be a JSON object.' : undefined;

/**
 * Applies one of core's rules (`parseItemName`) inside the schema, so a
 * body is refused by the very rules the service applies — with a JSON pointer, and
 * before any storage is read. The issue carries the core error code in `params.code`.
 */
function coreRule(parse: (value: unknown) => unknown) {
  return (value: unknown, ctx: z.core.$RefinementCtx) => {
    try {
      parse(value);
    } catch (error) {
      if (!CartError.is(error)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message, params: { code: error.code } });
    }
  };
}

function itemNameSchema(limits: CartLimits) {
  return z
    .string({ error: 'Item name must be a string.' })
    .min(1, { error: 'Item name must not be empty.', abort: true })
    .superRefine(coreRule((value) => parseItemName(value, limits)))
    .meta({
      description:
        'Item name. The server applies Unicode NFC, removes zero-width and other invisible ' +
        'format characters (Unicode category Cf), trims white space, and refuses control ' +
        `characters and names left empty; at most ${limits.maxNameLength} characters after that.`,
      maxLength: limits.maxNameLength,
      examples: ['Product1'],
    });
}

function quantitySchema(limits: CartLimits) {
  return z
    .int({ error: 'Quantity must be a positive integer.' })
    .min(1, { error: 'Quantity must be a positive integer.', abort: true })
    .max(limits.maxQuantity, {
      error: `Quantity must be at most ${limits.maxQuantity}.`,
      abort: true,
    });
}

function addItemSchema(limits: CartLimits) {
  return z.strictObject(
    {
      name: itemNameSchema(limits),
      quantity: quantitySchema(limits)
        .default(1)
        .meta({ description: 'How many to add to the line. Default 1.' }),
    },
    { error: bodyError },
  );
}

function setQuantitySchema(limits: CartLimits) {
  return z.strictObject(
    { quantity: quantitySchema(limits).meta({ description: "The line's new quantity." }) },
    { error: bodyError },
  );
}

function reserveSchema(limits: CartLimits) {
  return z.strictObject({ name: itemNameSchema(limits) }, { error: bodyError });
}

/** An item as the API shows it. */
export type ItemRepresentation = z.output<typeof ItemSchema>;
/** A reservation as the API shows it. */
export type ReservationRepresentation = z.output<typeof ReservationSchema>;
