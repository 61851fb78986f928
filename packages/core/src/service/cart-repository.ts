import { type Cart, type CartLine, emptyCart } from '../domain/cart.js';
import type { ReservationTask } from '../domain/task.js';
import { ConfigurationError, ConflictError, ErrorCode } from '../errors/index.js';
import type { CartStore } from '../ports/cart-store.js';
import type { CartChange, ChangeFeed } from '../ports/change-feed.js';
import type { Clock } from '../ports/clock.js';
import type { CompletedIdempotencyRecord } from '../ports/idempotency.js';
import type { Logger } from '../ports/logger.js';
import { describeChange } from './describe-change.js';

/** The outcome of a change function: new lines and tasks to save, or nothing to save. */
export type CartMutation<R> =
  | {
      readonly lines: readonly CartLine[];
      readonly tasks?: readonly ReservationTask[];
      readonly result: R;
    }
  | { readonly unchanged: true; readonly result: R };

/** What a mutation saved. */
export interface MutationResult<R> {
  /**
   * The cart as saved — with the changes combined into the same write, so the same
   * cart for each of them — or as read, when the write saved nothing.
   */
  readonly cart: Cart;
  /** The change function's result. */
  readonly result: R;
  /** Tasks saved with the cart (in its outbox). */
  readonly tasks: readonly ReservationTask[];
}

/** Options of {@link CartRepository.mutate}. */
export interface MutateOptions<R> {
  /** Fail with `VERSION_MISMATCH` unless the cart is at this version (or one of these). */
  readonly expectedVersion?: number | readonly number[];
  /**
   * Builds the completed idempotency record answering this change, from the cart
   * about to be saved and the change function's result; it is saved in the same
   * atomic write (`SaveCartOptions.idempotency`). Called once per save attempt;
   * never called when the change saves nothing. The cart is the one saved, which
   * also carries the changes combined with this one.
   */
  readonly idempotency?: (saved: Cart, result: R) => CompletedIdempotencyRecord;
}

/** Options of {@link CartRepository}. */
export interface CartRepositoryOptions {
  readonly storage: CartStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Compare-and-set attempts before giving up with `CONCURRENT_MODIFICATION`. */
  readonly maxSaveAttempts: number;
  /**
   * Most changes to one cart combined into one save (see {@link CartRepository.mutate}).
   * 1 saves every change on its own. Default 64.
   */
  readonly maxRoundSize?: number;
  /**
   * Where each committed change is announced, after its commit (in version order
   * per cart within this process). A failing feed never fails the write: it is
   * logged. Default: none.
   */
  readonly changeFeed?: ChangeFeed;
}

/** Default of {@link CartRepositoryOptions.maxRoundSize}. */
export const DEFAULT_MAX_ROUND_SIZE = 64;

/** One queued call of `mutate`. */
interface Entry<R> {
  readonly change: (cart: Cart, exists: boolean, now: number) => CartMutation<R>;
  readonly options: MutateOptions<R>;
  readonly resolve: (value: MutationResult<R>) => void;
  readonly reject: (error: unknown) => void;
  /** Saved in a round of its own (after a combined save was refused for one of its keys). */
  solo: boolean;
}

/** What one change of a round did, on the cart as left by the changes before it. */
type Outcome =
  | { readonly type: 'failed'; readonly error: unknown }
  | { readonly type: 'unchanged'; readonly result: unknown }
  | {
      readonly type: 'changed';
      readonly result: unknown;
      readonly tasks: readonly ReservationTask[];
    };

/**
 * Read-modify-write on carts that never loses an update.
 *
 * Within one process, changes to one cart never race: while a save of a cart is in
 * flight, further changes to it queue, and the next round applies all of them in
 * call order to the cart in memory (each sees the previous one's result) and saves
 * them with ONE compare-and-set write, their tasks and idempotency records
 * included. Across processes sharing a storage, a round that loses the
 * compare-and-set race is recomputed from a fresh read and tried again, with
 * jittered backoff.
 */
export class CartRepository {
  readonly #options: CartRepositoryOptions;
  readonly #maxRoundSize: number;
  /** Carts with a round in flight, and the changes queued behind it. */
  readonly #queues = new Map<string, Entry<unknown>[]>();

  constructor(options: CartRepositoryOptions) {
    this.#options = options;
    const size = options.maxRoundSize ?? DEFAULT_MAX_ROUND_SIZE;
    this.#maxRoundSize = Number.isSafeInteger(size) && size >= 1 ? size : 1;
  }

  /** Reads a cart; `undefined` if it was never saved. */
  read(cartId: string): Promise<Cart | undefined> {
    return this.#options.storage.getCart(cartId);
  }

