import { changeFeedContractSuite, FakeClock, inertScheduler } from '@cartkit/testing';
import { Container } from 'inversify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CartChange,
  CartService,
  CartTokens,
  type ChangeFeed,
  type ChangeFeedEvent,
  createCart,
  MemoryCartStorage,
  MemoryChangeFeed,
  newTask,
  type Scheduler,
} from '../src/index.js';
import { cartCoreModule, startCart } from '../src/inversify/index.js';

const api = { describe, it, beforeEach, afterEach };

changeFeedContractSuite(
  api,
  'MemoryChangeFeed',
  () => {
    const feed = new MemoryChangeFeed({ bufferSize: 8 });
    return { feed, close: () => feed.close() };
  },
  { bufferSize: 8 },
);

const change = (cartId: string, version: number): CartChange => ({
  cartId,
  version,
  kind: 'item-added',
  at: '2026-01-01T00:00:00.000Z',
});

describe('MemoryChangeFeed: bounded memory', () => {
  it('frees a cart’s subscriber entry when its last subscription closes', async () => {
    const feed = new MemoryChangeFeed();
    const subscriptions = Array.from({ length: 1000 }, (_, i) =>
      feed.subscribe(`cart-${i % 10}`, () => undefined),
    );
    expect(feed.subscriberCount).toBe(1000);
    for (const subscription of subscriptions) subscription.close();
    expect(feed.subscriberCount).toBe(0);
    await feed.publish(change('cart-1', 1));
  });

  it('remembers at most bufferSize changes of at most maxCarts carts', async () => {
    const feed = new MemoryChangeFeed({ bufferSize: 3, maxCarts: 5 });
    for (let c = 0; c < 20; c++) feed.subscribe(`cart-${c}`, () => undefined);
    for (let c = 0; c < 20; c++) {
      for (let v = 1; v <= 10; v++) await feed.publish(change(`cart-${c}`, v));
    }
    expect(feed.rememberedCarts).toBe(5);
    // The newest carts are remembered (3 changes), the oldest forgotten (resync).
    const kept: ChangeFeedEvent[] = [];
    feed.subscribe('cart-19', (e) => kept.push(e), { afterVersion: 7 });
    expect(kept.map((e) => (e.type === 'change' ? e.change.version : e.type))).toEqual([8, 9, 10]);
    const forgotten: ChangeFeedEvent[] = [];
    feed.subscribe('cart-0', (e) => forgotten.push(e), { afterVersion: 7 });
    expect(forgotten.map((e) => e.type)).toEqual(['resync']);
  });

  it('keeps no history of carts nobody follows: a resume there is a resync', async () => {
    const feed = new MemoryChangeFeed();
    for (let c = 0; c < 100; c++) {
      for (let v = 1; v <= 10; v++) await feed.publish(change(`cart-${c}`, v));
    }
    expect(feed.rememberedCarts).toBe(0);
    const events: ChangeFeedEvent[] = [];
    feed.subscribe('cart-7', (e) => events.push(e), { afterVersion: 8 });
    expect(events.map((e) => e.type)).toEqual(['resync']);
    // Followed from now on: later changes are delivered and remembered.
    await feed.publish(change('cart-7', 11));
    expect(events.map((e) => (e.type === 'change' ? e.change.version : e.type))).toEqual([
      'resync',
      11,
    ]);
    expect(feed.rememberedCarts).toBe(1);
  });

  it('keeps a cart’s history for retainMs after its last subscription closed, then forgets it', async () => {
    const clock = new FakeClock();
    const feed = new MemoryChangeFeed({ clock, retainMs: 30_000 });
    const seen = (events: ChangeFeedEvent[]) =>
      events.map((e) => (e.type === 'change' ? e.change.version : e.type));
    const first = feed.subscribe('c1', () => undefined);
    for (let v = 1; v <= 3; v++) await feed.publish(change('c1', v));
    first.close();
    // The client is away: changes go on, and are kept for its return.
    await feed.publish(change('c1', 4));
    await clock.advance(29_999);
    await feed.publish(change('c1', 5));
    const back: ChangeFeedEvent[] = [];
    const again = feed.subscribe('c1', (e) => back.push(e), { afterVersion: 3 });
    expect(seen(back)).toEqual([4, 5]);
    // Followed again, then left for good: forgotten once retainMs passed.
    again.close();
    await clock.advance(30_000);
    await feed.publish(change('c1', 6));
    expect(feed.rememberedCarts).toBe(0);
    const late: ChangeFeedEvent[] = [];
    feed.subscribe('c1', (e) => late.push(e), { afterVersion: 5 });
    expect(seen(late)).toEqual(['resync']);
  });

  it('with retainMs 0, forgets a cart’s history when its last subscription closes', async () => {
    const feed = new MemoryChangeFeed({ retainMs: 0 });
    const subscription = feed.subscribe('c1', () => undefined);
    await feed.publish(change('c1', 1));
    expect(feed.rememberedCarts).toBe(1);
    subscription.close();
    expect(feed.rememberedCarts).toBe(0);
  });

  it('refuses invalid options', () => {
    expect(() => new MemoryChangeFeed({ bufferSize: 0 })).toThrow(/bufferSize/);
    expect(() => new MemoryChangeFeed({ maxCarts: 1.5 })).toThrow(/maxCarts/);
    expect(() => new MemoryChangeFeed({ retainMs: -1 })).toThrow(/retainMs/);
  });
});

