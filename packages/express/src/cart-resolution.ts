import { parseCartId } from '@cartkit/core';
import type { Request } from 'express';
import { UnauthorizedError } from './errors/unauthorized-error.js';

/**
 * The app's hook that says which cart a request acts on (from its session, user,
 * token...). Return the cart id, or `undefined` / `null` when the request is not
 * authenticated (401 `UNAUTHENTICATED`).
 *
 * What its errors become: an {@link UnauthorizedError} → 401; a core
 * `ValidationError` (and an invalid returned id, `INVALID_CART_ID`) → 400; an
 * `HttpProblem` → its own status (e.g. 403); any other error → 500
 * `INTERNAL_ERROR`, logged.
 */
export type ResolveCartId = (
  req: Request,
) => string | undefined | null | Promise<string | undefined | null>;

/** The cart id of the default hook: one shared cart, as in the seed. */
export const DEFAULT_CART_ID = 'default';

/** The default hook: every request acts on the shared cart {@link DEFAULT_CART_ID}. */
export const sharedCart: ResolveCartId = () => DEFAULT_CART_ID;

/** Runs the hook and checks its answer with core's cart-id rules. */
export async function resolveCartOf(resolve: ResolveCartId, req: Request): Promise<string> {
  const cartId = await resolve(req);
  if (cartId === undefined || cartId === null) throw new UnauthorizedError();
  return parseCartId(cartId);
}
