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
 * Characters that render as nothing: format characters (Unicode category Cf: zero-width
 * space and joiners, bidi marks, soft hyphen, BOM...) and the other default-ignorable
 * code points (variation selectors, Hangul fillers, tags...).
 */
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;
/** Space separators (no-break space, en/em/thin spaces...): they render as a plain space. */
const SPACE_SEPARATOR = /\p{Zs}/gu;

/** Characters that show nothing: whitespace and the invisible characters above. */
const BLANK = /^[\s\p{Zs}\p{Cf}\p{Default_Ignorable_Code_Point}]*$/u;

/**
 * Validates a cart id: a string of 1 to 256 UTF-16 units, well-formed Unicode, no
 * control characters, not blank (something visible: not only spaces or invisible
 * characters, which an identity — a header, a token's `sub` — could send by
 * mistake and which would name one cart shared by every such caller). Throws
 * `INVALID_CART_ID`, saying which rule the value broke.
 */
export function parseCartId(value: unknown): string {
  const invalid = (message: string) =>
    new ValidationError(ErrorCode.INVALID_CART_ID, message, { details: { field: 'cartId' } });
  if (typeof value !== 'string') {
    throw invalid(`Cart id must be a string, not ${describeType(value)}.`);
  }
  if (value.length === 0) throw invalid('Cart id must not be empty.');
  if (value.length > MAX_CART_ID_LENGTH) {
    throw invalid(`Cart id must be at most ${MAX_CART_ID_LENGTH} characters, not ${value.length}.`);
  }
  if (CONTROL_CHARACTERS.test(value) || LONE_SURROGATE.test(value)) {
    throw invalid('Cart id must be valid Unicode without control characters.');
  }
  if (BLANK.test(value)) {
    throw invalid('Cart id must not be blank (only spaces or invisible characters).');
  }
  return value;
}

/** `the number 1.5`, `null`, `an object`... for messages about a value of the wrong type. */
function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'number':
      return `the number ${String(value)}`;
    case 'bigint':
      return `the bigint ${String(value)}`;
    case 'boolean':
      return `the boolean ${String(value)}`;
    case 'object':
      return 'an object';
    case 'undefined':
      return 'undefined';
    default:
      return `a ${typeof value}`;
  }
}

/**
 * Validates and normalises an item name, so that names that look the same are the
 * same line: Unicode NFC; invisible characters removed (format characters, Unicode
 * category Cf — zero-width space, zero-width joiner and non-joiner, bidi marks, soft
 * hyphen, BOM — and the other default-ignorable code points such as variation
 * selectors); space separators (no-break space, thin space...) made plain spaces;
 * then trimmed. The result must be non-empty, at most `maxNameLength` characters,
 * well-formed Unicode (no lone surrogates) and free of control characters.
 * Throws `INVALID_ITEM_NAME`.
 */
export function parseItemName(value: unknown, limits: CartLimits): string {
  const invalid = (message: string, details: Record<string, unknown> = {}) =>
    new ValidationError(ErrorCode.INVALID_ITEM_NAME, message, {
      details: { field: 'name', ...details },
    });
  if (typeof value !== 'string') throw invalid('Item name must be a string.');
  if (LONE_SURROGATE.test(value)) throw invalid('Item name must be valid Unicode.');
  const visible = value.normalize('NFC').replace(INVISIBLE, '');
  const name = visible.replace(SPACE_SEPARATOR, ' ').trim();
  if (name.length === 0) {
    throw invalid(
      value.trim().length === 0
        ? 'Item name must not be empty.'
        : 'Item name must contain a visible character.',
    );
  }
  if ([...name].length > limits.maxNameLength) {
    throw invalid(`Item name must be at most ${limits.maxNameLength} characters.`, {
      maxLength: limits.maxNameLength,
    });
  }
  if (CONTROL_CHARACTERS.test(name)) {
    throw invalid('Item name must not contain control characters.');
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

/**
 * Validates `WriteOptions.expectedVersion`: one version, or a non-empty list of them
 * (any of which will do: HTTP `If-Match` with several entity tags). Throws
 * `INVALID_VERSION`.
 */
export function parseExpectedVersion(value: unknown): number | readonly number[] {
  if (!Array.isArray(value)) return parseVersion(value);
  if (value.length === 0) {
    throw new ValidationError(
      ErrorCode.INVALID_VERSION,
      'Expected versions must be a non-empty list of non-negative integers.',
      { details: { field: 'expectedVersion' } },
    );
  }
  return Object.freeze(value.map(parseVersion));
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
