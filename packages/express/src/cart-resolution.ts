import { ErrorCode, parseCartId, ValidationError } from '@cartkit/core';
import type { Request } from 'express';
import { UnauthorizedError } from './errors/unauthorized-error.js';

/**
 * The app's hook that says which cart a request acts on (from its session, user,
 * token...). Return the cart id — a string, or a safe integer such as a numeric user
 * id, which becomes its decimal string (`42` → `"42"`) — or `undefined` / `null` when
 * the request is not authenticated (401 `UNAUTHENTICATED`).
 *
 * What its errors become: an {@link UnauthorizedError} → 401; a core
 * `ValidationError` (and an invalid returned id, `INVALID_CART_ID`) → 400; an
 * `HttpProblem` → its own status (e.g. 403); any other error → 500
 * `INTERNAL_ERROR`, logged.
 */
export type ResolveCartId = (
  req: Request,
) => string | number | undefined | null | Promise<string | number | undefined | null>;

/** The cart id of the default hook: one shared cart, as in the seed. */
export const DEFAULT_CART_ID = 'default';

/** The default hook: every request acts on the shared cart {@link DEFAULT_CART_ID}. */
export const sharedCart: ResolveCartId = () => DEFAULT_CART_ID;

/**
 * Runs the hook and checks its answer with core's cart-id rules. A safe integer
 * becomes its decimal string; any other non-string is refused with `INVALID_CART_ID`
 * naming what the hook returned.
 */
export async function resolveCartOf(resolve: ResolveCartId, req: Request): Promise<string> {
  const cartId: unknown = await resolve(req);
  if (cartId === undefined || cartId === null) throw new UnauthorizedError();
  if (typeof cartId === 'number') {
    if (Number.isSafeInteger(cartId)) return parseCartId(String(cartId));
    throw invalidCartId(
      `The cart id from resolveCartId must be a string or a safe integer, not the number ${String(cartId)}.`,
    );
  }
  if (typeof cartId !== 'string') {
    throw invalidCartId(
      `The cart id from resolveCartId must be a string or a safe integer, not ${describe(cartId)}.`,
    );
  }
  return parseCartId(cartId);
}

function invalidCartId(message: string): ValidationError {
  return new ValidationError(ErrorCode.INVALID_CART_ID, message, { details: { field: 'cartId' } });
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'bigint') return `the bigint ${String(value)}`;
  if (typeof value === 'boolean') return `the boolean ${String(value)}`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
