import type { CartStore } from './cart-store.js';
import type { Outbox } from './outbox.js';

/**
 * What a storage adapter provides: carts with their transactional outbox
 * ({@link CartStore}, with its optional `idempotency` store of the HTTP layer's
 * records) and the {@link Outbox} schedulers take tasks from.
 * `createCart({ storage })` takes one of these.
 */
export interface CartStorage extends CartStore, Outbox {}
