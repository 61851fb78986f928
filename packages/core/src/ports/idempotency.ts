/** A response recorded for an idempotent HTTP request, replayed on retries. */
export interface StoredResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

/** The state of an idempotency key (IETF httpapi `Idempotency-Key` semantics). */
export interface IdempotencyRecord {
  /** The full key, already scoped by the caller (e.g. cart id + client key). */
  readonly key: string;
  /** Fingerprint of the first request; a retry with another fingerprint is refused. */
  readonly fingerprint: string;
  /** `in-progress` while a request holds the key, then `completed` with its response. */
  readonly status: 'in-progress' | 'completed';
  /** The first request's response, once completed (`null` while in progress). */
  readonly response: StoredResponse | null;
  /**
   * When an `in-progress` claim lapses, epoch milliseconds (`null` once completed).
   * A claim whose request died (process killed) is taken over by the next retry
   * after this time, so a key is never stuck behind a request that will not finish.
   */
  readonly leaseUntil: number | null;
  /** When the whole record expires, epoch milliseconds. Expired records are invisible. */
  readonly expiresAt: number;
}

/** A record with its response: what a cart write carries in `SaveCartOptions.idempotency`. */
export type CompletedIdempotencyRecord = IdempotencyRecord & {
  readonly status: 'completed';
  readonly response: StoredResponse;
  readonly leaseUntil: null;
};

/** The outcome of {@link IdempotencyStore.claim}. */
export type IdempotencyClaim =
  | { readonly claimed: true }
  | { readonly claimed: false; readonly existing: IdempotencyRecord };

/**
 * Port: the HTTP layer's `Idempotency-Key` records.
 *
 * A request claims its key (`claim`), runs, and completes it. A request that
 * changes a cart completes the key in the SAME atomic write as the cart change —
 * the cart store writes the record it is given in `SaveCartOptions.idempotency`
 * into this store — so "committed" and "replayable" can never diverge. A request
 * that changes nothing completes it with `complete`; a failed request `release`s it.
 *
 * Contract (checked by `idempotencyStoreContractSuite` in `@cartkit/testing`):
 * - `claim` is atomic, also across processes sharing the store: of concurrent
 *   claims of a free key exactly one wins.
 * - An `in-progress` record whose `leaseUntil` has passed is taken over by a claim
 *   with the SAME fingerprint (never by another fingerprint).
 * - Records whose `expiresAt` has passed are invisible (and may be purged).
 * - The first completion wins: a completed record is never overwritten, released
 *   or taken over until it expires.
 * - Values read back are equal to what was written (no shared mutable references).
 */
export interface IdempotencyStore {
  /**
   * Claims a key: stores `record` (status `in-progress`, with its `leaseUntil`) if
   * no live record has the key, or if the live one is an `in-progress` claim with
   * the same fingerprint whose lease has passed (taken over).
   * @returns `{ claimed: true }`, or `{ claimed: false, existing }` with the live record.
   */
  claim(record: IdempotencyRecord): Promise<IdempotencyClaim>;

  /**
   * Records the response of a request that changed no cart (no cart write to
   * share). Does nothing if the key is already completed (first completion wins).
   */
  complete(record: CompletedIdempotencyRecord): Promise<void>;

  /**
   * Drops an `in-progress` claim with this fingerprint whose request failed (it
   * changed nothing, so running it again is safe). Leaves completed records alone.
   */
  release(key: string, fingerprint: string): Promise<void>;

  /** Reads a live record, or `undefined` (absent or expired). */
  get(key: string): Promise<IdempotencyRecord | undefined>;
}
