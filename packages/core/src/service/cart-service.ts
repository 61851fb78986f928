import { randomUUID } from 'node:crypto';
import {
  type Cart,
  type CartLine,
  emptyCart,
  findLine,
  type LineReservation,
  putLine,
  withoutLine,
} from '../domain/cart.js';
import {
  afterQuantityChange,
  releaseTaskFor,
  requestReservation,
  startReservation,
  type TransitionContext,
} from '../domain/reservation.js';
import {
  type CartLimits,
  parseCartId,
  parseExpectedVersion,
  parseItemName,
  parseQuantity,
  resolveLimits,
} from '../domain/rules.js';
import { ConfigurationError, ErrorCode, NotFoundError, ValidationError } from '../errors/index.js';
import type { CartStore } from '../ports/cart-store.js';
import type { ChangeFeed } from '../ports/change-feed.js';
import { type Clock, systemClock } from '../ports/clock.js';
import type { CompletedIdempotencyRecord } from '../ports/idempotency.js';
import { type Logger, silentLogger } from '../ports/logger.js';
import type { Scheduler } from '../ports/scheduler.js';
import { type CartMutation, CartRepository, DEFAULT_MAX_ROUND_SIZE } from './cart-repository.js';

/** Options of {@link CartService}. */
export interface CartServiceOptions {
  /** Where carts and their outbox of reservation tasks live. */
  readonly storage: CartStore;
  /** Delivers reservation tasks in the background; notified after tasks are committed. */
  readonly scheduler: Pick<Scheduler, 'notify'>;
  /**
   * Where each committed cart change is announced (`{ cartId, version, kind, ... }`),
   * after its commit. Default: none (`createCart` and the inversify module give an
   * in-memory one).
   */
  readonly changeFeed?: ChangeFeed;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
  /** Structured logger (pino-compatible). Default: silent. */
  readonly logger?: Logger;
  /** Name length, quantity and line-count limits. Defaults: 200, 10,000, 500. */
  readonly limits?: Partial<CartLimits>;
  /** Request a reservation whenever an item is added or its quantity changes. Default `true`. */
  readonly reserveOnAdd?: boolean;
  /** Compare-and-set attempts per write under contention. Default 100. */
  readonly maxSaveAttempts?: number;
  /**
   * Most writes to one cart combined into one save: writes to a cart made while a
   * save of it is in flight are applied in order and saved together as one new
   * version. 1 saves every write on its own. Default 64.
   */
  readonly maxCombinedChanges?: number;
  /**
   * Source of task ids (and so of idempotency keys). Default `crypto.randomUUID`.
   * It must return a new id on every call: a write whose tasks would share an id is
   * refused before anything is stored (`ConfigurationError`, `INVALID_OPTION`).
   */
  readonly generateId?: () => string;
}

/**
 * Options of every write: optimistic concurrency, and the idempotency record that
 * answers the write. `O` is what the write method returns.
 */
export interface WriteOptions<O = unknown> {
  /**
   * Fail with `VERSION_MISMATCH` unless the cart is at this version, or at one of
   * these versions (HTTP `If-Match` with one or several entity tags). Checked in the
   * compare-and-set that saves the write, on the cart as stored.
   */
  readonly expectedVersion?: number | readonly number[];
  /**
   * Builds the completed `Idempotency-Key` record answering this write from its
   * outcome (the cart about to be saved and the line it concerns). It is evaluated
   * inside the compare-and-set loop, on each candidate cart, and saved in the same
   * atomic write as the change (`SaveCartOptions.idempotency`), so a committed
   * change is always replayable. The store must have an `idempotency` store.
   *
   * When the write is saved, the method returns the very outcome object that was
   * passed to this function for the saved attempt. When the write changes nothing
   * (nothing is saved), the record is NOT written: the method returns another
   * object, and the caller records the answer itself (`IdempotencyStore.complete`).
   * If the key was already completed by another attempt of the same request, the
   * write fails with `ConflictError` `IDEMPOTENCY_KEY_COMPLETED` and saves nothing.
   */
  readonly idempotency?: (outcome: O) => CompletedIdempotencyRecord;
}

