/** A cancellable timer created by a {@link Clock}. */
export interface ClockTimer {
  /** Cancels the timer; harmless after it fired. */
  clear(): void;
}

/**
 * Port: time. Injected so tests control it (see `FakeClock` in `@cartkit/testing`).
 */
export interface Clock {
  /** Current time, epoch milliseconds. */
  now(): number;
  /**
   * Calls `callback` after `delayMs`. Real clocks must not keep the process alive
   * for it (Node: `unref()`).
   */
  setTimer(callback: () => void, delayMs: number): ClockTimer;
}

/** The real clock: `Date.now()` and unref'ed `setTimeout`. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimer(callback: () => void, delayMs: number): ClockTimer {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    handle.unref();
    return { clear: () => clearTimeout(handle) };
  },
});
