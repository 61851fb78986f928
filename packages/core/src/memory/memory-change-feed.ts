import { ConfigurationError } from '../errors/index.js';
import type {
  CartChange,
  ChangeFeed,
  ChangeFeedEvent,
  ChangeSubscribeOptions,
  ChangeSubscription,
} from '../ports/change-feed.js';
import { type Logger, silentLogger } from '../ports/logger.js';

/** Options of {@link MemoryChangeFeed}. */
export interface MemoryChangeFeedOptions {
  /** Changes remembered per cart, for subscribers that resume. Default 100. */
  readonly bufferSize?: number;
  /**
   * Carts whose recent changes are remembered; the cart changed least recently is
   * forgotten first (a later resume on it gets `resync`). Default 10,000.
   */
  readonly maxCarts?: number;
  /** Logs listeners that throw (`warn`). Default: silent. */
  readonly logger?: Logger;
}

interface Subscriber {
  readonly listener: (event: ChangeFeedEvent) => void;
  /** The newest version delivered (or known to the subscriber), if any. */
  last: number | undefined;
  closed: boolean;
}

/** Default `bufferSize`. */
const DEFAULT_BUFFER_SIZE = 100;
/** Default `maxCarts`. */
const DEFAULT_MAX_CARTS = 10_000;

/**
 * The reference {@link ChangeFeed}: in process memory, for one process (changes
 * committed by other processes on the same database are not seen; a subscriber
 * notices the version gap and gets `resync`).
 *
 * Memory is bounded: at most `bufferSize` changes for each of at most `maxCarts`
 * carts, and a closed subscription leaves nothing behind. Listeners are called
 * synchronously during `publish` (and, for a resume, during `subscribe`).
 */
export class MemoryChangeFeed implements ChangeFeed {
  readonly #bufferSize: number;
  readonly #maxCarts: number;
  readonly #logger: Logger;
  /** Recent changes per cart, consecutive versions; Map order = least recently changed first. */
  readonly #buffers = new Map<string, CartChange[]>();
  readonly #subscribers = new Map<string, Set<Subscriber>>();
  #closed = false;

  constructor(options: MemoryChangeFeedOptions = {}) {
    this.#bufferSize = positiveInteger(options.bufferSize, DEFAULT_BUFFER_SIZE, 'bufferSize');
    this.#maxCarts = positiveInteger(options.maxCarts, DEFAULT_MAX_CARTS, 'maxCarts');
    this.#logger = options.logger ?? silentLogger;
  }

  /** Open subscriptions, over all carts. */
  get subscriberCount(): number {
    let count = 0;
    for (const set of this.#subscribers.values()) count += set.size;
    return count;
  }

  /** Carts whose recent changes are remembered. */
  get rememberedCarts(): number {
    return this.#buffers.size;
  }

  async publish(change: CartChange): Promise<void> {
    if (this.#closed) return;
    const copy = Object.freeze({ ...change });
    this.#remember(copy);
    const subscribers = this.#subscribers.get(copy.cartId);
    if (subscribers === undefined) return;
    for (const subscriber of [...subscribers]) this.#deliver(subscriber, copy);
  }

  subscribe(
    cartId: string,
    listener: (event: ChangeFeedEvent) => void,
    options: ChangeSubscribeOptions = {},
  ): ChangeSubscription {
    const subscriber: Subscriber = { listener, last: undefined, closed: this.#closed };
    const subscription = { close: () => this.#unsubscribe(cartId, subscriber) };
    if (this.#closed) return subscription;
    const buffer = this.#buffers.get(cartId) ?? [];
    const latest = buffer.at(-1)?.version;
    const after = options.afterVersion;
    if (after === undefined) {
      subscriber.last = latest;
    } else if (latest !== undefined && after >= latest) {
      subscriber.last = after;
    } else if (
      latest !== undefined &&
      (buffer[0]?.version ?? Number.POSITIVE_INFINITY) <= after + 1
    ) {
      for (const change of buffer) {
        if (change.version > after) this.#emit(subscriber, { type: 'change', change });
      }
      subscriber.last = latest;
    } else {
      this.#emit(subscriber, {
        type: 'resync',
        reason: `changes after version ${after} are no longer remembered`,
        ...(latest === undefined ? {} : { version: latest }),
      });
      subscriber.last = latest;
    }
    let set = this.#subscribers.get(cartId);
    if (set === undefined) {
      set = new Set();
      this.#subscribers.set(cartId, set);
    }
    set.add(subscriber);
    return subscription;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const set of this.#subscribers.values()) {
      for (const subscriber of set) subscriber.closed = true;
    }
    this.#subscribers.clear();
    this.#buffers.clear();
  }

  #remember(change: CartChange): void {
    let buffer = this.#buffers.get(change.cartId);
    if (buffer === undefined) buffer = [];
    else this.#buffers.delete(change.cartId); // re-inserted below: most recently changed last
    const last = buffer.at(-1);
    if (last === undefined || change.version > last.version) {
      // A gap breaks continuity: only what follows it can be replayed.
      if (last !== undefined && change.version !== last.version + 1) buffer = [];
      buffer.push(change);
      if (buffer.length > this.#bufferSize) buffer.shift();
    }
    this.#buffers.set(change.cartId, buffer);
    if (this.#buffers.size > this.#maxCarts) {
      const oldest = this.#buffers.keys().next();
      if (oldest.done !== true) this.#buffers.delete(oldest.value);
    }
  }

  #deliver(subscriber: Subscriber, change: CartChange): void {
    if (subscriber.closed) return;
    const last = subscriber.last;
    if (last !== undefined && change.version <= last) return; // already seen
    subscriber.last = change.version;
    if (last !== undefined && change.version !== last + 1) {
      this.#emit(subscriber, {
        type: 'resync',
        reason: `versions ${last + 1} to ${change.version - 1} were not seen`,
        version: change.version,
      });
      return;
    }
    this.#emit(subscriber, { type: 'change', change });
  }

  #emit(subscriber: Subscriber, event: ChangeFeedEvent): void {
    if (subscriber.closed) return;
    try {
      subscriber.listener(event);
    } catch (error) {
      this.#logger.warn({ err: error }, 'a change feed listener threw; it stays subscribed');
    }
  }

  #unsubscribe(cartId: string, subscriber: Subscriber): void {
    subscriber.closed = true;
    const set = this.#subscribers.get(cartId);
    if (set === undefined) return;
    set.delete(subscriber);
    if (set.size === 0) this.#subscribers.delete(cartId);
  }
}

function positiveInteger(value: number | undefined, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(`Option "${option}" must be a positive integer.`, { option });
  }
  return value;
}