/** An item to add. `quantity` defaults to 1. */
export interface AddItemInput {
  readonly name: string;
  readonly quantity?: number;
}

/** The cart after a change, and the line it concerned. */
export interface LineChange {
  readonly cart: Cart;
  readonly line: CartLine;
}

/** The outcome of {@link CartService.requestReservation}. */
export interface ReservationRequestResult extends LineChange {
  /** `true` if a new reservation task was started; `false` if one is pending or done. */
  readonly created: boolean;
}

/**
 * The cart use cases. All input is validated here (typed `ValidationError`s with
 * stable codes, nothing written on failure); every write is a compare-and-set that
 * is retried on conflict, so concurrent callers never lose an update; reservation
 * tasks are saved atomically with the cart change that caused them (the outbox),
 * and the scheduler is notified once they are durable.
 */
export class CartService {
  readonly #repository: CartRepository;
  readonly #scheduler: Pick<Scheduler, 'notify'>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #limits: CartLimits;
  readonly #reserveOnAdd: boolean;
  readonly #generateId: () => string;

  constructor(options: CartServiceOptions) {
    if (typeof options?.storage?.saveCart !== 'function') {
      throw new ConfigurationError('Option "storage" must be a CartStorage.', {
        option: 'storage',
      });
    }
    if (typeof options.scheduler?.notify !== 'function') {
      throw new ConfigurationError('Option "scheduler" must be a Scheduler.', {
        option: 'scheduler',
      });
    }
    const maxSaveAttempts = options.maxSaveAttempts ?? 100;
    if (!Number.isSafeInteger(maxSaveAttempts) || maxSaveAttempts < 1) {
      throw new ConfigurationError('Option "maxSaveAttempts" must be a positive integer.', {
        option: 'maxSaveAttempts',
      });
    }
    const maxCombinedChanges = options.maxCombinedChanges ?? DEFAULT_MAX_ROUND_SIZE;
    if (!Number.isSafeInteger(maxCombinedChanges) || maxCombinedChanges < 1) {
      throw new ConfigurationError('Option "maxCombinedChanges" must be a positive integer.', {
        option: 'maxCombinedChanges',
      });
    }
    if (options.reserveOnAdd !== undefined && typeof options.reserveOnAdd !== 'boolean') {
      throw new ConfigurationError('Option "reserveOnAdd" must be a boolean.', {
        option: 'reserveOnAdd',
      });
    }
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#limits = resolveLimits(options.limits);
    this.#reserveOnAdd = options.reserveOnAdd ?? true;
    this.#generateId = options.generateId ?? randomUUID;
    this.#scheduler = options.scheduler;
    this.#repository = new CartRepository({
      storage: options.storage,
      clock: this.#clock,
      logger: this.#logger,
      maxSaveAttempts,
      maxRoundSize: maxCombinedChanges,
      ...(options.changeFeed === undefined ? {} : { changeFeed: options.changeFeed }),
    });
  }

  /** The limits in force. */
  get limits(): CartLimits {
    return this.#limits;
  }

  /** The repository, shared with the reservation worker. */
  get repository(): CartRepository {
    return this.#repository;
  }

  /** Reads a cart. A cart never written reads as empty, version 0. */
  async getCart(cartId: string): Promise<Cart> {
    const id = parseCartId(cartId);
    const cart = await this.#repository.read(id);
    return cart ?? emptyCart(id, this.#nowIso());
  }

  /** The cart's lines, in the order they were added. */
  async listItems(cartId: string): Promise<readonly CartLine[]> {
    return (await this.getCart(cartId)).lines;
  }

  /** One line. @throws NotFoundError `CART_NOT_FOUND` / `ITEM_NOT_FOUND` */
  async getItem(cartId: string, name: string): Promise<LineChange> {
    const id = parseCartId(cartId);
    const itemName = parseItemName(name, this.#limits);
    const cart = requireCart(await this.#repository.read(id), id);
    return { cart, line: requireLine(cart, itemName) };
  }

  /** The reservation state of one line (`null` when none was requested). */
  async getReservation(cartId: string, name: string): Promise<LineReservation | null> {
    return (await this.getItem(cartId, name)).line.reservation;
  }

  /**
   * Adds an item. Adding a name already in the cart adds to its quantity (no
   * duplicate lines). Starts a background reservation when `reserveOnAdd` is on.
   * @throws ValidationError `INVALID_ITEM_NAME`, `INVALID_QUANTITY`, `QUANTITY_LIMIT_EXCEEDED`, `CART_LINE_LIMIT_EXCEEDED`
   */
  async addItem(
    cartId: string,
    input: AddItemInput,
    options: WriteOptions<LineChange> = {},
  ): Promise<LineChange> {
    const id = parseCartId(cartId);
    if (typeof input !== 'object' || input === null) {
      throw new ValidationError(
        ErrorCode.INVALID_ITEM_NAME,
        'Item must be an object with a name.',
        {
          details: { field: 'name' },
        },
      );
    }
    const name = parseItemName(input.name, this.#limits);
    const quantity = input.quantity === undefined ? 1 : parseQuantity(input.quantity, this.#limits);
    return this.#write(id, options, lineChange, (cart, ctx) => {
      const existing = findLine(cart, name);
      if (existing === undefined && cart.lines.length >= this.#limits.maxLines) {
        throw new ValidationError(
          ErrorCode.CART_LINE_LIMIT_EXCEEDED,
          `A cart holds at most ${this.#limits.maxLines} lines.`,
          { details: { maxLines: this.#limits.maxLines } },
        );
      }
      const now = new Date(ctx.now).toISOString();
      if (existing === undefined) {
        const fresh: CartLine = { name, quantity, reservation: null, addedAt: now, updatedAt: now };
        const change = this.#reserveOnAdd
          ? startReservation(fresh, ctx)
          : { line: fresh, tasks: [] };
        return { lines: putLine(cart, change.line), tasks: change.tasks, result: change.line };
      }
      const total = existing.quantity + quantity;
      if (total > this.#limits.maxQuantity) {
        throw new ValidationError(
          ErrorCode.QUANTITY_LIMIT_EXCEEDED,
          `Quantity must be at most ${this.#limits.maxQuantity}: "${name}" has ${existing.quantity}, and adding ${quantity} would make ${total}.`,
          {
            details: {
              field: 'quantity',
              maxQuantity: this.#limits.maxQuantity,
              currentQuantity: existing.quantity,
              resultingQuantity: total,
            },
          },
        );
      }
      const change = afterQuantityChange(
        existing,
        { ...existing, quantity: total, updatedAt: now },
        this.#reserveOnAdd,
        ctx,
      );
      return { lines: putLine(cart, change.line), tasks: change.tasks, result: change.line };
    });
  }

  /**
   * Sets a line's quantity. A reserved line's reservation is released and a new one
   * requested for the new quantity. Setting the current quantity changes nothing.
   */
  async setQuantity(
    cartId: string,
    name: string,
    quantity: number,
    options: WriteOptions<LineChange> = {},
  ): Promise<LineChange> {
    const id = parseCartId(cartId);
    const itemName = parseItemName(name, this.#limits);
    const wanted = parseQuantity(quantity, this.#limits);
    return this.#write(id, options, lineChange, (cart, ctx, exists) => {
      const line = requireLine(requireCart(exists ? cart : undefined, id), itemName);
      if (line.quantity === wanted) return { unchanged: true, result: line };
      const change = afterQuantityChange(
        line,
        { ...line, quantity: wanted, updatedAt: new Date(ctx.now).toISOString() },
        this.#reserveOnAdd,
        ctx,
      );
      return { lines: putLine(cart, change.line), tasks: change.tasks, result: change.line };
    });
  }

  /** Removes a line, releasing its reservation. @returns the cart and the removed line. */
  async removeItem(
    cartId: string,
    name: string,
    options: WriteOptions<LineChange> = {},
  ): Promise<LineChange> {
    const id = parseCartId(cartId);
    const itemName = parseItemName(name, this.#limits);
    return this.#write(id, options, lineChange, (cart, ctx, exists) => {
      const line = requireLine(requireCart(exists ? cart : undefined, id), itemName);
      return { lines: withoutLine(cart, itemName), tasks: releaseTaskFor(line, ctx), result: line };
    });
  }

  /** Empties the cart, releasing every reservation. Emptying an empty cart changes nothing. */
  async clear(cartId: string, options: WriteOptions<Cart> = {}): Promise<Cart> {
    const id = parseCartId(cartId);
    return this.#write(
      id,
      options,
      (cart) => cart,
      (current, ctx) => {
        if (current.lines.length === 0) return { unchanged: true, result: undefined };
        const tasks = current.lines.flatMap((line) => releaseTaskFor(line, ctx));
        return { lines: [], tasks, result: undefined };
      },
    );
  }

  /**
   * Requests a reservation of a line in the background. While one is pending, or
   * once reserved for the line's quantity, returns it without starting another;
   * after a failure (or with none), starts a new one.
   */
  async requestReservation(
    cartId: string,
    name: string,
    options: WriteOptions<ReservationRequestResult> = {},
  ): Promise<ReservationRequestResult> {
    const id = parseCartId(cartId);
    const itemName = parseItemName(name, this.#limits);
    const present = (
      cart: Cart,
      result: { line: CartLine; created: boolean },
    ): ReservationRequestResult => ({ cart, line: result.line, created: result.created });
    return this.#write(id, options, present, (current, ctx, exists) => {
      const line = requireLine(requireCart(exists ? current : undefined, id), itemName);
      const change = requestReservation(line, ctx);
      if (change.tasks.length === 0) return { unchanged: true, result: { line, created: false } };
      return {
        lines: putLine(current, change.line),
        tasks: change.tasks,
        result: { line: change.line, created: true },
      };
    });
  }

  /**
   * Runs `change` through the repository and returns `present(cart, result)`. With
   * `options.idempotency`, each candidate's outcome is presented once, its record
   * saved with it, and that same outcome object returned when it is the one saved.
   */
  async #write<R, O>(
    cartId: string,
    options: WriteOptions<O>,
    present: (cart: Cart, result: R) => O,
    change: (cart: Cart, ctx: TransitionContext, exists: boolean) => CartMutation<R>,
  ): Promise<O> {
    const expectedVersion =
      options.expectedVersion === undefined
        ? undefined
        : parseExpectedVersion(options.expectedVersion);
    const record = options.idempotency;
    let presented: { cart: Cart; outcome: O } | undefined;
    const outcome = await this.#repository.mutate(
      cartId,
      (cart, exists, now) => change(cart, { cartId, now, newId: this.#generateId }, exists),
      {
        ...(expectedVersion === undefined ? {} : { expectedVersion }),
        ...(record === undefined
          ? {}
          : {
              idempotency: (cart: Cart, result: R) => {
                presented = { cart, outcome: present(cart, result) };
                return record(presented.outcome);
              },
            }),
      },
    );
    if (outcome.tasks.length > 0) this.#notify();
    return presented?.cart === outcome.cart
      ? presented.outcome
      : present(outcome.cart, outcome.result);
  }

  #notify(): void {
    try {
      this.#scheduler.notify();
    } catch (error) {
      // The tasks are durable; the scheduler finds them at its next poll.
      this.#logger.warn({ err: error }, 'scheduler notify failed; tasks stay in the outbox');
    }
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }
}

function lineChange(cart: Cart, line: CartLine): LineChange {
  return { cart, line };
}

function requireCart(cart: Cart | undefined, cartId: string): Cart {
  if (cart === undefined) {
    throw new NotFoundError(ErrorCode.CART_NOT_FOUND, `Cart "${cartId}" does not exist.`, {
      details: { cartId },
    });
  }
  return cart;
}

function requireLine(cart: Cart, name: string): CartLine {
  const line = findLine(cart, name);
  if (line === undefined) {
    throw new NotFoundError(ErrorCode.ITEM_NOT_FOUND, `Item "${name}" is not in the cart.`, {
      details: { name },
    });
  }
  return line;
}
