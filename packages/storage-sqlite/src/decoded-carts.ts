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

/**
 * Longest text (in characters) of a cart this process saved that is kept with it when
 * the save was proven the only change ({@link DecodedCarts.advance}): a longer one —
 * a cart of a few hundred lines — is kept by its snapshot alone, so that its text (up
 * to several hundred kB, rewritten whole by every save) is not held until the next
 * save, which under load carries it into the old generation.
 */
export const SAVED_TEXT_MAX_CHARS = 65_536;

interface Entry {
  /**
   * The stored text `cart` was decoded from, or `undefined` for a long one
   * ({@link SAVED_TEXT_MAX_CHARS}) this process saved when its save was proven to be
   * the only change ({@link DecodedCarts.advance}): such an entry is current only by
   * its snapshot; once the file changed, the next read decodes what it fetches, as it
   * does any text another process wrote.
   */
  readonly text: string | undefined;
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
 * A commit this process made itself and proved to be the only one in between (see
 * `onlyOwnCommits` in `wal-index.ts`) moves the carts it did not write forward to the
 * new snapshot ({@link advance}), and the carts it wrote are kept at that snapshot
 * (a long text is not kept: {@link SAVED_TEXT_MAX_CHARS}): reads after this process's
 * own writes skip SQLite too.
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
    if (entry.text === undefined || entry.text !== text) {
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
   * @param text the stored text, or `undefined` (kept only while `snapshot` is current).
   * @param snapshot the database snapshot taken before the read that returned `text`,
   *   or (with no text) the snapshot at which this process's own save was proven current.
   */
  set(cartId: string, text: string | undefined, cart: Cart, snapshot?: number): Cart {
    const frozen = freezeCart(cart);
    const previous = this.#entries.get(cartId);
    if (previous !== undefined) this.#delete(cartId, previous);
    const chars = text?.length ?? 0;
    if (chars > this.#maxChars || (text === undefined && snapshot === undefined)) return frozen;
    this.#entries.set(cartId, { text, cart: frozen, snapshot });
    this.#chars += chars;
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#chars <= this.#maxChars) break;
      this.#delete(oldest, entry);
    }
    return frozen;
  }

  /**
   * The database went from snapshot `from` to snapshot `to` only through this process's
   * own commit, which wrote the carts in `written` and no other: every other cart that
   * was current at `from` is current at `to`. The carts in `written` are not moved
   * (their entries, if any, describe what was there before).
   */
  advance(from: number, to: number, written: ReadonlySet<string>): void {
    if (from === to) return;
    for (const [cartId, entry] of this.#entries) {
      if (entry.snapshot === from && !written.has(cartId)) entry.snapshot = to;
    }
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
    this.#chars -= entry.text?.length ?? 0;
  }
}
