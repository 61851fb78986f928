import { afterEach } from 'vitest';
import {
  type CartRuntime,
  type CreateCartOptions,
  createCart,
  InProcessScheduler,
  MemoryCartStorage,
  MemoryReserver,
  ReservationError,
  type ReservationRequest,
  type ReservationResult,
  type ReserverCallOptions,
} from '../../src/index.js';

/** Retries fast enough for tests. */
export const fastRetry = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5, attemptTimeoutMs: 500 };

/**
 * Returns a `start(options)` that composes a cart (in-memory storage, a scheduler
 * with {@link fastRetry}) and closes every runtime it started after each test.
 */
export function useRuntimes(
  closeTimeoutMs?: number,
): (options?: CreateCartOptions) => Promise<CartRuntime> {
  const runtimes: CartRuntime[] = [];
  afterEach(async () => {
    for (const runtime of runtimes.splice(0)) {
      await runtime.close(closeTimeoutMs === undefined ? {} : { timeoutMs: closeTimeoutMs });
    }
  });
  return async (options = {}) => {
    const runtime = await createCart({
      scheduler: (deps) => new InProcessScheduler({ ...deps, retry: fastRetry }),
      ...options,
      storage:
        options.storage ?? new MemoryCartStorage(options.clock ? { clock: options.clock } : {}),
    });
    runtimes.push(runtime);
    return runtime;
  };
}

/** A reserver that can fail its first calls, lose its answers, or hold calls until a gate opens. */
export class ScriptedReserver extends MemoryReserver {
  /** Calls to fail with a 503 before reaching the service. */
  failuresLeft = 0;
  /** Calls that reserve at the service, then fail as if the answer was lost. */
  loseAnswers = 0;
  /** What a call whose answer is lost fails with (default: a transient timeout). */
  lostAnswer: () => ReservationError = () =>
    ReservationError.unavailable('timed out waiting for the answer');
  /** Calls wait for this promise first. */
  gate: Promise<void> | undefined;

  override async reserve(
    request: ReservationRequest,
    options?: ReserverCallOptions,
  ): Promise<ReservationResult> {
    if (this.gate) await this.gate;
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw ReservationError.unavailable('503 from service', { status: 503 });
    }
    const result = await super.reserve(request, options);
    if (this.loseAnswers > 0) {
      this.loseAnswers--;
      throw this.lostAnswer();
    }
    return result;
  }
}

/**
 * In-memory storage whose task completions can fail, or run a hook once committed
 * (I/O latency). `completions` resolves each time a completion was attempted.
 */
export class CompleteHookStorage extends MemoryCartStorage {
  /** Completions to fail with a storage error (the task stays in the outbox). */
  failCompletes = 0;
  /** Runs once, after the next completion committed and before its caller resumes. */
  onCompleted: (() => Promise<unknown>) | undefined;
  #listeners: Array<() => void> = [];

  /** Resolves after the next completion (failed or not) settled. */
  nextCompletion(): Promise<void> {
    return new Promise((resolve) => this.#listeners.push(resolve));
  }

  override async complete(taskId: string, owner: string): Promise<boolean> {
    try {
      if (this.failCompletes > 0) {
        this.failCompletes--;
        throw new Error('disk hiccup');
      }
      const done = await super.complete(taskId, owner);
      const hook = this.onCompleted;
      this.onCompleted = undefined;
      if (hook) await hook();
      return done;
    } finally {
      const listeners = this.#listeners;
      this.#listeners = [];
      for (const listener of listeners) listener();
    }
  }
}
