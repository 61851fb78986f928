/**
 * cartkit core: the cart domain, its ports, the cart service, typed errors and
 * composition helpers. No framework, driver or HTTP import lives here.
 * @packageDocumentation
 */
export {
  type CartRuntime,
  type CreateCartOptions,
  createCart,
} from './composition/create-cart.js';
export { type CartSettings, CartTokens, type Token } from './composition/tokens.js';
export {
  type Cart,
  type CartLine,
  emptyCart,
  findLine,
  type LineReservation,
  type ReservationFailure,
  type ReservationStatus,
} from './domain/cart.js';
export { freezeCart } from './domain/freeze.js';
export {
  type CartLimits,
  defaultCartLimits,
  MAX_CART_ID_LENGTH,
  parseCartId,
  parseItemName,
  parseQuantity,
} from './domain/rules.js';
export { newTask, type ReservationTask, type ReservationTaskKind } from './domain/task.js';
export * from './errors/index.js';
export { MemoryCartStorage, type MemoryCartStorageOptions } from './memory/memory-cart-storage.js';
export { MemoryChangeFeed, type MemoryChangeFeedOptions } from './memory/memory-change-feed.js';
export {
  canTakeOverClaim,
  MemoryIdempotencyStore,
  type MemoryIdempotencyStoreOptions,
} from './memory/memory-idempotency-store.js';
export {
  type HeldReservation,
  MemoryReserver,
  type MemoryReserverOptions,
} from './memory/memory-reserver.js';
export * from './ports/index.js';
export {
  type DeliveryEvent,
  InProcessScheduler,
  type InProcessSchedulerOptions,
} from './scheduling/in-process-scheduler.js';
export {
  computeRetryDelay,
  defaultRetryPolicy,
  type RetryPolicy,
  resolveRetryPolicy,
} from './scheduling/retry-policy.js';
export {
  type CartMutation,
  CartRepository,
  type CartRepositoryOptions,
  type MutateOptions,
  type MutationResult,
} from './service/cart-repository.js';
export {
  type AddItemInput,
  CartService,
  type CartServiceOptions,
  type LineChange,
  type ReservationRequestResult,
  type WriteOptions,
} from './service/cart-service.js';
export { type ChangeDescription, describeChange } from './service/describe-change.js';
export {
  isInterruption,
  ReservationWorker,
  type ReservationWorkerOptions,
} from './service/reservation-worker.js';
export {
  type ChangeFeedSubscriber,
  deliverChange,
  emitChangeEvent,
} from './support/change-delivery.js';
export { KeyedMutex } from './support/keyed-mutex.js';
export {
  clockOption,
  integerOption,
  invalidOption,
  loggerOption,
  redactUrlPassword,
  rejectUnknownOptions,
} from './support/options.js';
