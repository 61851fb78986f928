import { randomBytes } from 'node:crypto';
import { ConfigurationError } from '@cartkit/core';
import { createRedisChangeFeed, type RedisChangeFeed } from '@cartkit/scheduler-bullmq';
import { changeFeedContractSuite } from '@cartkit/testing';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeEngines, requireEngines } from '../../../scripts/vitest/engines.js';

const BUFFER_SIZE = 10;

describeEngines('Redis change feed', () => {
  // Two feed instances on one Redis, as two application instances would be; the
  // second is used without awaiting ready(), so subscribe-then-publish at once
  // from the other instance is covered by the adapter itself.
  changeFeedContractSuite(
    { describe, it, beforeEach, afterEach },
    'Redis pub/sub',
    () => {
      const channelPrefix = `cartkit-test:feed:${randomBytes(6).toString('hex')}`;
      const url = requireEngines().redisUrl;
      const opened: RedisChangeFeed[] = [];
      const open = () => {
        const feed = createRedisChangeFeed({ url, channelPrefix, bufferSize: BUFFER_SIZE });
        opened.push(feed);
        return feed;
      };
      return {
        feed: open(),
        another: async () => open(),
        close: async () => {
          for (const feed of opened) await feed.close();
        },
      };
    },
    { bufferSize: BUFFER_SIZE, multiInstance: true },
  );

  it('answers a resume across a version gap in the buffer with resync', async () => {
    const channelPrefix = `cartkit-test:feed:${randomBytes(6).toString('hex')}`;
    const url = requireEngines().redisUrl;
    const publisher = createRedisChangeFeed({ url, channelPrefix });
    const subscriber = createRedisChangeFeed({ url, channelPrefix });
    try {
      const change = (version: number) =>
        ({ cartId: 'c1', version, kind: 'item-added', at: 'x' }) as const;
      for (const v of [1, 2, 4, 5]) await publisher.publish(change(v));
      const events = await new Promise<string[]>((resolve) => {
        const seen: string[] = [];
        subscriber.subscribe(
          'c1',
          (event) => {
            seen.push(event.type === 'change' ? String(event.change.version) : event.type);
            if (seen.length === 2) resolve(seen);
          },
          { afterVersion: 1 },
        );
        void subscriber.ready().then(() => publisher.publish(change(6)));
      });
      expect(events).toEqual(['resync', '6']);
    } finally {
      await publisher.close();
      await subscriber.close();
    }
  });

  it('shares a caller-owned connection and leaves it open on close', async () => {
    const connection = new Redis(requireEngines().redisUrl);
    try {
      const channelPrefix = `cartkit-test:feed:${randomBytes(6).toString('hex')}`;
      const feed = createRedisChangeFeed({ connection, channelPrefix });
      await feed.ready();
      const seen: number[] = [];
      const got = new Promise<void>((resolve) => {
        feed.subscribe('c1', (event) => {
          if (event.type === 'change') seen.push(event.change.version);
          if (seen.length === 2) resolve();
        });
      });
      await feed.publish({ cartId: 'c1', version: 1, kind: 'item-added', itemName: 'a', at: 'x' });
      await feed.publish({
        cartId: 'c1',
        version: 2,
        kind: 'item-removed',
        itemName: 'a',
        at: 'x',
      });
      await got;
      expect(seen).toEqual([1, 2]);
      // The buffer is capped and expires.
      const ttl = await connection.pttl(`${channelPrefix}:buffer:c1`);
      expect(ttl).toBeGreaterThan(0);
      await feed.close();
      expect(feed.subscriberCount).toBe(0);
      expect(await connection.ping()).toBe('PONG');
    } finally {
      await connection.quit();
    }
  });
});

describe('createRedisChangeFeed options', () => {
  it('refuses a missing url and bad sizes with ConfigurationError', () => {
    expect(() => createRedisChangeFeed({})).toThrow(ConfigurationError);
    expect(() => createRedisChangeFeed({ url: 'http://x' })).toThrow(ConfigurationError);
    expect(() => createRedisChangeFeed({ url: 'redis://127.0.0.1:1', bufferSize: 0 })).toThrow(
      ConfigurationError,
    );
  });
});