  /**
   * Adds tasks to the outbox without changing any cart (no version bump, so no
   * spurious change event or stale `ETag`), e.g. a cleanup release.
   */
  enqueueTasks(tasks: readonly ReservationTask[]): Promise<void> {
    const repeated = repeatedTaskId(tasks, new Set());
    if (repeated !== undefined) return Promise.reject(duplicateTaskId(repeated));
    return this.#options.storage.enqueueTasks(tasks);
  }

  /**
   * Applies `change` to the current cart (an empty version-0 cart if none) and saves
   * the result with compare-and-set, recomputing on conflict. An error thrown by
   * `change` rejects this call and writes nothing of it. Each attempt reads the
   * clock once: `change` gets that instant (`now`, epoch ms) and the saved cart's
   * `updatedAt` is the same, so every timestamp one write has agrees.
   *
   * Changes to one cart made while a save of it is in flight (or in the same tick)
   * are combined: they run in call order, each on the previous one's result, and
   * are saved together as ONE new version (at most `maxRoundSize` of them, one
   * change event). A change that throws is left out, the others continue from the
   * cart before it. Each caller gets its own result and the cart as saved (the
   * same cart, and so version, for every change of one write). A change with
   * `expectedVersion` only runs first in a write, on the cart as read. If a
   * combined write is refused because one of its idempotency keys was completed
   * meanwhile (`IDEMPOTENCY_KEY_COMPLETED`), its changes are saved one by one, so
   * only that change fails.
   */
  mutate<R>(
    cartId: string,
    change: (cart: Cart, exists: boolean, now: number) => CartMutation<R>,
    options: MutateOptions<R> = {},
  ): Promise<MutationResult<R>> {
    return new Promise<MutationResult<R>>((resolve, reject) => {
      const entry = { change, options, resolve, reject, solo: false } as Entry<unknown>;
      const queue = this.#queues.get(cartId);
      if (queue !== undefined) {
        queue.push(entry);
        return;
      }
      const fresh = [entry];
      this.#queues.set(cartId, fresh);
      // Starts after the current job, so changes made in the same tick share the first save.
      queueMicrotask(() => void this.#drain(cartId, fresh));
    });
  }

  /** Runs rounds until the cart's queue is empty, then forgets the cart. */
  async #drain(cartId: string, queue: Entry<unknown>[]): Promise<void> {
    while (queue.length > 0) {
      const round = this.#takeRound(queue);
      try {
        await this.#runRound(cartId, round, queue);
      } catch (error) {
        // #runRound settles its entries itself; this only guards against a bug there.
        for (const entry of round) entry.reject(error);
      }
    }
    this.#queues.delete(cartId);
  }

