import type { Cart, CartLine } from '../domain/cart.js';
import type { CartChangeKind } from '../ports/change-feed.js';

/** What one saved change did to a cart: its kind and the line concerned. */
export interface ChangeDescription {
  readonly kind: CartChangeKind;
  readonly itemName?: string;
}

/**
 * Describes the difference between a cart and its next version: emptied:
 * `cart-cleared`; otherwise the first line added, removed, changed in quantity, or
 * changed in reservation (in that order of preference); `cart-updated` when the
 * lines are the same. Derived from the carts themselves, so every write path
 * (service, reservation worker) is described alike.
 */
export function describeChange(before: Cart, after: Cart): ChangeDescription {
  if (after.lines.length === 0 && before.lines.length > 0) return { kind: 'cart-cleared' };
  const previous = new Map<string, CartLine>(before.lines.map((line) => [line.name, line]));
  const current = new Set(after.lines.map((line) => line.name));
  let quantity: string | undefined;
  let reservation: string | undefined;
  for (const line of after.lines) {
    const old = previous.get(line.name);
    if (old === undefined) return { kind: 'item-added', itemName: line.name };
    if (old === line) continue; // untouched (unchanged lines keep their object)
    if (quantity === undefined && old.quantity !== line.quantity) quantity = line.name;
    if (
      reservation === undefined &&
      old.reservation !== line.reservation &&
      JSON.stringify(old.reservation) !== JSON.stringify(line.reservation)
    ) {
      reservation = line.name;
    }
  }
  for (const line of before.lines) {
    if (!current.has(line.name)) return { kind: 'item-removed', itemName: line.name };
  }
  if (quantity !== undefined) return { kind: 'item-updated', itemName: quantity };
  if (reservation !== undefined) return { kind: 'reservation-updated', itemName: reservation };
  return { kind: 'cart-updated' };
}
