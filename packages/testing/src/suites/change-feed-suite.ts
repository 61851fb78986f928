import assert from 'node:assert/strict';
import type {
  CartChange,
  ChangeFeed,
  ChangeFeedEvent,
  ChangeSubscribeOptions,
} from '@cartkit/core';
import type { TestApi } from './test-api.js';

/** One feed under test, and what the suite may do with it. */
export interface ChangeFeedHarness {
  /** The feed under test. */
  readonly feed: ChangeFeed;
  /**
   * Opens another feed instance on the same backend (as another server instance
   * would): what one publishes, the other's subscribers receive. Required with the
   * `multiInstance` capability.
   */
  readonly another?: () => Promise<ChangeFeed>;
  /** Releases everything the harness opened (after the feeds were closed or not). */
  close(): Promise<void>;
}

/** Builds a fresh feed (on a fresh backend namespace) for one test. */
export type ChangeFeedFactory = () => Promise<ChangeFeedHarness> | ChangeFeedHarness;

/** Optional abilities of a change feed adapter. */
export interface ChangeFeedCapabilities {
  /**
   * How many changes per cart the feed remembers for resumes, when that is a fixed
   * number: enables the test that a resume older than that gets `resync`.
   */
  readonly bufferSize?: number;
  /** Several instances share a backend; the harness opens another with `another()`. */
  readonly multiInstance?: boolean;
}

const at = '2026-01-01T00:00:00.000Z';

function change(cartId: string, version: number, itemName = `item-${version}`): CartChange {
  return { cartId, version, kind: 'item-added', itemName, at };
}

/** A subscription that records what it receives and lets a test wait for it. */
interface Recorder {
  readonly events: ChangeFeedEvent[];
  /** Resolves once `count` events arrived (the test's own timeout bounds the wait). */
  until(count: number): Promise<ChangeFeedEvent[]>;
  close(): void;
}

