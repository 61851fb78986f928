import type { Cart, CartLine, LineReservation } from '@cartkit/core';
import type { ItemRepresentation, ReservationRepresentation } from './schemas.js';

/*
 * Turns core's cart types into the API's wire shapes. The wire shapes are their
 * own contract (see `schemas.ts`): internal fields such as the job id stay inside.
 */

/** A cart line as the API shows it. */
export function toItem(line: CartLine): ItemRepresentation {
  return {
    name: line.name,
    quantity: line.quantity,
    reservation: line.reservation === null ? null : toReservation(line.reservation),
    addedAt: line.addedAt,
    updatedAt: line.updatedAt,
  };
}

/** A line's reservation as the API shows it. */
export function toReservation(reservation: LineReservation): ReservationRepresentation {
  return {
    status: reservation.status,
    id: reservation.reservationId,
    quantity: reservation.quantity,
    attempts: reservation.attempts,
    lastError:
      reservation.lastError === null
        ? null
        : { code: reservation.lastError.code, message: reservation.lastError.message },
    requestedAt: reservation.requestedAt,
    updatedAt: reservation.updatedAt,
  };
}

/** The `GET /items` body. */
export function toCartItems(cart: Cart): { items: ItemRepresentation[]; version: number } {
  return { items: cart.lines.map(toItem), version: cart.version };
}

/**
 * The `GET /items` body of carts already answered, serialised, by cart object. Stores
 * that hand out one frozen object per stored version (core's memory storage, the
 * SQLite storage's read cache) make every later read of that version a lookup: no
 * mapping, no `JSON.stringify` — for a 500-line cart that is most of a request's
 * work. Keyed weakly by the object itself, so an entry lives exactly as long as the
 * store keeps that cart, and a new version (a new object) can never be answered
 * with an old body. A cart that is not frozen (a store returning fresh copies) is
 * not cached: nothing would ever hit, and it could change after serialising
 * (a cart is cached only when it and everything the body shows of it is frozen).
 */
const cartItemsPayloads = new WeakMap<Cart, Buffer>();

/** The `GET /items` body of `cart` as UTF-8 JSON (cached for frozen carts). */
export function cartItemsPayload(cart: Cart): Buffer {
  const cached = cartItemsPayloads.get(cart);
  if (cached !== undefined) return cached;
  const payload = Buffer.from(JSON.stringify(toCartItems(cart)), 'utf8');
  if (isDeeplyFrozen(cart)) cartItemsPayloads.set(cart, payload);
  return payload;
}

/** True when nothing the `GET /items` body shows of `cart` can change any more. */
function isDeeplyFrozen(cart: Cart): boolean {
  if (!Object.isFrozen(cart) || !Object.isFrozen(cart.lines)) return false;
  return cart.lines.every(
    (line) =>
      Object.isFrozen(line) &&
      (line.reservation === null ||
        (Object.isFrozen(line.reservation) &&
          (line.reservation.lastError === null || Object.isFrozen(line.reservation.lastError)))),
  );
}
