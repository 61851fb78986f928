import { type Cart, ErrorCode, type ReservationTask, StorageError } from '@cartkit/core';

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function corrupt(what: string, id: string, reason: string): StorageError {
  return new StorageError(
    ErrorCode.STORAGE_CORRUPT_DATA,
    `Stored ${what} "${id}" is not a cartkit ${what}: ${reason}.`,
    { details: { [what === 'cart' ? 'cartId' : 'taskId']: id } },
  );
}

/** Checks a cart row read back: enough to tell a cartkit cart from a foreign or damaged value. */
export function decodeCart(id: string, version: unknown, document: unknown): Cart {
  if (
    !isObject(document) ||
    document.id !== id ||
    !Array.isArray(document.lines) ||
    typeof document.createdAt !== 'string' ||
    typeof document.updatedAt !== 'string'
  ) {
    throw corrupt('cart', id, 'unexpected document shape');
  }
  if (document.version !== version) {
    throw corrupt(
      'cart',
      id,
      `document version ${String(document.version)} ≠ row version ${String(version)}`,
    );
  }
  return document as unknown as Cart;
}

/** Checks a task read back from the outbox. */
export function decodeTask(id: string, document: unknown): ReservationTask {
  if (
    !isObject(document) ||
    document.id !== id ||
    typeof document.idempotencyKey !== 'string' ||
    (document.kind !== 'reserve' && document.kind !== 'release') ||
    typeof document.cartId !== 'string' ||
    typeof document.itemName !== 'string' ||
    !Number.isSafeInteger(document.quantity) ||
    (document.reservationId !== null && typeof document.reservationId !== 'string') ||
    !Number.isSafeInteger(document.createdAt)
  ) {
    throw corrupt('task', id, 'unexpected document shape');
  }
  return document as unknown as ReservationTask;
}

/** A `bigint` column as pg returns it (a string), as a number; `null` stays `null`. */
export function toMillis(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new TypeError(`not an integer: ${String(value)}`);
  return n;
}
