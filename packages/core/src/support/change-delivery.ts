import type { CartChange, ChangeFeedEvent } from '../ports/change-feed.js';
import type { Logger } from '../ports/logger.js';

/** What a change feed keeps per subscription to deliver one cart's changes in order. */
export interface ChangeFeedSubscriber {
  readonly listener: (event: ChangeFeedEvent) => void;
  /** The newest version delivered (or known to the subscriber), if any. */
  last: number | undefined;
  /** Set once the subscription is closed: nothing more is delivered. */
  closed: boolean;
}

/**
 * Delivers a live change to a subscriber, for change feed adapters: a version it
 * already has is dropped; a version that skips some (a gap) becomes a `resync`
 * instead, so a subscriber never silently misses a change.
 */
export function deliverChange(
  subscriber: ChangeFeedSubscriber,
  change: CartChange,
  logger: Logger,
): void {
  if (subscriber.closed) return;
  const last = subscriber.last;
  if (last !== undefined && change.version <= last) return; // already seen
  subscriber.last = change.version;
  if (last !== undefined && change.version !== last + 1) {
    emitChangeEvent(
      subscriber,
      {
        type: 'resync',
        reason: `versions ${last + 1} to ${change.version - 1} were not seen`,
        version: change.version,
      },
      logger,
    );
    return;
  }
  emitChangeEvent(subscriber, { type: 'change', change }, logger);
}

/**
 * Calls a subscriber's listener unless it is closed; a listener that throws is
 * logged (`warn`) and stays subscribed.
 */
export function emitChangeEvent(
  subscriber: ChangeFeedSubscriber,
  event: ChangeFeedEvent,
  logger: Logger,
): void {
  if (subscriber.closed) return;
  try {
    subscriber.listener(event);
  } catch (error) {
    logger.warn({ err: error }, 'a change feed listener threw; it stays subscribed');
  }
}
