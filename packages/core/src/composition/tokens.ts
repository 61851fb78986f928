import type { ChangeFeed } from '../ports/change-feed.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Reserver } from '../ports/reserver.js';
import type { Scheduler, TaskHandler } from '../ports/scheduler.js';
import type { CartStorage } from '../ports/storage.js';
import type { CartService, CartServiceOptions } from '../service/cart-service.js';

declare const tokenType: unique symbol;

/**
 * A typed service identifier: a plain symbol that remembers the type it stands
 * for. Works as an inversify `ServiceIdentifier`; `Token.Type<typeof T>` recovers
 * the type.
 */
export type Token<T> = symbol & { readonly [tokenType]?: T };

/** Helpers for {@link Token}. */
export declare namespace Token {
  /** The type a token stands for. */
  type Type<K> = K extends Token<infer T> ? T : never;
}

function token<T>(name: string): Token<T> {
  return Symbol.for(`cartkit.${name}`) as Token<T>;
}

/** Settings for the cart service, apart from its ports. */
export type CartSettings = Omit<
  CartServiceOptions,
  'storage' | 'scheduler' | 'clock' | 'logger' | 'changeFeed'
>;

/**
 * Service identifiers for every port and for the cart service. Registered under
 * `Symbol.for`, so two copies of the package agree on them.
 */
export const CartTokens = Object.freeze({
  /** {@link CartStorage}: carts, their outbox, idempotency records */
  Storage: token<CartStorage>('Storage'),
  /** {@link Reserver} */
  Reserver: token<Reserver>('Reserver'),
  /** {@link Scheduler} */
  Scheduler: token<Scheduler>('Scheduler'),
  /** {@link ChangeFeed}: committed cart changes, for live views (SSE). */
  ChangeFeed: token<ChangeFeed>('ChangeFeed'),
  /** {@link Clock} */
  Clock: token<Clock>('Clock'),
  /** {@link Logger} */
  Logger: token<Logger>('Logger'),
  /** {@link CartSettings}: limits, reserveOnAdd, ... */
  Settings: token<CartSettings>('Settings'),
  /** {@link CartService} */
  CartService: token<CartService>('CartService'),
  /** The {@link TaskHandler} schedulers deliver to (the reservation worker). */
  TaskHandler: token<TaskHandler>('TaskHandler'),
});
