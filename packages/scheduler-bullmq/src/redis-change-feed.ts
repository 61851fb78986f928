import {
  type CartChange,
  type ChangeFeed,
  type ChangeFeedEvent,
  type ChangeFeedSubscriber,
  type ChangeSubscribeOptions,
  type ChangeSubscription,
  ConfigurationError,
  deliverChange,
  emitChangeEvent,
  type Logger,
  silentLogger,
} from '@cartkit/core';
import { Redis } from 'ioredis';

/** Options of {@link createRedisChangeFeed}. Give `connection` or `url`. */
export interface RedisChangeFeedOptions {
  /**
   * An ioredis client to publish and read buffers with; the feed duplicates it for
   * its subscriber connection and never closes it (its owner does).
   */
  readonly connection?: Redis;
  /** `redis://host:port` (or `rediss://`): the feed opens and closes its own connections. */
  readonly url?: string;
  /** Prefix of the feed's channel and buffer keys; feeds sharing it see each other. Default `cartkit:feed`. */
  readonly channelPrefix?: string;
  /** Changes remembered per cart in Redis, for subscribers that resume. Default 100. */
  readonly bufferSize?: number;
  /** A cart's buffer expires this long after its last change. Default 1 hour. */
  readonly bufferTtlMs?: number;
  /** Logs listeners that throw, malformed messages and connection errors (`warn`). Default: silent. */
  readonly logger?: Logger;
}

/** Default `bufferSize`. */
const DEFAULT_BUFFER_SIZE = 100;
/** Default `bufferTtlMs`. */
const DEFAULT_BUFFER_TTL_MS = 3_600_000;
/** Default `channelPrefix`. */
const DEFAULT_PREFIX = 'cartkit:feed';

/**
 * Appends a change to its cart's buffer (increasing versions: a duplicate or
 * older version is not buffered; a gap is kept, resumes across it get `resync`), caps and expires the
 * buffer, and publishes the change — all in one step, so a change is in the
 * buffer exactly when its message has been published.
 */
const PUBLISH_SCRIPT = `
local last = redis.call('LINDEX', KEYS[1], -1)
local v = tonumber(ARGV[1])
local lv = nil
if last then lv = tonumber(cjson.decode(last).version) end
if lv == nil or v > lv then
  redis.call('RPUSH', KEYS[1], ARGV[2])
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[2])
return 1
`;

interface Subscriber extends ChangeFeedSubscriber {
  readonly cartId: string;
  /** The resume point asked for, if any. */
  readonly afterVersion: number | undefined;
  /** Messages received while the resume point was being read; delivered after it. */
  pending: CartChange[] | undefined;
}

/**
 * A {@link ChangeFeed} on Redis pub/sub, for several application instances
 * sharing one Redis (the one BullMQ already uses): a change published on any
 * instance reaches the subscribers of every instance.
 *
 * Pub/sub is at-most-once: a message missed (a reconnect, a slow consumer
 * dropped by Redis) shows up as a version gap and becomes one `resync`. Resumes
 * (`afterVersion`) replay from a small per-cart buffer kept in Redis (a capped
 * list with a TTL), so a subscriber on another instance than the publisher can
 * replay too.
 *
 * Each feed keeps one subscriber connection on one channel. Subscriptions made
 * before that connection's SUBSCRIBE is confirmed read the cart's buffer once it
 * is, and deliver what was published meanwhile (versions already delivered are
 * dropped), so subscribing and then publishing at once from another instance
 * loses nothing; {@link RedisChangeFeed.ready} resolves when the feed is live.
 */
export class RedisChangeFeed implements ChangeFeed {
  readonly #command: Redis;
  readonly #subscriber: Redis;
  readonly #ownsCommand: boolean;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #bufferSize: number;
  readonly #ttlMs: number;
  readonly #logger: Logger;
  readonly #subscribers = new Map<string, Set<Subscriber>>();
  readonly #ready: Promise<void>;
  #live = false;
  #closed = false;

