export { CartError, type CartErrorKind, type CartErrorOptions } from './cart-error.js';
export {
  ConfigurationError,
  ConflictError,
  NotFoundError,
  ReservationError,
  type ReservationErrorOptions,
  StorageError,
  toReservationError,
  ValidationError,
} from './classes.js';
export { ErrorCode } from './codes.js';
