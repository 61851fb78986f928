/** Where a line's reservation at the external service stands. */
export type ReservationStatus = 'pending' | 'reserved' | 'failed';

/** Why the last reservation attempt of a line failed. */
export interface ReservationFailure {
  /** Stable error code, e.g. `RESERVATION_REFUSED`. */
  readonly code: string;
  /** Human-readable reason (from the service when it gave one). */
  readonly message: string;
}

/** The reservation state of one cart line. */
export interface LineReservation {
  /** `pending` until the background task settles, then `reserved` or `failed`. */
  readonly status: ReservationStatus;
  /** Id of the reservation task that drives this reservation (the field keeps its stored name). */
  readonly jobId: string;
  /** The `Idempotency-Key` its attempts send (stable across retries and re-requests after uncertain failures). */
  readonly idempotencyKey: string;
  /** The quantity this reservation is for. */
  readonly quantity: number;
  /** The external service's reservation id, once reserved. */
  readonly reservationId: string | null;
  /** Attempts made so far. */
  readonly attempts: number;
  /** The last failure, if any attempt failed. */
  readonly lastError: ReservationFailure | null;
  /** When the reservation was requested (ISO 8601). */
  readonly requestedAt: string;
  /** When the reservation state last changed (ISO 8601). */
  readonly updatedAt: string;
}

/** One line of a cart: an item name, its quantity and its reservation state. */
export interface CartLine {
  /** The item name: trimmed, NFC-normalised, unique within the cart. */
  readonly name: string;
  /** A positive integer no greater than the configured maximum. */
  readonly quantity: number;
  /** The reservation of this line, or `null` when none was requested. */
  readonly reservation: LineReservation | null;
  /** When the line was first added (ISO 8601). */
  readonly addedAt: string;
  /** When the line last changed (ISO 8601). */
  readonly updatedAt: string;
}

/**
 * A cart. `version` starts at 0 for a cart that was never saved and increases by
 * exactly one on every saved change; storage uses it for compare-and-set.
 */
export interface Cart {
  /** The cart's identity, chosen by the embedding application. */
  readonly id: string;
  /** Increases by one on every saved change; 0 means never saved. */
  readonly version: number;
  /** The lines, in the order they were added. */
  readonly lines: readonly CartLine[];
  /** When the cart was first saved (ISO 8601). */
  readonly createdAt: string;
  /** When the cart last changed (ISO 8601). */
  readonly updatedAt: string;
}

/** A new, never-saved cart (version 0, no lines). */
export function emptyCart(id: string, now: string): Cart {
  return { id, version: 0, lines: [], createdAt: now, updatedAt: now };
}

/** Finds a line by its (already normalised) name. */
export function findLine(cart: Cart, name: string): CartLine | undefined {
  return cart.lines.find((line) => line.name === name);
}

/** Returns the cart with `line` replacing the line of the same name (or appended). */
export function putLine(cart: Cart, line: CartLine): readonly CartLine[] {
  const index = cart.lines.findIndex((l) => l.name === line.name);
  if (index === -1) return [...cart.lines, line];
  const lines = cart.lines.slice();
  lines[index] = line;
  return lines;
}

/** Returns the lines without the one named `name`. */
export function withoutLine(cart: Cart, name: string): readonly CartLine[] {
  return cart.lines.filter((line) => line.name !== name);
}