  constructor(options: RedisChangeFeedOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigurationError('Options must be an object with "connection" or "url".', {
        option: 'url',
      });
    }
    this.#bufferSize = positiveInteger(options.bufferSize, DEFAULT_BUFFER_SIZE, 'bufferSize');
    this.#ttlMs = positiveInteger(options.bufferTtlMs, DEFAULT_BUFFER_TTL_MS, 'bufferTtlMs');
    this.#logger = options.logger ?? silentLogger;
    const prefix = options.channelPrefix ?? DEFAULT_PREFIX;
    if (typeof prefix !== 'string' || prefix === '') {
      throw new ConfigurationError('Option "channelPrefix" must be a non-empty string.', {
        option: 'channelPrefix',
      });
    }
    this.#prefix = prefix;
    this.#channel = `${prefix}:changes`;
    if (options.connection !== undefined) {
      this.#command = options.connection;
      this.#ownsCommand = false;
      this.#subscriber = options.connection.duplicate();
    } else {
      const url = options.url;
      if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
        throw new ConfigurationError(
          'Option "url" is required (redis://host:port) when no "connection" is given.',
          { option: 'url' },
        );
      }
      this.#command = new Redis(url, { maxRetriesPerRequest: 1 });
      this.#ownsCommand = true;
      this.#subscriber = new Redis(url);
      this.#command.on('error', (err) => this.#logger.warn({ err }, 'change feed: Redis error'));
    }
    this.#subscriber.on('error', (err) =>
      this.#logger.warn({ err }, 'change feed: Redis subscriber error'),
    );
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#onMessage(message);
    });
    this.#ready = this.#subscriber.subscribe(this.#channel).then(
      () => {
        this.#live = true;
        for (const set of this.#subscribers.values()) {
          for (const subscriber of set) void this.#start(subscriber, true);
        }
      },
      (error: unknown) => {
        this.#logger.warn({ err: error }, 'change feed: SUBSCRIBE failed');
        throw error;
      },
    );
    this.#ready.catch(() => undefined);
  }

  /** Resolves once the feed's subscription is confirmed by Redis (rejects if it fails). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Open subscriptions, over all carts. */
  get subscriberCount(): number {
    let count = 0;
    for (const set of this.#subscribers.values()) count += set.size;
    return count;
  }

  async publish(change: CartChange): Promise<void> {
    if (this.#closed) return;
    const payload = JSON.stringify({
      cartId: change.cartId,
      version: change.version,
      kind: change.kind,
      ...(change.itemName === undefined ? {} : { itemName: change.itemName }),
      at: change.at,
    });
    await this.#command.eval(
      PUBLISH_SCRIPT,
      1,
      this.#bufferKey(change.cartId),
      String(change.version),
      payload,
      String(this.#bufferSize),
      String(this.#ttlMs),
      this.#channel,
    );
  }

  subscribe(
    cartId: string,
    listener: (event: ChangeFeedEvent) => void,
    options: ChangeSubscribeOptions = {},
  ): ChangeSubscription {
    const subscriber: Subscriber = {
      cartId,
      listener,
      afterVersion: options.afterVersion,
      last: undefined,
      closed: this.#closed,
      pending: [],
    };
    const subscription = { close: () => this.#unsubscribe(subscriber) };
    if (this.#closed) return subscription;
    let set = this.#subscribers.get(cartId);
    if (set === undefined) {
      set = new Set();
      this.#subscribers.set(cartId, set);
    }
    set.add(subscriber);
    // Before the SUBSCRIBE is confirmed, nothing arrives: the start happens then
    // (see the constructor), replaying the buffer to cover the wait.
    if (this.#live) void this.#start(subscriber, false);
    return subscription;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const set of this.#subscribers.values()) {
      for (const subscriber of set) subscriber.closed = true;
    }
    this.#subscribers.clear();
    await quit(this.#subscriber);
    if (this.#ownsCommand) await quit(this.#command);
  }

  /**
   * Makes a subscriber live: reads its cart's buffer when it resumes (or when it
   * subscribed before the feed was live), then delivers what arrived meanwhile.
   */
  async #start(subscriber: Subscriber, early: boolean): Promise<void> {
    const resumeAfter = subscriber.afterVersion;
    try {
      if (resumeAfter !== undefined || early) {
        const raw = await this.#command.lrange(this.#bufferKey(subscriber.cartId), 0, -1);
        const buffer = raw.flatMap((text) => {
          const parsed = this.#parse(text);
          return parsed === undefined ? [] : [parsed];
        });
        if (resumeAfter === undefined) {
          // Subscribed before the feed was live: what the buffer holds may have been
          // published after the subscribe call; deliver it all (duplicates are dropped,
          // gaps become resync as for live messages).
          for (const change of buffer) deliverChange(subscriber, change, this.#logger);
        } else {
          this.#resume(subscriber, buffer, resumeAfter);
        }
      }
    } catch (error) {
      this.#logger.warn({ err: error }, 'change feed: could not read a cart buffer');
      emitChangeEvent(
        subscriber,
        {
          type: 'resync',
          reason: 'the change buffer could not be read',
        },
        this.#logger,
      );
    }
    const pending = subscriber.pending ?? [];
    subscriber.pending = undefined;
    for (const change of pending) deliverChange(subscriber, change, this.#logger);
  }

  #resume(subscriber: Subscriber, buffer: readonly CartChange[], after: number): void {
    const latest = buffer.at(-1)?.version;
    const following = buffer.filter((change) => change.version > after);
    // Replayable only when the buffer holds every version after `after`, without a gap.
    const complete =
      latest !== undefined &&
      buffer.some((change) => change.version <= after + 1) &&
      following.every((change, index) => change.version === after + 1 + index);
    if (latest !== undefined && after >= latest) {
      subscriber.last = after;
    } else if (complete) {
      for (const change of following)
        emitChangeEvent(subscriber, { type: 'change', change }, this.#logger);
      subscriber.last = latest;
    } else {
      emitChangeEvent(
        subscriber,
        {
          type: 'resync',
          reason: `changes after version ${after} are no longer remembered`,
          ...(latest === undefined ? {} : { version: latest }),
        },
        this.#logger,
      );
      subscriber.last = latest;
    }
  }

  #onMessage(message: string): void {
    if (this.#closed) return;
    const change = this.#parse(message);
    if (change === undefined) return;
    const set = this.#subscribers.get(change.cartId);
    if (set === undefined) return;
    for (const subscriber of [...set]) {
      if (subscriber.pending !== undefined) subscriber.pending.push(change);
      else deliverChange(subscriber, change, this.#logger);
    }
  }

  #parse(text: string): CartChange | undefined {
    try {
      const value = JSON.parse(text) as Partial<CartChange> | null;
      if (
        value !== null &&
        typeof value === 'object' &&
        typeof value.cartId === 'string' &&
        typeof value.version === 'number' &&
        typeof value.kind === 'string' &&
        typeof value.at === 'string'
      ) {
        return Object.freeze({
          cartId: value.cartId,
          version: value.version,
          kind: value.kind,
          ...(typeof value.itemName === 'string' ? { itemName: value.itemName } : {}),
          at: value.at,
        });
      }
    } catch {
      // reported below
    }
    this.#logger.warn({ message: text.slice(0, 200) }, 'change feed: malformed message ignored');
    return undefined;
  }

  #bufferKey(cartId: string): string {
    return `${this.#prefix}:buffer:${cartId}`;
  }

  #unsubscribe(subscriber: Subscriber): void {
    subscriber.closed = true;
    const set = this.#subscribers.get(subscriber.cartId);
    if (set === undefined) return;
    set.delete(subscriber);
    if (set.size === 0) this.#subscribers.delete(subscriber.cartId);
  }
}

/**
 * Creates a {@link RedisChangeFeed}.
 *
 * @example
 * ```ts
 * const changeFeed = createRedisChangeFeed({ url: process.env.REDIS_URL! });
 * await changeFeed.ready();
 * const cart = createCart({ storage, changeFeed });
 * ```
 * @throws ConfigurationError when neither `connection` nor a `redis://` `url` is given,
 * or `bufferSize` / `bufferTtlMs` is not a positive integer.
 */
export function createRedisChangeFeed(options: RedisChangeFeedOptions): RedisChangeFeed {
  return new RedisChangeFeed(options);
}

async function quit(client: Redis): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

function positiveInteger(value: number | undefined, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(`Option "${option}" must be a positive integer.`, { option });
  }
  return value;
}
