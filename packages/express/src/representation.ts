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
