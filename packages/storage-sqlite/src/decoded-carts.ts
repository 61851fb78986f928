import { type Cart, freezeCart } from '@cartkit/core';

/** How many decoded carts {@link DecodedCarts} keeps at most. */
export const DECODED_CARTS_MAX_ENTRIES = 256;
/** How much stored text (in characters) {@link DecodedCarts} keeps at most, summed over its carts. */
export const DECODED_CARTS_MAX_CHARS = 4_000_000;

interface Entry {
  readonly text: string;
  readonly cart: Cart;
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

  /** The cart decoded from exactly `text` under `cartId`, if it is still kept. */
  get(cartId: string, text: string): Cart | undefined {
    const entry = this.#entries.get(cartId);
    if (entry === undefined) return undefined;
    if (entry.text !== text) {
      this.#delete(cartId, entry);
      return undefined;
    }
    // Most recently used last: re-insert.
    this.#entries.delete(cartId);
    this.#entries.set(cartId, entry);
    return entry.cart;
  }

  /** Keeps `cart` (frozen here) as what `text` decodes to; returns the frozen cart. */
  set(cartId: string, text: string, cart: Cart): Cart {
    const frozen = freezeCart(cart);
    const previous = this.#entries.get(cartId);
    if (previous !== undefined) this.#delete(cartId, previous);
    if (text.length > this.#maxChars) return frozen;
    this.#entries.set(cartId, { text, cart: frozen });
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

  #delete(cartId: string, entry: Entry): void {
    this.#entries.delete(cartId);
    this.#chars -= entry.text.length;
  }
}
