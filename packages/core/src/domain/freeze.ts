import type { Cart } from './cart.js';

/**
 * Freezes `cart` and everything in it (lines, reservations, failures), then returns
 * it. A store that hands the same cart object to several readers (a read cache)
 * freezes it first, so no reader can change what the others see: in strict-mode
 * code an attempt to write to it throws a `TypeError`. Domain code never mutates a
 * cart — every transition builds a new one — so frozen carts flow through it as is.
 */
export function freezeCart(cart: Cart): Cart {
  deepFreeze(cart);
  return cart;
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (const item of value) deepFreeze(item);
    return;
  }
  for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
}