  /**
   * The next round: the first queued change, then those after it that may join it
   * (no `expectedVersion`, not to be saved alone), up to `maxRoundSize`.
   */
  #takeRound(queue: Entry<unknown>[]): Entry<unknown>[] {
    const first = queue.shift() as Entry<unknown>;
    const round = [first];
    if (first.solo) return round;
    while (round.length < this.#maxRoundSize) {
      const next = queue[0];
      if (next === undefined || next.solo || next.options.expectedVersion !== undefined) break;
      round.push(next);
      queue.shift();
    }
    return round;
  }

  /**
   * Computes and saves one round, recomputing it from a fresh read on conflict.
   * Settles every entry of the round, or puts them back at the head of the queue to
   * be saved one by one.
   */
  async #runRound(cartId: string, round: Entry<unknown>[], queue: Entry<unknown>[]): Promise<void> {
    const { storage, clock, maxSaveAttempts, logger } = this.#options;
    for (let attempt = 1; ; attempt++) {
      let current: Cart;
      let stored: Cart | undefined;
      let nowMs: number;
      try {
        stored = await storage.getCart(cartId);
        nowMs = clock.now();
        current = stored ?? emptyCart(cartId, new Date(nowMs).toISOString());
      } catch (error) {
        for (const entry of round) entry.reject(error);
        return;
      }
      const now = new Date(nowMs).toISOString();
      const { outcomes, lines, tasks, cut } = applyRound(
        round,
        current,
        stored !== undefined,
        nowMs,
      );
      // The changes from `cut` on go first in the queue, for the next round.
      if (cut !== undefined) queue.unshift(...round.splice(cut));
      if (!outcomes.some((outcome) => outcome.type === 'changed')) {
        settle(round, outcomes, current);
        return;
      }
      const next: Cart = {
        ...current,
        version: current.version + 1,
        lines,
        createdAt: stored === undefined ? now : current.createdAt,
        updatedAt: now,
      };
      let records: CompletedIdempotencyRecord[];
      try {
        records = idempotencyRecords(round, outcomes, next);
      } catch (error) {
        if (round.length > 1) return requeueAlone(round, queue);
        for (const entry of round) entry.reject(error);
        return;
      }
      try {
        await storage.saveCart(next, {
          expectedVersion: current.version,
          tasks,
          ...(records.length === 0 ? {} : { idempotency: records }),
        });
      } catch (error) {
        if (ConflictError.is(error) && error.code === ErrorCode.VERSION_CONFLICT) {
          if (attempt >= maxSaveAttempts) {
            const gaveUp = new ConflictError(
              ErrorCode.CONCURRENT_MODIFICATION,
              `Cart "${cartId}" kept changing under ${attempt} save attempts; try again.`,
              { cause: error, details: { attempts: attempt } },
            );
            // A change that failed on its own keeps its own error, one that changed
            // nothing its answer (as with any other save failure).
            rejectRound(round, outcomes, gaveUp, current);
            return;
          }
          logger.debug({ cartId, attempt }, 'cart save lost a compare-and-set race; retrying');
          await backoff(attempt);
          continue;
        }
        if (round.length > 1 && ConflictError.is(error)) {
          // e.g. IDEMPOTENCY_KEY_COMPLETED: one change's key was completed meanwhile;
          // saved one by one, only that change fails.
          logger.debug(
            { cartId, code: error.code },
            'combined cart save refused; saving one by one',
          );
          return requeueAlone(round, queue);
        }
        rejectRound(round, outcomes, error, current);
        return;
      }
      this.#announce(current, next);
      settle(round, outcomes, next);
      return;
    }
  }

  /** Publishes a committed change; never throws (a failing feed is logged). */
  #announce(before: Cart, after: Cart): void {
    const { changeFeed, logger } = this.#options;
    if (changeFeed === undefined) return;
    const { kind, itemName } = describeChange(before, after);
    const change: CartChange = {
      cartId: after.id,
      version: after.version,
      kind,
      ...(itemName === undefined ? {} : { itemName }),
      at: after.updatedAt,
    };
    const failed = (error: unknown) =>
      logger.error(
        { err: error, cartId: change.cartId, version: change.version },
        'could not publish a cart change; subscribers will resync',
      );
    try {
      changeFeed.publish(change).catch(failed);
    } catch (error) {
      failed(error);
    }
  }
}

/**
 * Runs a round's changes in order on `current`: each on the lines the changes
 * before it left; one that throws (or whose `expectedVersion` does not match) is
 * left out and the next continues from the cart before it.
 *
 * A change that would remove a line an earlier change of the round added or changed
 * ends the round before it (`cut`: its index): it goes into the next round, a version
 * of its own. Every change of a round answers with the cart as saved, so the earlier
 * change's answer (its line, at that version) would otherwise show a line that the
 * version does not have — a `201` whose `Location` is 404 at its own `ETag`.
 */
function applyRound(
  round: readonly Entry<unknown>[],
  current: Cart,
  stored: boolean,
  now: number,
): {
  outcomes: Outcome[];
  lines: readonly CartLine[];
  tasks: ReservationTask[];
  cut: number | undefined;
} {
  const outcomes: Outcome[] = [];
  const tasks: ReservationTask[] = [];
  const taskIds = new Set<string>();
  /** Names of the lines the round's changes so far added or changed (combined rounds only). */
  const touched = new Set<string>();
  let cart = current;
  let exists = stored;
  for (const [index, entry] of round.entries()) {
    const { expectedVersion } = entry.options;
    if (expectedVersion !== undefined && !isExpected(current.version, expectedVersion)) {
      outcomes.push({
        type: 'failed',
        error: new ConflictError(
          ErrorCode.VERSION_MISMATCH,
          typeof expectedVersion === 'number'
            ? `Cart is at version ${current.version}, not the expected ${expectedVersion}.`
            : `Cart is at version ${current.version}, not one of the expected ${expectedVersion.join(', ')}.`,
          { details: { currentVersion: current.version, expectedVersion } },
        ),
      });
      continue;
    }
    let mutation: CartMutation<unknown>;
    try {
      mutation = entry.change(cart, exists, now);
    } catch (error) {
      outcomes.push({ type: 'failed', error });
      continue;
    }
    if ('unchanged' in mutation) {
      outcomes.push({ type: 'unchanged', result: mutation.result });
      continue;
    }
    if (index > 0 && removesAny(mutation.lines, touched)) {
      return { outcomes, lines: cart.lines, tasks, cut: index };
    }
    const own = mutation.tasks ?? [];
    // Stores key tasks by id: a repeated id would be dropped (SQLite, PostgreSQL) or
    // overwrite the other task (memory) — a reservation or release silently lost.
    const repeated = own.length === 0 ? undefined : repeatedTaskId(own, taskIds);
    if (repeated !== undefined) {
      outcomes.push({ type: 'failed', error: duplicateTaskId(repeated) });
      continue;
    }
    outcomes.push({ type: 'changed', result: mutation.result, tasks: own });
    tasks.push(...own);
    if (round.length > 1) addChangedNames(touched, cart.lines, mutation.lines);
    cart = { ...cart, lines: mutation.lines };
    exists = true;
  }
  return { outcomes, lines: cart.lines, tasks, cut: undefined };
}

