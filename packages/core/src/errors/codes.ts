/**
 * Every error code cartkit's core can produce. Codes are stable: they are part of
 * the public API and are what HTTP problem documents carry as `code`.
 */
export const ErrorCode = {
  /** The cart id is not a non-empty, non-blank string of allowed length and characters. */
  INVALID_CART_ID: 'INVALID_CART_ID',
  /** The item name is missing, not a string, blank, only invisible characters, too long or has control characters. */
  INVALID_ITEM_NAME: 'INVALID_ITEM_NAME',
  /** The quantity is not a positive safe integer. */
  INVALID_QUANTITY: 'INVALID_QUANTITY',
  /** The resulting quantity of a line would exceed the configured maximum. */
  QUANTITY_LIMIT_EXCEEDED: 'QUANTITY_LIMIT_EXCEEDED',
  /** The cart already has the configured maximum number of lines. */
  CART_LINE_LIMIT_EXCEEDED: 'CART_LINE_LIMIT_EXCEEDED',
  /** An expected version is not a non-negative integer. */
  INVALID_VERSION: 'INVALID_VERSION',
  /** The cart does not exist (it has never been written). */
  CART_NOT_FOUND: 'CART_NOT_FOUND',
  /** The cart has no line with that item name. */
  ITEM_NOT_FOUND: 'ITEM_NOT_FOUND',
  /** The caller's expected version is not the cart's current version. */
  VERSION_MISMATCH: 'VERSION_MISMATCH',
  /** A compare-and-set save lost to a concurrent writer. */
  VERSION_CONFLICT: 'VERSION_CONFLICT',
  /**
   * A cart write carried a completed idempotency record, but the key was already
   * completed (another attempt of the same request committed first): nothing was
   * written; replay the recorded response instead.
   */
  IDEMPOTENCY_KEY_COMPLETED: 'IDEMPOTENCY_KEY_COMPLETED',
  /** Too many concurrent writers: the save kept losing and gave up. */
  CONCURRENT_MODIFICATION: 'CONCURRENT_MODIFICATION',
  /** The reservation service refused the request for good. */
  RESERVATION_REFUSED: 'RESERVATION_REFUSED',
  /** The reservation service could not be reached or asked to retry later. */
  RESERVATION_UNAVAILABLE: 'RESERVATION_UNAVAILABLE',
  /** The reservation service answered something cartkit cannot use. */
  RESERVATION_BAD_RESPONSE: 'RESERVATION_BAD_RESPONSE',
  /** The reservation attempt was aborted (timeout or shutdown). */
  RESERVATION_ABORTED: 'RESERVATION_ABORTED',
  /** The storage backend failed. */
  STORAGE_FAILURE: 'STORAGE_FAILURE',
  /** A stored value could not be read as a cartkit document. */
  STORAGE_CORRUPT_DATA: 'STORAGE_CORRUPT_DATA',
  /** The storage could not be opened (missing folder, read-only, locked...). */
  STORAGE_UNAVAILABLE: 'STORAGE_UNAVAILABLE',
  /** An option passed to a factory or constructor is invalid. */
  INVALID_OPTION: 'INVALID_OPTION',
  /** The component was used after it was closed or stopped. */
  CLOSED: 'CLOSED',
} as const;

/** A stable cartkit error code. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
