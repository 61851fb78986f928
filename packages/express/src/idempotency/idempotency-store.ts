import type { CartStorage } from '@cartkit/core';

/**
 * Where idempotency records live: the idempotency-record part of the
 * {@link CartStorage} port. Any `CartStorage` is one (pass the storage your cart
 * runs on, so records are shared by every process that shares the carts).
 */
export type IdempotencyStore = Pick<
  CartStorage,
  | 'createIdempotencyRecord'
  | 'getIdempotencyRecord'
  | 'putIdempotencyRecord'
  | 'deleteIdempotencyRecord'
>;