function isExpected(version: number, expected: number | readonly number[]): boolean {
  return typeof expected === 'number' ? version === expected : expected.includes(version);
}

/** Adds to `names` the name of every line of `after` that is not a line of `before` as is. */
function addChangedNames(
  names: Set<string>,
  before: readonly CartLine[],
  after: readonly CartLine[],
): void {
  const unchanged = new Set(before);
  for (const line of after) if (!unchanged.has(line)) names.add(line.name);
}

/** True when one of `names` has no line in `lines`. */
function removesAny(lines: readonly CartLine[], names: ReadonlySet<string>): boolean {
  if (names.size === 0) return false;
  let present = 0;
  for (const line of lines) if (names.has(line.name)) present++;
  return present < names.size;
}

/**
 * The first id of `tasks` that is repeated among them or already in `seen`, or
 * `undefined`; adds the ids to `seen` when none is.
 */
function repeatedTaskId(tasks: readonly ReservationTask[], seen: Set<string>): string | undefined {
  const own = new Set<string>();
  for (const task of tasks) {
    if (own.has(task.id) || seen.has(task.id)) return task.id;
    own.add(task.id);
  }
  for (const id of own) seen.add(id);
  return undefined;
}

/** Two tasks of one write share an id: only a `generateId` that repeats ids does that. */
function duplicateTaskId(id: string): ConfigurationError {
  return new ConfigurationError(
    `Two reservation tasks of one write have the id "${id}": generateId must return a new id on every call (nothing was written).`,
    { option: 'generateId', details: { taskId: id } },
  );
}

/** The completed idempotency records of the round's saved changes, built on `next`. */
function idempotencyRecords(
  round: readonly Entry<unknown>[],
  outcomes: readonly Outcome[],
  next: Cart,
): CompletedIdempotencyRecord[] {
  const records: CompletedIdempotencyRecord[] = [];
  round.forEach((entry, index) => {
    const outcome = outcomes[index];
    const build = entry.options.idempotency;
    if (outcome?.type === 'changed' && build !== undefined)
      records.push(build(next, outcome.result));
  });
  return records;
}

/** Answers every change of a round: its own error, or its result with `cart`. */
function settle(round: readonly Entry<unknown>[], outcomes: readonly Outcome[], cart: Cart): void {
  round.forEach((entry, index) => {
    const outcome = outcomes[index] as Outcome;
    if (outcome.type === 'failed') entry.reject(outcome.error);
    else if (outcome.type === 'unchanged')
      entry.resolve({ cart, result: outcome.result, tasks: [] });
    else entry.resolve({ cart, result: outcome.result, tasks: outcome.tasks });
  });
}

/**
 * Answers the changes of a round whose save failed with `error`: one that failed by
 * itself gets its own error; one that changed nothing before any change of the round
 * did gets its result on the cart as read (it needed no save, and saw only that
 * cart); the others get `error`.
 */
function rejectRound(
  round: readonly Entry<unknown>[],
  outcomes: readonly Outcome[],
  error: unknown,
  read: Cart,
): void {
  let changedBefore = false;
  round.forEach((entry, index) => {
    const outcome = outcomes[index];
    if (outcome?.type === 'failed') entry.reject(outcome.error);
    else if (outcome?.type === 'unchanged' && !changedBefore)
      entry.resolve({ cart: read, result: outcome.result, tasks: [] });
    else {
      if (outcome?.type === 'changed') changedBefore = true;
      entry.reject(error);
    }
  });
}

/** Puts a round's changes back at the head of the queue, each to be saved on its own. */
function requeueAlone(round: Entry<unknown>[], queue: Entry<unknown>[]): void {
  for (const entry of round) entry.solo = true;
  queue.unshift(...round);
}

/** Short jittered pause between compare-and-set retries (real time: it spaces out racing processes). */
function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(50, 2 ** Math.min(attempt, 6));
  const delay = Math.random() * ceiling;
  return new Promise((resolve) => setTimeout(resolve, delay));
}
