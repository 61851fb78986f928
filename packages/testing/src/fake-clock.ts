import type { Clock, ClockTimer } from '@cartkit/core';

interface PendingTimer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/**
 * A {@link Clock} that only moves when told. Timers fire in due order during
 * {@link FakeClock.advance}, with pending promise callbacks flushed between them,
 * so code that awaits inside timer callbacks runs as it would in real time.
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: PendingTimer[] = [];

  /** @param start initial time, epoch milliseconds. Default 2026-01-01T00:00:00Z. */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, delayMs: number): ClockTimer {
    const timer: PendingTimer = {
      id: this.#nextId++,
      at: this.#now + Math.max(0, delayMs),
      callback,
    };
    this.#timers.push(timer);
    return { clear: () => this.#remove(timer.id) };
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await flushPromises();
      const next = this.#timers
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (next === undefined) break;
      this.#remove(next.id);
      this.#now = Math.max(this.#now, next.at);
      next.callback();
    }
    this.#now = target;
    await flushPromises();
  }

  /** Sets the time without firing timers (for expiry checks). */
  set(time: number): void {
    this.#now = time;
  }

  #remove(id: number): void {
    this.#timers = this.#timers.filter((t) => t.id !== id);
  }
}

async function flushPromises(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
