import { ConfigurationError, ErrorCode, ValidationError } from '../errors/index.js';

/** Limits the cart rules enforce. All are configurable on {@link CartService}. */
export interface CartLimits {
  /** Longest item name, in characters after trimming. Default 200. */
  readonly maxNameLength: number;
  /** Largest quantity of one line. Default 10,000. */
  readonly maxQuantity: number;
  /** Most lines one cart may hold. Default 500. */
  readonly maxLines: number;
}

/** The default {@link CartLimits}. */
export const defaultCartLimits: CartLimits = Object.freeze({
  maxNameLength: 200,
  maxQuantity: 10_000,
  maxLines: 500,
});

/** Longest accepted cart id. */
export const MAX_CART_ID_LENGTH = 256;

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/u;
/** A UTF-16 surrogate not part of a pair: not valid Unicode, and not storable as UTF-8. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Validates a cart id: a string of 1 to 256 UTF-16 units, well-formed Unicode, no
 * control characters. Throws `INVALID_CART_ID`.
 */
export function parseCartId(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CART_ID_LENGTH) {
    throw new ValidationError(
      ErrorCode.INVALID_CART_ID,
      `Cart id must be a non-empty string of at most ${MAX_CART_ID_LENGTH} characters.`,
      { details: { field: 'cartId' } },
    );
  }
  if (CONTROL_CHARACTERS.test(value) || LONE_SURROGATE.test(value)) {
    throw new ValidationError(
      ErrorCode.INVALID_CART_ID,
      'Cart id must be valid Unicode without control characters.',
      { details: { field: 'cartId' } },
    );
  }
  return value;
}

/**
 * Validates and normalises an item name: a string, trimmed, NFC-normalised,
 * non-empty, at most `maxNameLength` characters, well-formed Unicode (no lone
 * surrogates), no control characters.
 * Throws `INVALID_ITEM_NAME`.
 */
export function parseItemName(value: unknown, limits: CartLimits): string {
  if (typeof value !== 'string') {
    throw new ValidationError(ErrorCode.INVALID_ITEM_NAME, 'Item name must be a string.', {
      details: { field: 'name' },
    });
  }
  if (LONE_SURROGATE.test(value)) {
    throw new ValidationError(ErrorCode.INVALID_ITEM_NAME, 'Item name must be valid Unicode.', {
      details: { field: 'name' },
    });
  }
  const name = value.normalize('NFC').trim();
  if (name.length === 0) {
    throw new ValidationError(ErrorCode.INVALID_ITEM_NAME, 'Item name must not be empty.', {
      details: { field: 'name' },
    });
  }
  if ([...name].length > limits.maxNameLength) {
    throw new ValidationError(
      ErrorCode.INVALID_ITEM_NAME,
      `Item name must be at most ${limits.maxNameLength} characters.`,
      { details: { field: 'name', maxLength: limits.maxNameLength } },
    );
  }
  if (CONTROL_CHARACTERS.test(name)) {
    throw new ValidationError(
      ErrorCode.INVALID_ITEM_NAME,
      'Item name must not contain control characters.',
      {
        details: { field: 'name' },
      },
    );
  }
  return name;
}

/**
 * Validates a quantity: a safe integer from 1 to `maxQuantity`.
 * Throws `INVALID_QUANTITY` (not a positive integer) or `QUANTITY_LIMIT_EXCEEDED`.
 */
export function parseQuantity(value: unknown, limits: CartLimits): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ValidationError(ErrorCode.INVALID_QUANTITY, 'Quantity must be a positive integer.', {
      details: { field: 'quantity' },
    });
  }
  if (value > limits.maxQuantity) {
    throw new ValidationError(
      ErrorCode.QUANTITY_LIMIT_EXCEEDED,
      `Quantity must be at most ${limits.maxQuantity}.`,
      { details: { field: 'quantity', maxQuantity: limits.maxQuantity } },
    );
  }
  return value;
}

/** Validates an expected version (a non-negative safe integer). Throws `INVALID_VERSION`. */
export function parseVersion(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(
      ErrorCode.INVALID_VERSION,
      'Expected version must be a non-negative integer.',
      {
        details: { field: 'expectedVersion' },
      },
    );
  }
  return value;
}

/** Checks user-supplied limits and fills in defaults. Throws {@link ConfigurationError}. */
export function resolveLimits(limits: Partial<CartLimits> | undefined): CartLimits {
  const resolved = { ...defaultCartLimits, ...limits };
  for (const key of ['maxNameLength', 'maxQuantity', 'maxLines'] as const) {
    const value = resolved[key];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ConfigurationError(
        `Option "limits.${key}" must be a positive integer, got ${String(value)}.`,
        {
          option: `limits.${key}`,
        },
      );
    }
  }
  return Object.freeze(resolved);
}
