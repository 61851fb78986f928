import { inertScheduler } from '@cartkit/testing';
import { describe, expect, it } from 'vitest';
import {
  type Cart,
  CartRepository,
  CartService,
  type ChangeFeedEvent,
  type CompletedIdempotencyRecord,
  ConflictError,
  createCart,
  ErrorCode,
  MemoryCartStorage,
  MemoryChangeFeed,
  MemoryReserver,
  newTask,
  type SaveCartOptions,
  StorageError,
  silentLogger,
  systemClock,
} from '../src/index.js';

/**
 * A memory storage that counts saves and can hold the next one until released, so a
 * test can queue changes behind a save in flight — by order, not by timing.
 */
class GatedStorage extends MemoryCartStorage {
  saves: Array<{ version: number; tasks: number; records: number }> = [];
  #held: { reached: () => void; release: Promise<void> } | undefined;
  /** Runs before every save reaches the store (e.g. a competing write from "another process"). */
  beforeSave: ((cart: Cart) => Promise<void>) | undefined;

  /** The next save waits until the returned `release()`; `reached` settles once it waits. */
  holdNextSave(): { reached: Promise<void>; release: () => void } {
    let release = () => {};
    let reached = () => {};
    const reachedPromise = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const releasePromise = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#held = { reached, release: releasePromise };
    return { reached: reachedPromise, release };
  }

  override async saveCart(cart: Cart, options: SaveCartOptions): Promise<void> {
    const held = this.#held;
    if (held !== undefined) {
      this.#held = undefined;
      held.reached();
      await held.release;
    }
    await this.beforeSave?.(cart);
    await super.saveCart(cart, options);
    this.saves.push({
      version: cart.version,
      tasks: options.tasks?.length ?? 0,
      records: options.idempotency?.length ?? 0,
    });
  }
}

function setup() {
  const storage = new GatedStorage();
  const changeFeed = new MemoryChangeFeed();
  const service = new CartService({
    storage,
    scheduler: inertScheduler,
    changeFeed,
    reserveOnAdd: false,
  });
  return { storage, service, changeFeed };
}

function completed(key: string, body: unknown): CompletedIdempotencyRecord {
  return {
    key,
    fingerprint: 'f',
    status: 'completed',
    response: { status: 201, headers: {}, body },
    leaseUntil: null,
    expiresAt: Date.now() + 60_000,
  };
}

