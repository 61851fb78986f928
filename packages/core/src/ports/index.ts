export { type Clock, type ClockTimer, systemClock } from './clock.js';
export { type LogFn, type Logger, silentLogger } from './logger.js';
export type {
  ReservationRequest,
  ReservationResult,
  Reserver,
  ReserverCallOptions,
} from './reserver.js';
export type { JobAttempt, JobHandler, Scheduler, StopOptions } from './scheduler.js';
export type {
  CartStorage,
  IdempotencyRecord,
  ListJobsOptions,
  SaveCartOptions,
  StoredResponse,
} from './storage.js';