/** A feed that records what is published, for the repository tests. */
function recordingFeed(): ChangeFeed & { readonly published: CartChange[] } {
  const inner = new MemoryChangeFeed();
  const published: CartChange[] = [];
  return {
    published,
    publish: async (c) => {
      published.push(c);
      await inner.publish(c);
    },
    subscribe: (cartId, listener, options) => inner.subscribe(cartId, listener, options),
    close: () => inner.close(),
  };
}

describe('CartService publishes every committed change', () => {
  it('publishes each write once, after its commit, with consecutive versions and its kind', async () => {
    const storage = new MemoryCartStorage();
    const feed = recordingFeed();
    const service = new CartService({
      storage,
      scheduler: inertScheduler,
      reserveOnAdd: false,
      changeFeed: feed,
    });
    // What the store holds at the moment each change is published (MemoryCartStorage
    // reads synchronously up to its first await): already the published version.
    const storedAtPublish: Array<Promise<number | undefined>> = [];
    feed.subscribe('c1', (event) => {
      if (event.type === 'change') {
        storedAtPublish.push(storage.getCart('c1').then((cart) => cart?.version));
      }
    });
    await service.addItem('c1', { name: 'Apple' });
    await service.addItem('c1', { name: 'Apple', quantity: 2 });
    await service.addItem('c1', { name: 'Pear' });
    await service.setQuantity('c1', 'Pear', 4);
    await service.requestReservation('c1', 'Apple');
    await service.removeItem('c1', 'Pear');
    await service.clear('c1');
    expect(
      feed.published.map(({ version, kind, itemName }) => ({ version, kind, itemName })),
    ).toEqual([
      { version: 1, kind: 'item-added', itemName: 'Apple' },
      { version: 2, kind: 'item-updated', itemName: 'Apple' },
      { version: 3, kind: 'item-added', itemName: 'Pear' },
      { version: 4, kind: 'item-updated', itemName: 'Pear' },
      { version: 5, kind: 'reservation-updated', itemName: 'Apple' },
      { version: 6, kind: 'item-removed', itemName: 'Pear' },
      { version: 7, kind: 'cart-cleared', itemName: undefined },
    ]);
    const stored = await storage.getCart('c1');
    expect(feed.published.at(-1)?.at).toBe(stored?.updatedAt);
    expect(await Promise.all(storedAtPublish)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('publishes nothing for a write that changes nothing, or fails', async () => {
    const feed = recordingFeed();
    const service = new CartService({
      storage: new MemoryCartStorage(),
      scheduler: inertScheduler,
      reserveOnAdd: false,
      changeFeed: feed,
    });
    await service.addItem('c1', { name: 'Apple', quantity: 2 });
    await service.setQuantity('c1', 'Apple', 2); // unchanged
    await service.clear('c2'); // empty: unchanged
    await service.removeItem('c1', 'Nope').catch(() => undefined);
    await service.addItem('c1', { name: 'Apple' }, { expectedVersion: 9 }).catch(() => undefined);
    expect(feed.published.map((c) => c.version)).toEqual([1]);
  });

  it('publishes nothing for tasks added without a cart change', async () => {
    const feed = recordingFeed();
    const service = new CartService({
      storage: new MemoryCartStorage(),
      scheduler: inertScheduler,
      changeFeed: feed,
    });
    await service.repository.enqueueTasks([
      newTask({ id: 't1', kind: 'release', cartId: 'c1', itemName: 'A', quantity: 1, now: 0 }),
    ]);
    expect(feed.published).toEqual([]);
  });

  it('never fails a write when publishing fails, and logs it', async () => {
    const errors: unknown[] = [];
    const logger = {
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (obj: unknown) => errors.push(obj),
      fatal: () => undefined,
      child: () => logger,
    };
    const failing: ChangeFeed = {
      publish: () => Promise.reject(new Error('feed down')),
      subscribe: () => ({ close: () => undefined }),
      close: async () => undefined,
    };
    const throwing: ChangeFeed = {
      ...failing,
      publish: () => {
        throw new Error('feed broken');
      },
    };
    for (const changeFeed of [failing, throwing]) {
      const service = new CartService({
        storage: new MemoryCartStorage(),
        scheduler: inertScheduler,
        reserveOnAdd: false,
        changeFeed,
        logger,
      });
      const { cart } = await service.addItem('c1', { name: 'Apple' });
      expect(cart.version).toBe(1);
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).toHaveLength(2);
  });
});

describe('createCart wires a change feed', () => {
  it('defaults to an in-memory feed that sees the reservation settle', async () => {
    const cart = await createCart();
    try {
      const events: ChangeFeedEvent[] = [];
      cart.changeFeed.subscribe('c1', (e) => events.push(e));
      await cart.service.addItem('c1', { name: 'Apple' });
      await cart.scheduler.whenIdle();
      expect(events.map((e) => (e.type === 'change' ? e.change.kind : e.type))).toEqual([
        'item-added',
        'reservation-updated',
      ]);
    } finally {
      await cart.close();
    }
  });

  it('uses the feed it is given and closes it with the cart', async () => {
    const changeFeed = recordingFeed();
    const cart = await createCart({ changeFeed, reserveOnAdd: false });
    expect(cart.changeFeed).toBe(changeFeed);
    await cart.service.addItem('c1', { name: 'Apple' });
    expect(changeFeed.published).toHaveLength(1);
    await cart.close();
  });
});

describe('cartCoreModule binds a change feed', () => {
  it('defaults to an in-memory feed the service publishes to, closed on unbind', async () => {
    const container = new Container();
    await container.load(cartCoreModule({ settings: { reserveOnAdd: false } }));
    const service = await startCart(container);
    const feed = await container.getAsync<ChangeFeed>(CartTokens.ChangeFeed);
    const events: ChangeFeedEvent[] = [];
    feed.subscribe('c1', (e) => events.push(e));
    await service.addItem('c1', { name: 'Apple' });
    expect(events).toHaveLength(1);
    await (await container.getAsync<Scheduler>(CartTokens.Scheduler)).stop();
    await container.unbindAllAsync();
    expect((feed as MemoryChangeFeed).subscriberCount).toBe(0);
  });

  it('uses a feed bound before it', async () => {
    const container = new Container();
    const feed = recordingFeed();
    container.bind(CartTokens.ChangeFeed).toConstantValue(feed);
    await container.load(cartCoreModule({ settings: { reserveOnAdd: false } }));
    const service = await startCart(container);
    await service.addItem('c1', { name: 'Apple' });
    expect(feed.published).toHaveLength(1);
    await (await container.getAsync<Scheduler>(CartTokens.Scheduler)).stop();
    await container.unbindAllAsync();
  });
});