describe('CartRepository: changes queued behind a save are combined', () => {
  it('saves changes queued while a save is in flight in one save, each caller with its own result', async () => {
    const { storage, service } = setup();
    const gate = storage.holdNextSave();
    const first = service.addItem('c1', { name: 'A' });
    await gate.reached;
    const queued = Array.from({ length: 20 }, (_, i) =>
      service.addItem('c1', { name: i % 2 === 0 ? 'A' : `B${i}`, quantity: 2 }),
    );
    gate.release();
    const [one, ...rest] = await Promise.all([first, ...queued]);
    expect(one?.cart.version).toBe(1);
    // One save for the first add, ONE for the 20 queued behind it.
    expect(storage.saves.map((s) => s.version)).toEqual([1, 2]);
    rest.forEach((outcome, i) => {
      expect(outcome.cart.version).toBe(2);
      expect(outcome.line.name).toBe(i % 2 === 0 ? 'A' : `B${i}`);
    });
    // Each caller saw the previous caller's result: A's quantity grows add by add.
    expect(rest.filter((_, i) => i % 2 === 0).map((o) => o.line.quantity)).toEqual([
      3, 5, 7, 9, 11, 13, 15, 17, 19, 21,
    ]);
    const cart = await service.getCart('c1');
    expect(cart.lines.find((l) => l.name === 'A')?.quantity).toBe(21);
    expect(cart.lines).toHaveLength(11);
  });

  it('sums concurrent adds exactly with fewer saves than adds (no timing)', async () => {
    const { storage, service } = setup();
    await Promise.all(Array.from({ length: 200 }, () => service.addItem('c1', { name: 'A' })));
    expect((await service.getCart('c1')).lines[0]?.quantity).toBe(200);
    expect(storage.saves.length).toBeLessThan(200);
    expect(storage.saves.length).toBe(Math.ceil(200 / 64));
  });

  it('drops a change that throws with its own error; the others are saved from the cart before it', async () => {
    const { storage, service } = setup();
    await service.addItem('c1', { name: 'A' });
    const gate = storage.holdNextSave();
    const first = service.addItem('c1', { name: 'B' });
    await gate.reached;
    const a = service.setQuantity('c1', 'A', 5);
    const missing = service.setQuantity('c1', 'Missing', 2);
    // Removes the line `a` changed in this round: it opens the next round (version 4).
    const removed = service.removeItem('c1', 'A');
    const removedAgain = service.removeItem('c1', 'A'); // A is gone by then: ITEM_NOT_FOUND
    const c = service.addItem('c1', { name: 'C', quantity: 3 });
    gate.release();
    await first;
    expect((await a).line.quantity).toBe(5);
    expect((await a).cart.version).toBe(3);
    await expect(missing).rejects.toMatchObject({ code: ErrorCode.ITEM_NOT_FOUND });
    expect((await removed).cart.version).toBe(4);
    await expect(removedAgain).rejects.toMatchObject({ code: ErrorCode.ITEM_NOT_FOUND });
    expect((await c).cart.version).toBe(4);
    expect(storage.saves.map((s) => s.version)).toEqual([1, 2, 3, 4]);
    const cart = await service.getCart('c1');
    expect(cart.lines.map((l) => [l.name, l.quantity])).toEqual([
      ['B', 1],
      ['C', 3],
    ]);
  });

  it('saves a removal of a line changed earlier in the round in a version of its own, so no answer shows a line its version lacks', async () => {
    const { storage, service } = setup();
    await service.addItem('c1', { name: 'Kept' });
    const gate = storage.holdNextSave();
    const opening = service.addItem('c1', { name: 'Opening' });
    await gate.reached;
    const added = service.addItem('c1', { name: 'X', quantity: 2 });
    const other = service.addItem('c1', { name: 'Y' });
    const removed = service.removeItem('c1', 'X'); // removes what `added` added
    const after = service.addItem('c1', { name: 'Z' });
    const changed = service.setQuantity('c1', 'Kept', 4);
    const cleared = service.clear('c1'); // removes what `changed` changed
    gate.release();
    await opening;
    // Every answer's cart has the answer's line.
    for (const outcome of [await added, await other, await after, await changed]) {
      expect(outcome.cart.lines).toContainEqual(outcome.line);
    }
    expect((await added).cart.version).toBe(3);
    expect((await other).cart.version).toBe(3);
    expect((await removed).cart.version).toBe(4);
    expect((await removed).cart.lines.map((l) => l.name)).toEqual(['Kept', 'Opening', 'Y', 'Z']);
    expect((await after).cart.version).toBe(4);
    expect((await changed).cart.version).toBe(4);
    expect((await cleared).version).toBe(5);
    expect(storage.saves.map((s) => s.version)).toEqual([1, 2, 3, 4, 5]);
    expect((await service.getCart('c1')).lines).toEqual([]);
  });

  it('runs a change with expectedVersion only first in a save, on the cart as read', async () => {
    const { storage, service } = setup();
    const gate = storage.holdNextSave();
    const first = service.addItem('c1', { name: 'A' }); // saves version 1
    await gate.reached;
    const matching = service.addItem('c1', { name: 'B' }, { expectedVersion: 1 });
    const after = service.addItem('c1', { name: 'C' });
    const stale = service.addItem('c1', { name: 'D' }, { expectedVersion: 1 });
    gate.release();
    await first;
    // `matching` opens the second save (cart at 1) and `after` joins it; `stale` waits
    // for a save of its own and finds the cart at 2.
    expect((await matching).cart.version).toBe(2);
    expect((await after).cart.version).toBe(2);
    await expect(stale).rejects.toMatchObject({
      code: ErrorCode.VERSION_MISMATCH,
      details: { currentVersion: 2, expectedVersion: 1 },
    });
    expect(storage.saves.map((s) => s.version)).toEqual([1, 2]);
    expect((await service.getCart('c1')).lines.map((l) => l.name)).toEqual(['A', 'B', 'C']);
  });

  it('recomputes the whole round from a fresh read when another writer wins the compare-and-set', async () => {
    const { storage, service } = setup();
    // Another "process": its own repository on the same storage.
    const other = new CartService({ storage, scheduler: inertScheduler, reserveOnAdd: false });
    await service.addItem('c1', { name: 'A' });
    const gate = storage.holdNextSave();
    const first = service.addItem('c1', { name: 'A' });
    await gate.reached;
    const queued = Array.from({ length: 5 }, () => service.addItem('c1', { name: 'A' }));
    let competed = false;
    storage.beforeSave = async (cart) => {
      // Just before the queued round saves version 3, the other writer saves it.
      if (competed || cart.version !== 3) return;
      competed = true;
      await other.addItem('c1', { name: 'A', quantity: 100 });
    };
    gate.release();
    expect((await first).cart.version).toBe(2);
    const results = await Promise.all(queued);
    expect(competed).toBe(true);
    // The round lost to the other writer (version 3) and was recomputed on top of it.
    expect(results.map((r) => r.cart.version)).toEqual([4, 4, 4, 4, 4]);
    expect(results.map((r) => r.line.quantity)).toEqual([103, 104, 105, 106, 107]);
    expect((await service.getCart('c1')).lines[0]?.quantity).toBe(107);
  });

  it('saves every idempotency record of a round in its one save', async () => {
    const { storage, service } = setup();
    await service.addItem('c1', { name: 'A' });
    const gate = storage.holdNextSave();
    const first = service.addItem('c1', { name: 'A' });
    await gate.reached;
    const keyed = ['k1', 'k2', 'k3'].map((key) =>
      service.addItem(
        'c1',
        { name: 'A' },
        { idempotency: (outcome) => completed(key, { quantity: outcome.line.quantity }) },
      ),
    );
    gate.release();
    await first;
    const outcomes = await Promise.all(keyed);
    expect(outcomes.map((o) => o.line.quantity)).toEqual([3, 4, 5]);
    expect(storage.saves.at(-1)).toMatchObject({ version: 3, records: 3 });
    for (const [i, key] of ['k1', 'k2', 'k3'].entries()) {
      expect((await storage.idempotency.get(key))?.response?.body).toEqual({ quantity: 3 + i });
    }
  });

  it('saves one by one when a key of the round was completed meanwhile: only that change fails', async () => {
    const { storage, service } = setup();
    await service.addItem('c1', { name: 'A' });
    await storage.idempotency.complete(completed('done', { first: true }));
    const gate = storage.holdNextSave();
    const first = service.addItem('c1', { name: 'A' });
    await gate.reached;
    const add = (key: string) =>
      service.addItem(
        'c1',
        { name: 'A' },
        { idempotency: (outcome) => completed(key, { quantity: outcome.line.quantity }) },
      );
    const k1 = add('k1');
    const done = add('done');
    const k2 = add('k2');
    gate.release();
    await first;
    await expect(done).rejects.toMatchObject({ code: ErrorCode.IDEMPOTENCY_KEY_COMPLETED });
    expect((await k1).line.quantity).toBe(3);
    expect((await k2).line.quantity).toBe(4);
    expect(await storage.idempotency.get('done')).toMatchObject({
      response: { body: { first: true } },
    });
    expect((await storage.idempotency.get('k2'))?.response?.body).toEqual({ quantity: 4 });
    expect((await service.getCart('c1')).lines[0]?.quantity).toBe(4);
    // The combined save was refused; then k1 and k2 were saved on their own.
    expect(storage.saves.map((s) => s.version)).toEqual([1, 2, 3, 4]);
  });

  it('publishes one change per saved round, in version order', async () => {
    const { storage, service, changeFeed } = setup();
    const events: ChangeFeedEvent[] = [];
    changeFeed.subscribe('c1', (event) => events.push(event));
    const gate = storage.holdNextSave();
    const first = service.addItem('c1', { name: 'A' });
    await gate.reached;
    const queued = [
      service.addItem('c1', { name: 'B' }),
      service.setQuantity('c1', 'A', 4),
      service.addItem('c1', { name: 'C' }),
    ];
    gate.release();
    await Promise.all([first, ...queued]);
    expect(
      events.map((e) => (e.type === 'change' ? [e.change.version, e.change.kind] : e)),
    ).toEqual([
      [1, 'item-added'],
      [2, 'item-added'],
    ]);
  });

  it('changes nothing and saves nothing when every change of a round is unchanged', async () => {
    const storage = new GatedStorage();
    const repository = new CartRepository({
      storage,
      clock: systemClock,
      logger: silentLogger,
      maxSaveAttempts: 3,
    });
    const results = await Promise.all(
      [1, 2, 3].map((n) => repository.mutate('c1', () => ({ unchanged: true, result: n }))),
    );
    expect(results.map((r) => [r.result, r.cart.version])).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
    expect(storage.saves).toEqual([]);
  });

  it('gives every change of a round CONCURRENT_MODIFICATION when its saves keep losing', async () => {
    const losing = new (class extends MemoryCartStorage {
      override async saveCart(): Promise<void> {
        throw ConflictError.versionConflict('cart', 1, 0);
      }
    })();
    const service = new CartService({
      storage: losing,
      scheduler: inertScheduler,
      maxSaveAttempts: 2,
    });
    const results = await Promise.allSettled(
      [1, 2, 3].map(() => service.addItem('c1', { name: 'A' })),
    );
    for (const result of results) {
      expect(result).toMatchObject({
        status: 'rejected',
        reason: { code: ErrorCode.CONCURRENT_MODIFICATION },
      });
    }
  });

  it('gives a change that failed on its own its own error even when the round gave up on the compare-and-set', async () => {
    const losing = new (class extends MemoryCartStorage {
      override async saveCart(): Promise<void> {
        throw ConflictError.versionConflict('cart', 1, 0);
      }
    })();
    const service = new CartService({
      storage: losing,
      scheduler: inertScheduler,
      maxSaveAttempts: 2,
    });
    // Made in one tick: one round. The add cannot be saved; the setQuantity of a line
    // that is not there fails on its own, whatever happens to the save.
    const [added, missing] = await Promise.allSettled([
      service.addItem('c1', { name: 'A' }),
      service.setQuantity('c1', 'Missing', 2),
    ]);
    expect(added).toMatchObject({
      status: 'rejected',
      reason: { code: ErrorCode.CONCURRENT_MODIFICATION },
    });
    expect(missing).toMatchObject({
      status: 'rejected',
      reason: { code: ErrorCode.ITEM_NOT_FOUND },
    });
  });

  it('answers a change that changed nothing even when the save of its round fails', async () => {
    const storage = new (class extends MemoryCartStorage {
      failing = false;
      override async saveCart(cart: Cart, options: SaveCartOptions): Promise<void> {
        if (this.failing) {
          throw new StorageError(ErrorCode.STORAGE_FAILURE, 'disk away');
        }
        return super.saveCart(cart, options);
      }
    })();
    const service = new CartService({ storage, scheduler: inertScheduler, reserveOnAdd: false });
    await service.addItem('c1', { name: 'A', quantity: 2 });
    storage.failing = true;
    // One round: setting A to its quantity needs no save; the add of B needs the failing
    // one; setting B to 1 changes nothing only on the cart the add left, never saved.
    const [same, added, afterAdd] = await Promise.allSettled([
      service.setQuantity('c1', 'A', 2),
      service.addItem('c1', { name: 'B' }),
      service.setQuantity('c1', 'B', 1),
    ]);
    expect(same).toMatchObject({
      status: 'fulfilled',
      value: { line: { name: 'A', quantity: 2 }, cart: { version: 1 } },
    });
    for (const failed of [added, afterAdd]) {
      expect(failed).toMatchObject({
        status: 'rejected',
        reason: { code: ErrorCode.STORAGE_FAILURE },
      });
    }
  });

  it('refuses tasks that repeat an id within one save (a generateId that repeats) before anything is written', async () => {
    // Stores key tasks by id: SQLite and PostgreSQL would drop the second, memory would
    // overwrite the first — a reservation or a release silently lost.
    let repeat = false;
    let n = 0;
    const storage = new GatedStorage();
    const reserver = new MemoryReserver();
    const cart = await createCart({
      storage,
      reserver,
      generateId: () => (repeat ? 'same-id' : `id-${++n}`),
    });
    try {
      await cart.service.addItem('c1', { name: 'A' });
      await cart.service.addItem('c1', { name: 'B' });
      await cart.scheduler.whenIdle();
      expect(reserver.held()).toHaveLength(2);
      const before = await storage.getCart('c1');
      repeat = true;
      // One change with two tasks: emptying the cart releases both reservations.
      await expect(cart.service.clear('c1')).rejects.toMatchObject({
        code: ErrorCode.INVALID_OPTION,
        kind: 'configuration',
        details: { option: 'generateId', taskId: 'same-id' },
      });
      expect(await storage.getCart('c1')).toEqual(before);
      // Two changes combined into one save, each with a task of the same id: the first
      // is saved, the second refused on its own.
      repeat = false;
      const gate = storage.holdNextSave();
      const opening = cart.service.setQuantity('c1', 'A', 3);
      await gate.reached;
      repeat = true;
      const c = cart.service.addItem('c1', { name: 'C' });
      const d = cart.service.addItem('c1', { name: 'D' });
      gate.release();
      await opening;
      expect((await c).line.name).toBe('C');
      await expect(d).rejects.toMatchObject({ code: ErrorCode.INVALID_OPTION });
      expect((await storage.getCart('c1'))?.lines.map((l) => l.name)).toEqual(['A', 'B', 'C']);
      expect(before?.lines.map((l) => l.name)).toEqual(['A', 'B']);
      // Tasks added outside a cart change (clean-up releases) are held to the same rule.
      const outbox = new (class extends MemoryCartStorage {
        enqueued = 0;
        override async enqueueTasks(tasks: Parameters<MemoryCartStorage['enqueueTasks']>[0]) {
          this.enqueued += tasks.length;
          await super.enqueueTasks(tasks);
        }
      })();
      const repository = new CartRepository({
        storage: outbox,
        clock: systemClock,
        logger: silentLogger,
        maxSaveAttempts: 3,
      });
      const release = (itemName: string) =>
        newTask({ id: 'r-1', kind: 'release', cartId: 'c1', itemName, quantity: 1, now: 0 });
      await expect(repository.enqueueTasks([release('A'), release('B')])).rejects.toMatchObject({
        code: ErrorCode.INVALID_OPTION,
      });
      expect(outbox.enqueued).toBe(0);
      await repository.enqueueTasks([release('A')]);
      expect(outbox.enqueued).toBe(1);
    } finally {
      await cart.close();
    }
  });

  it('refuses a non-positive maxCombinedChanges', () => {
    expect(
      () =>
        new CartService({
          storage: new MemoryCartStorage(),
          scheduler: inertScheduler,
          maxCombinedChanges: 0,
        }),
    ).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_OPTION }));
  });
});
