/** What a committed cart change did (the first difference found, most telling first). */
export type CartChangeKind =
  | 'item-added'
  | 'item-updated'
  | 'item-removed'
  | 'cart-cleared'
  | 'reservation-updated'
  /** The version moved with no difference in the lines (e.g. a timestamp only). */
  | 'cart-updated';

/** One committed cart change, published after the commit. */
export interface CartChange {
  readonly cartId: string;
  /** The cart's version after the change: a cart's changes have consecutive versions. */
  readonly version: number;
  readonly kind: CartChangeKind;
  /** The line the change concerns, when it concerns one. */
  readonly itemName?: string;
  /** When the change was committed (the cart's `updatedAt`), ISO 8601. */
  readonly at: string;
}

/** What a subscriber receives. */
export type ChangeFeedEvent =
  | { readonly type: 'change'; readonly change: CartChange }
  | {
      /**
       * Changes were missed (a version gap, or a resume point older than the feed
       * remembers): re-read the cart. Later changes follow as usual.
       */
      readonly type: 'resync';
      readonly reason: string;
      /** The newest version the feed knew of when it noticed, if any. */
      readonly version?: number;
    };

/** Options of {@link ChangeFeed.subscribe}. */
export interface ChangeSubscribeOptions {
  /**
   * Resume after this version: changes with a higher version that the feed still
   * remembers are delivered first, in order; if the feed cannot prove it has all
   * of them, one `resync` event comes first instead. Without it, only changes
   * published from now on are delivered.
   */
  readonly afterVersion?: number;
}

/** A live subscription. */
export interface ChangeSubscription {
  /** Stops delivery and frees the subscription. Idempotent. */
  close(): void;
}

/**
 * Port: announces committed cart changes. The cart repository publishes one
 * {@link CartChange} after each committed save (never before the commit, never
 * for a write that changed nothing); subscribers follow one cart.
 *
 * Contract (checked by `changeFeedContractSuite` in `@cartkit/testing`):
 * - a subscriber gets its cart's changes only, each version at most once, in
 *   increasing version order;
 * - a version gap it would see (a change published elsewhere and lost) becomes
 *   one `resync` event, then delivery goes on;
 * - `afterVersion` replays remembered changes, or emits `resync`;
 * - a listener that throws affects neither the publisher nor other listeners;
 * - after `close()` of a subscription, or of the feed, nothing more is delivered.
 */
export interface ChangeFeed {
  /**
   * Announces a committed change. The repository calls it after the commit and
   * never lets a failure fail the write (it is logged).
   */
  publish(change: CartChange): Promise<void>;

  /** Follows one cart's changes; `listener` is called once per event, in order. */
  subscribe(
    cartId: string,
    listener: (event: ChangeFeedEvent) => void,
    options?: ChangeSubscribeOptions,
  ): ChangeSubscription;

  /** Ends every subscription and releases resources. */
  close(): Promise<void>;
}
