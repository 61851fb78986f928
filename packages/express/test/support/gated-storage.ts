import { type Cart, MemoryCartStorage, type SaveCartOptions } from '@cartkit/core';

/** A gate on the next cart save: know when it is reached, decide when it goes on. */
export interface SaveGate {
  /** Resolves when a save reached the gate (and is waiting). */
  readonly reached: Promise<void>;
  /** Lets the waiting save go on. */
  open(): void;
}

/**
 * Core's in-memory storage with a gate on the next `saveCart`: a slow write on
 * demand, to hold a request in the middle of its work.
 */
export class GatedStorage extends MemoryCartStorage {
  #gate: { reached: () => void; opened: Promise<void> } | undefined;

  /** Makes the next `saveCart` wait until the returned gate is opened. */
  holdNextSave(): SaveGate {
    let reached!: () => void;
    let open!: () => void;
    const reachedPromise = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    this.#gate = { reached, opened };
    return { reached: reachedPromise, open };
  }

  override async saveCart(cart: Cart, options: SaveCartOptions): Promise<void> {
    const gate = this.#gate;
    if (gate !== undefined) {
      this.#gate = undefined;
      gate.reached();
      await gate.opened;
    }
    return super.saveCart(cart, options);
  }
}
