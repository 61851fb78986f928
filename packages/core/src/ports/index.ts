export type { CartStore, SaveCartOptions } from './cart-store.js';
export type {
  CartChange,
  CartChangeKind,
  ChangeFeed,
  ChangeFeedEvent,
  ChangeSubscribeOptions,
  ChangeSubscription,
} from './change-feed.js';
export { type Clock, type ClockTimer, systemClock } from './clock.js';
export type {
  CompletedIdempotencyRecord,
  IdempotencyClaim,
  IdempotencyRecord,
  IdempotencyStore,
  StoredResponse,
} from './idempotency.js';
export { type LogFn, type Logger, silentLogger } from './logger.js';
export type { ClaimedTask, ClaimOptions, Outbox } from './outbox.js';
export type {
  ReservationRequest,
  ReservationResult,
  Reserver,
  ReserverCallOptions,
} from './reserver.js';
export type { Scheduler, StopOptions, TaskDelivery, TaskHandler } from './scheduler.js';
export type { CartStorage } from './storage.js';
