import { type Cart, freezeCart } from '@cartkit/core';
import type { WalIndexProbe } from './wal-index.js';

/**
 * How many decoded carts {@link DecodedCarts} keeps at most. Small on purpose: it serves
 * carts read again soon (the same cart read by many requests, a cart read right after
 * this process wrote it). Carts read in turn across a larger set (many shoppers) miss
 * whatever the bound, and then a large bound only makes each entry live long enough to
 * be promoted to V8's old generation before it is evicted — garbage the old generation
 * grows with (see docs/performance.md, "Peak RSS: live heap and what survives").
 */
export const DECODED_CARTS_MAX_ENTRIES = 64;
/** How much stored text (in characters) {@link DecodedCarts} keeps at most, summed over its carts. */
export const DECODED_CARTS_MAX_CHARS = 1_000_000;

interface Entry {
  readonly text: string;
  readonly cart: Cart;
  /**
   * The database snapshot ({@link WalIndexProbe.snapshot}) taken before the read
   * that last returned `text`, or `undefined` when there was none.
   */
  snapshot: number | undefined;
}

/**
 * The last decoded cart of each recently read cart id, keyed by the exact stored
 * text it was decoded from. A read always fetches the stored text afresh (so a
 * write by any process — this one or another sharing the file — is seen at once);
 * only when that text equals the text decoded last time is the earlier result
 * reused, which skips parsing and validating the document. Equal text decodes to
 * an equal cart, so a hit is exactly what decoding would have produced. The carts
 * are frozen ({@link freezeCart}), so readers sharing one cannot change it.
 *
 * With a WAL database, a read may skip SQLite altogether ({@link current}): when
 * nothing was committed to the file since a read of the cart began — the
 * wal-index header is unchanged, {@link WalIndexProbe} — the text that read
 * returned is still the stored text.
 *
 * Bounded: at most {@link DECODED_CARTS_MAX_ENTRIES} carts and
 * {@link DECODED_CARTS_MAX_CHARS} characters of text, least recently read evicted first.
 */
export class DecodedCarts {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #maxChars: number;
  #chars = 0;

  constructor(maxEntries = DECODED_CARTS_MAX_ENTRIES, maxChars = DECODED_CARTS_MAX_CHARS) {
    this.#maxEntries = maxEntries;
    this.#maxChars = maxChars;
  }

  /**
   * The cart kept for `cartId` if it was read at `snapshot` — a database snapshot
   * taken just now, so nothing was committed since that read began and its text is
   * still the stored text. `undefined` (ask SQLite) otherwise.
   */
  current(cartId: string, snapshot: number): Cart | undefined {
    const entry = this.#entries.get(cartId);
    if (entry === undefined || entry.snapshot !== snapshot) return undefined;
    this.#touch(cartId, entry);
    return entry.cart;
  }

  /**
   * The cart decoded from exactly `text` under `cartId`, if it is still kept.
   * @param snapshot the database snapshot taken before the read that returned `text`.
   */
  get(cartId: string, text: string, snapshot?: number): Cart | undefined {
    const entry = this.#entries.get(cartId);
    if (entry === undefined) return undefined;
    if (entry.text !== text) {
      this.#delete(cartId, entry);
      return undefined;
    }
    // Either snapshot proves the text current while the header still says it: keep
    // the later one (reads may complete out of order).
    if (snapshot !== undefined && (entry.snapshot === undefined || snapshot > entry.snapshot)) {
      entry.snapshot = snapshot;
    }
    this.#touch(cartId, entry);
    return entry.cart;
  }

  /**
   * Keeps `cart` (frozen here) as what `text` decodes to; returns the frozen cart.
   * @param snapshot the database snapshot taken before the read that returned `text`.
   */
  set(cartId: string, text: string, cart: Cart, snapshot?: number): Cart {
    const frozen = freezeCart(cart);
    const previous = this.#entries.get(cartId);
    if (previous !== undefined) this.#delete(cartId, previous);
    if (text.length > this.#maxChars) return frozen;
    this.#entries.set(cartId, { text, cart: frozen, snapshot });
    this.#chars += text.length;
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#chars <= this.#maxChars) break;
      this.#delete(oldest, entry);
    }
    return frozen;
  }

  /** How many carts are kept (for tests). */
  get size(): number {
    return this.#entries.size;
  }

  /** Forgets everything (on close). */
  clear(): void {
    this.#entries.clear();
    this.#chars = 0;
  }

  /** Most recently used last: re-insert. */
  #touch(cartId: string, entry: Entry): void {
    this.#entries.delete(cartId);
    this.#entries.set(cartId, entry);
  }

  #delete(cartId: string, entry: Entry): void {
    this.#entries.delete(cartId);
    this.#chars -= entry.text.length;
  }
}