function record(feed: ChangeFeed, cartId: string, options?: ChangeSubscribeOptions): Recorder {
  const events: ChangeFeedEvent[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const subscription = feed.subscribe(
    cartId,
    (event) => {
      events.push(event);
      for (const waiter of [...waiters]) {
        if (events.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    },
    options,
  );
  return {
    events,
    until: (count) =>
      events.length >= count
        ? Promise.resolve(events)
        : new Promise((resolve) => waiters.push({ count, resolve: () => resolve(events) })),
    close: () => subscription.close(),
  };
}

/** Versions of the `change` events, `resync` as `'resync'`. */
function versions(events: readonly ChangeFeedEvent[]): Array<number | 'resync'> {
  return events.map((event) => (event.type === 'change' ? event.change.version : 'resync'));
}

/**
 * A marker change on a scratch cart, awaited by a recorder: once it arrives,
 * everything published before it on this feed has been delivered (adapters
 * deliver one publisher's changes in order), so a test can assert that something
 * did NOT arrive without sleeping.
 */
async function flush(publisher: ChangeFeed, subscriber: ChangeFeed, cartId: string): Promise<void> {
  const marker = `${cartId}~flush`;
  const recorder = record(subscriber, marker);
  await publisher.publish(change(marker, 1));
  await recorder.until(1);
  recorder.close();
}

/**
 * The {@link ChangeFeed} contract. Every change feed adapter runs it, in full; a
 * feed shared by several instances passes `multiInstance` and `another()`, and the
 * same assertions then run across instances.
 *
 * Assertions wait for events (never for time); the waits are bounded by the test
 * runner's timeout.
 *
 * @example
 * ```ts
 * import { describe, it, beforeEach, afterEach } from 'vitest';
 * changeFeedContractSuite({ describe, it, beforeEach, afterEach }, 'memory', () => {
 *   const feed = new MemoryChangeFeed({ bufferSize: 10 });
 *   return { feed, close: () => feed.close() };
 * }, { bufferSize: 10 });
 * ```
 */
export function changeFeedContractSuite(
  test: TestApi,
  name: string,
  factory: ChangeFeedFactory,
  capabilities: ChangeFeedCapabilities = {},
): void {
  const { describe, it, beforeEach, afterEach } = test;

  describe(`ChangeFeed contract: ${name}`, () => {
    let harness: ChangeFeedHarness;
    let feed: ChangeFeed;
    const feeds: ChangeFeed[] = [];

    beforeEach(async () => {
      harness = await factory();
      feed = harness.feed;
      feeds.push(feed);
    });

    afterEach(async () => {
      for (const f of feeds.splice(0)) await f.close().catch(() => undefined);
      await harness.close();
    });

    /** Publisher and subscriber feeds: the same one, or two instances. */
    const pairs: Array<[string, () => Promise<[ChangeFeed, ChangeFeed]>]> = [
      ['one instance', async () => [feed, feed]],
    ];
    if (capabilities.multiInstance === true) {
      pairs.push([
        'across instances',
        async () => {
          assert.ok(harness.another, 'multiInstance needs harness.another');
          const other = await harness.another();
          feeds.push(other);
          return [feed, other];
        },
      ]);
    }

    for (const [label, open] of pairs) {
      describe(label, () => {
        it("delivers a cart's changes in version order, and no other cart's", async () => {
          const [publisher, subscriber] = await open();
          const mine = record(subscriber, 'c1');
          const others = record(subscriber, 'c2');
          for (let v = 1; v <= 5; v++) await publisher.publish(change('c1', v));
          await publisher.publish(change('c2', 1));
          assert.deepEqual(versions(await mine.until(5)), [1, 2, 3, 4, 5]);
          assert.deepEqual(versions(await others.until(1)), [1]);
          await flush(publisher, subscriber, 'c1');
          assert.equal(mine.events.length, 5);
          const first = mine.events[0];
          assert.deepEqual(first?.type === 'change' ? first.change : first, change('c1', 1));
        });

        it('delivers to every subscriber of the cart', async () => {
          const [publisher, subscriber] = await open();
          const a = record(subscriber, 'c1');
          const b = record(subscriber, 'c1');
          await publisher.publish(change('c1', 1));
          await publisher.publish(change('c1', 2));
          assert.deepEqual(versions(await a.until(2)), [1, 2]);
          assert.deepEqual(versions(await b.until(2)), [1, 2]);
        });

        it('delivers each version once', async () => {
          const [publisher, subscriber] = await open();
          const r = record(subscriber, 'c1');
          await publisher.publish(change('c1', 1));
          await publisher.publish(change('c1', 1));
          await publisher.publish(change('c1', 2));
          await r.until(2);
          await flush(publisher, subscriber, 'c1');
          assert.deepEqual(versions(r.events), [1, 2]);
        });

        it('turns a version gap into one resync, then goes on', async () => {
          const [publisher, subscriber] = await open();
          const r = record(subscriber, 'c1');
          await publisher.publish(change('c1', 1));
          await publisher.publish(change('c1', 2));
          await publisher.publish(change('c1', 4)); // 3 was lost
          await publisher.publish(change('c1', 5));
          assert.deepEqual(versions(await r.until(4)), [1, 2, 'resync', 5]);
        });

        it('stops delivering after the subscription closes', async () => {
          const [publisher, subscriber] = await open();
          const closed = record(subscriber, 'c1');
          const open_ = record(subscriber, 'c1');
          await publisher.publish(change('c1', 1));
          await closed.until(1);
          closed.close();
          closed.close();
          await publisher.publish(change('c1', 2));
          await open_.until(2);
          await flush(publisher, subscriber, 'c1');
          assert.deepEqual(versions(closed.events), [1]);
        });

        it('keeps delivering to others when a listener throws', async () => {
          const [publisher, subscriber] = await open();
          subscriber.subscribe('c1', () => {
            throw new Error('listener failure');
          });
          const r = record(subscriber, 'c1');
          await publisher.publish(change('c1', 1));
          await publisher.publish(change('c1', 2));
          assert.deepEqual(versions(await r.until(2)), [1, 2]);
        });

        it('resumes after a version with the changes that followed it, in order', async () => {
          const [publisher, subscriber] = await open();
          const live = record(subscriber, 'c1');
          for (let v = 1; v <= 5; v++) await publisher.publish(change('c1', v));
          await live.until(5);
          const resumed = record(subscriber, 'c1', { afterVersion: 2 });
          await publisher.publish(change('c1', 6));
          const events = await resumed.until(4);
          assert.deepEqual(versions(events), [3, 4, 5, 6]);
        });

        it('resumes at the latest version with nothing to replay', async () => {
          const [publisher, subscriber] = await open();
          const live = record(subscriber, 'c1');
          for (let v = 1; v <= 3; v++) await publisher.publish(change('c1', v));
          await live.until(3);
          const resumed = record(subscriber, 'c1', { afterVersion: 3 });
          await publisher.publish(change('c1', 4));
          assert.deepEqual(versions(await resumed.until(1)), [4]);
        });

        it('tells a subscriber resuming on a cart it knows nothing of to re-read', async () => {
          const [publisher, subscriber] = await open();
          const resumed = record(subscriber, 'never-published', { afterVersion: 7 });
          const [first] = await resumed.until(1);
          assert.equal(first?.type, 'resync');
          await publisher.publish(change('never-published', 9));
          const events = await resumed.until(2);
          assert.equal(events[1]?.type === 'change' && events[1].change.version, 9);
        });

        if (capabilities.bufferSize !== undefined) {
          const size = capabilities.bufferSize;
          it('answers a resume older than it remembers with one resync, then goes on', async () => {
            const [publisher, subscriber] = await open();
            const live = record(subscriber, 'c1');
            const total = size + 3;
            for (let v = 1; v <= total; v++) await publisher.publish(change('c1', v));
            await live.until(total);
            const resumed = record(subscriber, 'c1', { afterVersion: 1 });
            await publisher.publish(change('c1', total + 1));
            const events = await resumed.until(2);
            assert.deepEqual(versions(events), ['resync', total + 1]);
          });
        }
      });
    }

    it('delivers nothing after the feed closes', async () => {
      const r = record(feed, 'c1');
      await feed.publish(change('c1', 1));
      await r.until(1);
      await feed.close();
      await feed.publish(change('c1', 2)).catch(() => undefined);
      assert.deepEqual(versions(r.events), [1]);
    });
  });
}
