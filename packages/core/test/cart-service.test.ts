import { inertScheduler } from '@cartkit/testing';
import { describe, expect, it } from 'vitest';
import {
  CartError,
  CartService,
  type CartStorage,
  ConfigurationError,
  ConflictError,
  ErrorCode,
  MemoryCartStorage,
  NotFoundError,
  ValidationError,
} from '../src/index.js';

function setup(options: Partial<ConstructorParameters<typeof CartService>[0]> = {}) {
  const storage: CartStorage = new MemoryCartStorage();
  const service = new CartService({
    storage,
    scheduler: inertScheduler,
    reserveOnAdd: false,
    ...options,
  });
  return { storage, service };
}

/** Expects `promise` to reject with a cartkit error of `code`, and the stored cart to be unchanged. */
async function rejectsUnchanged(
  storage: CartStorage,
  cartId: string,
  promise: Promise<unknown>,
  code: string,
): Promise<CartError> {
  const before = await storage.getCart(cartId);
  const error = await promise.then(
    () => {
      throw new Error(`expected ${code}, but the call succeeded`);
    },
    (e: unknown) => e,
  );
  expect(CartError.is(error)).toBe(true);
  expect((error as CartError).code).toBe(code);
  expect(await storage.getCart(cartId)).toEqual(before);
  return error as CartError;
}

describe('CartService: adding items', () => {
  it('adds a line with quantity 1 by default and bumps the version', async () => {
    const { service } = setup();
    const { cart, line } = await service.addItem('c1', { name: 'Product1' });
    expect(line).toMatchObject({ name: 'Product1', quantity: 1, reservation: null });
    expect(cart.version).toBe(1);
    expect(await service.listItems('c1')).toEqual([line]);
  });

  it('adds to the quantity of an existing name instead of duplicating the line', async () => {
    const { service } = setup();
    await service.addItem('c1', { name: 'Product1', quantity: 2 });
    const { cart } = await service.addItem('c1', { name: 'Product1', quantity: 3 });
    expect(cart.lines).toHaveLength(1);
    expect(cart.lines[0]?.quantity).toBe(5);
    expect(cart.version).toBe(2);
  });

  it('trims and NFC-normalises names so equivalent names share one line', async () => {
    const { service } = setup();
    await service.addItem('c1', { name: '  Caf\u00e9 ' });
    await service.addItem('c1', { name: 'Cafe\u0301' });
    const items = await service.listItems('c1');
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ name: 'Caf\u00e9', quantity: 2 });
  });

  it('keeps lines in the order they were added', async () => {
    const { service } = setup();
    for (const name of ['b', 'a', 'c']) await service.addItem('c1', { name });
    expect((await service.listItems('c1')).map((l) => l.name)).toEqual(['b', 'a', 'c']);
  });

  it('accepts a name of exactly the maximum length (counted in characters)', async () => {
    const { service } = setup({ limits: { maxNameLength: 5 } });
    await service.addItem('c1', { name: '😀😀😀😀😀' });
    expect(await service.listItems('c1')).toHaveLength(1);
  });

  it('keeps carts apart', async () => {
    const { service } = setup();
    await service.addItem('alice', { name: 'A' });
    await service.addItem('bob', { name: 'B' });
    expect((await service.listItems('alice')).map((l) => l.name)).toEqual(['A']);
    expect((await service.listItems('bob')).map((l) => l.name)).toEqual(['B']);
  });
});

describe('CartService: bad input is refused with a stable code and writes nothing', () => {
  const badNames: Array<[string, unknown]> = [
    ['empty', ''],
    ['blank', '   \t '],
    ['overlong', 'x'.repeat(201)],
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an object', { toString: () => 'x' }],
    ['an array', ['x']],
    ['control characters', 'a\u0000b'],
    ['a newline', 'a\nb'],
    ['a lone surrogate', 'a\ud800b'],
    ['a lone low surrogate', '\udfff'],
  ];
  for (const [label, name] of badNames) {
    it(`name: ${label} → INVALID_ITEM_NAME`, async () => {
      const { storage, service } = setup();
      await service.addItem('c1', { name: 'Existing' });
      const error = await rejectsUnchanged(
        storage,
        'c1',
        service.addItem('c1', { name: name as string }),
        ErrorCode.INVALID_ITEM_NAME,
      );
      expect(ValidationError.is(error)).toBe(true);
      expect(error.details).toMatchObject({ field: 'name' });
    });
  }

  const badQuantities: Array<[string, unknown, string]> = [
    ['zero', 0, ErrorCode.INVALID_QUANTITY],
    ['negative', -1, ErrorCode.INVALID_QUANTITY],
    ['fractional', 1.5, ErrorCode.INVALID_QUANTITY],
    ['NaN', Number.NaN, ErrorCode.INVALID_QUANTITY],
    ['Infinity', Number.POSITIVE_INFINITY, ErrorCode.INVALID_QUANTITY],
    ['a numeric string', '2', ErrorCode.INVALID_QUANTITY],
    ['null', null, ErrorCode.INVALID_QUANTITY],
    ['beyond safe integers', 2 ** 53, ErrorCode.INVALID_QUANTITY],
    ['over the maximum', 10_001, ErrorCode.QUANTITY_LIMIT_EXCEEDED],
    ['huge', 1e300, ErrorCode.INVALID_QUANTITY],
  ];
  for (const [label, quantity, code] of badQuantities) {
    it(`quantity: ${label} → ${code}`, async () => {
      const { storage, service } = setup();
      await service.addItem('c1', { name: 'Existing' });
      await rejectsUnchanged(
        storage,
        'c1',
        service.addItem('c1', { name: 'Product1', quantity: quantity as number }),
        code,
      );
      await rejectsUnchanged(
        storage,
        'c1',
        service.setQuantity('c1', 'Existing', quantity as number),
        code,
      );
    });
  }

  it('refuses an add that would push a line over the maximum quantity', async () => {
    const { storage, service } = setup({ limits: { maxQuantity: 10 } });
    await service.addItem('c1', { name: 'A', quantity: 8 });
    await rejectsUnchanged(
      storage,
      'c1',
      service.addItem('c1', { name: 'A', quantity: 3 }),
      ErrorCode.QUANTITY_LIMIT_EXCEEDED,
    );
  });

  it('refuses a new line beyond the maximum number of lines, but still adds to existing ones', async () => {
    const { storage, service } = setup({ limits: { maxLines: 2 } });
    await service.addItem('c1', { name: 'A' });
    await service.addItem('c1', { name: 'B' });
    await rejectsUnchanged(
      storage,
      'c1',
      service.addItem('c1', { name: 'C' }),
      ErrorCode.CART_LINE_LIMIT_EXCEEDED,
    );
    await service.addItem('c1', { name: 'A' });
  });

  it('refuses a missing or non-object item', async () => {
    const { storage, service } = setup();
    for (const input of [null, undefined, 'Product1', 3]) {
      await rejectsUnchanged(
        storage,
        'c1',
        service.addItem('c1', input as unknown as { name: string }),
        ErrorCode.INVALID_ITEM_NAME,
      );
    }
  });

  for (const [label, id] of [
    ['empty', ''],
    ['a number', 7],
    ['overlong', 'c'.repeat(257)],
    ['control characters', 'a\tb'],
    ['only spaces', '   '],
    ['only Unicode spaces and invisible characters', '\u00a0\u3000\u200b\ufeff'],
    ['a lone surrogate', 'cart-\ud800'],
  ] as Array<[string, unknown]>) {
    it(`cart id: ${label} → INVALID_CART_ID on every use case`, async () => {
      const { service } = setup();
      const cartId = id as string;
      const calls = [
        service.getCart(cartId),
        service.listItems(cartId),
        service.getItem(cartId, 'A'),
        service.addItem(cartId, { name: 'A' }),
        service.setQuantity(cartId, 'A', 2),
        service.removeItem(cartId, 'A'),
        service.clear(cartId),
        service.requestReservation(cartId, 'A'),
      ];
      for (const call of calls) {
        await expect(call).rejects.toMatchObject({
          code: ErrorCode.INVALID_CART_ID,
          kind: 'validation',
        });
      }
    });
  }

  it('refuses a malformed expected version with INVALID_VERSION', async () => {
    const { storage, service } = setup();
    await service.addItem('c1', { name: 'A' });
    for (const expectedVersion of [-1, 1.5, Number.NaN, '1', [], [1, -1], [1, '2']]) {
      await rejectsUnchanged(
        storage,
        'c1',
        service.addItem('c1', { name: 'B' }, { expectedVersion: expectedVersion as number }),
        ErrorCode.INVALID_VERSION,
      );
    }
  });

  it('accepts a list of expected versions: the write succeeds at any of them, and fails otherwise', async () => {
    const { storage, service } = setup();
    await service.addItem('c1', { name: 'A' });
    const { cart } = await service.addItem('c1', { name: 'B' }, { expectedVersion: [0, 1, 5] });
    expect(cart.version).toBe(2);
    const error = await rejectsUnchanged(
      storage,
      'c1',
      service.addItem('c1', { name: 'C' }, { expectedVersion: [1, 5] }),
      ErrorCode.VERSION_MISMATCH,
    );
    expect(error.message).toBe('Cart is at version 2, not one of the expected 1, 5.');
    expect(error.details).toMatchObject({ currentVersion: 2, expectedVersion: [1, 5] });
  });
});

describe('CartService: unknown carts and items', () => {
  it('reads a never-written cart as empty at version 0', async () => {
    const { service } = setup();
    const cart = await service.getCart('new');
    expect(cart).toMatchObject({ id: 'new', version: 0, lines: [] });
  });

  it('answers CART_NOT_FOUND for item operations on an unknown cart, writing nothing', async () => {
    const { storage, service } = setup();
    for (const call of [
      service.getItem('ghost', 'A'),
      service.setQuantity('ghost', 'A', 2),
      service.removeItem('ghost', 'A'),
      service.requestReservation('ghost', 'A'),
    ]) {
      const error = await rejectsUnchanged(storage, 'ghost', call, ErrorCode.CART_NOT_FOUND);
      expect(NotFoundError.is(error)).toBe(true);
    }
    expect(await storage.getCart('ghost')).toBeUndefined();
  });

  it('answers ITEM_NOT_FOUND for an unknown item, writing nothing', async () => {
    const { storage, service } = setup();
    await service.addItem('c1', { name: 'A' });
    for (const call of [
      service.getItem('c1', 'B'),
      service.setQuantity('c1', 'B', 2),
      service.removeItem('c1', 'B'),
      service.requestReservation('c1', 'B'),
    ]) {
      await rejectsUnchanged(storage, 'c1', call, ErrorCode.ITEM_NOT_FOUND);
    }
  });

  it('emptying an unknown cart writes nothing', async () => {
    const { storage, service } = setup();
    const cart = await service.clear('ghost');
    expect(cart.version).toBe(0);
    expect(await storage.getCart('ghost')).toBeUndefined();
  });
});

describe('CartService: changing and removing', () => {
  it('sets a quantity, bumping the version; setting the same quantity writes nothing', async () => {
    const { service } = setup();
    await service.addItem('c1', { name: 'A' });
    const changed = await service.setQuantity('c1', 'A', 7);
    expect(changed.line.quantity).toBe(7);
    expect(changed.cart.version).toBe(2);
    const same = await service.setQuantity('c1', 'A', 7);
    expect(same.cart.version).toBe(2);
  });

  it('removes one line and returns it', async () => {
    const { service } = setup();
    await service.addItem('c1', { name: 'A' });
    await service.addItem('c1', { name: 'B' });
    const { cart, line } = await service.removeItem('c1', ' A ');
    expect(line.name).toBe('A');
    expect(cart.lines.map((l) => l.name)).toEqual(['B']);
  });

  it('empties the cart', async () => {
    const { service } = setup();
    await service.addItem('c1', { name: 'A' });
    await service.addItem('c1', { name: 'B' });
    const cart = await service.clear('c1');
    expect(cart.lines).toEqual([]);
    expect(cart.version).toBe(3);
    expect((await service.clear('c1')).version).toBe(3);
  });

  it('honours an expected version and refuses a stale one with VERSION_MISMATCH', async () => {
    const { storage, service } = setup();
    await service.addItem('c1', { name: 'A' });
    await service.addItem('c1', { name: 'A' }, { expectedVersion: 1 });
    const error = await rejectsUnchanged(
      storage,
      'c1',
      service.addItem('c1', { name: 'A' }, { expectedVersion: 1 }),
      ErrorCode.VERSION_MISMATCH,
    );
    expect(ConflictError.is(error)).toBe(true);
    expect(error.details).toMatchObject({ currentVersion: 2, expectedVersion: 1 });
  });

  it('with expected version 0 creates a cart only if it does not exist', async () => {
    const { service } = setup();
    await service.addItem('c1', { name: 'A' }, { expectedVersion: 0 });
    await expect(
      service.addItem('c1', { name: 'A' }, { expectedVersion: 0 }),
    ).rejects.toMatchObject({
      code: ErrorCode.VERSION_MISMATCH,
    });
  });
});

describe('CartService: concurrency', () => {
  it('sums 300 concurrent adds on one cart exactly, in one process', async () => {
    const { service } = setup();
    await Promise.all(
      Array.from({ length: 300 }, () => service.addItem('c1', { name: 'A', quantity: 2 })),
    );
    const cart = await service.getCart('c1');
    expect(cart.lines[0]?.quantity).toBe(600);
    // Made in one tick: combined into saves of at most 64 (the default) — 64, 64, 64, 64, 44.
    expect(cart.version).toBe(5);
  });

  it('saves every write on its own with maxCombinedChanges 1', async () => {
    const { service } = setup({ maxCombinedChanges: 1 });
    await Promise.all(
      Array.from({ length: 30 }, () => service.addItem('c1', { name: 'A', quantity: 2 })),
    );
    const cart = await service.getCart('c1');
    expect(cart.lines[0]?.quantity).toBe(60);
    expect(cart.version).toBe(30);
  });

  it('gives up with CONCURRENT_MODIFICATION when every save keeps losing', async () => {
    const losing = new (class extends MemoryCartStorage {
      override async saveCart(): Promise<void> {
        throw new ConflictError(ErrorCode.VERSION_CONFLICT, 'lost');
      }
    })();
    const service = new CartService({
      storage: losing,
      scheduler: inertScheduler,
      maxSaveAttempts: 3,
    });
    await expect(service.addItem('c1', { name: 'A' })).rejects.toMatchObject({
      code: ErrorCode.CONCURRENT_MODIFICATION,
      details: { attempts: 3 },
    });
  });

  it('does not retry errors other than a lost compare-and-set', async () => {
    let saves = 0;
    const failing = new (class extends MemoryCartStorage {
      override async saveCart(): Promise<void> {
        saves++;
        throw new Error('disk on fire');
      }
    })();
    const service = new CartService({ storage: failing, scheduler: inertScheduler });
    await expect(service.addItem('c1', { name: 'A' })).rejects.toThrow('disk on fire');
    expect(saves).toBe(1);
  });
});

describe('CartService: options', () => {
  it('validates options up front, naming the option', () => {
    const storage = new MemoryCartStorage();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ storage: undefined }, 'storage'],
      [{ scheduler: {} }, 'scheduler'],
      [{ limits: { maxQuantity: 0 } }, 'limits.maxQuantity'],
      [{ limits: { maxNameLength: 1.5 } }, 'limits.maxNameLength'],
      [{ maxSaveAttempts: 0 }, 'maxSaveAttempts'],
      [{ reserveOnAdd: 'yes' }, 'reserveOnAdd'],
    ];
    for (const [override, option] of cases) {
      const build = () =>
        new CartService({
          storage,
          scheduler: inertScheduler,
          ...override,
        } as ConstructorParameters<typeof CartService>[0]);
      expect(build).toThrow(ConfigurationError);
      try {
        build();
      } catch (error) {
        expect((error as CartError).code).toBe(ErrorCode.INVALID_OPTION);
        expect((error as CartError).details).toMatchObject({ option });
      }
    }
  });
});

describe('CartService: one operation, one instant', () => {
  /** A clock that moves on by 1 ms every time it is read: any second read shows. */
  const steppingClock = () => {
    let t = Date.UTC(2026, 0, 1);
    return { now: () => t++, setTimer: () => ({ clear() {} }) };
  };

  it('a new line has addedAt = updatedAt = the cart updatedAt = its reservation requestedAt', async () => {
    const { service } = setup({ clock: steppingClock(), reserveOnAdd: true });
    const { cart, line } = await service.addItem('c1', { name: 'A' });
    expect(line.updatedAt).toBe(line.addedAt);
    expect(cart.updatedAt).toBe(line.addedAt);
    expect(cart.createdAt).toBe(line.addedAt);
    expect(line.reservation?.requestedAt).toBe(line.addedAt);
    expect(line.reservation?.updatedAt).toBe(line.addedAt);

    const second = await service.addItem('c1', { name: 'B' });
    expect(second.line.updatedAt).toBe(second.line.addedAt);
    expect(second.cart.updatedAt).toBe(second.line.addedAt);
  });

  it('adding to a line and setting its quantity stamp the line and the cart alike', async () => {
    const { service } = setup({ clock: steppingClock(), reserveOnAdd: true });
    const first = await service.addItem('c1', { name: 'A' });
    const added = await service.addItem('c1', { name: 'A', quantity: 2 });
    expect(added.line.updatedAt).toBe(added.cart.updatedAt);
    // The pending reservation is kept (its task settles the new quantity when it runs).
    expect(added.line.reservation).toEqual(first.line.reservation);
    const set = await service.setQuantity('c1', 'A', 5);
    expect(set.line.updatedAt).toBe(set.cart.updatedAt);
    expect(set.line.reservation).toEqual(first.line.reservation);
  });
});

describe('CartService: names that look the same are the same line', () => {
  it('zero-width and other format characters cannot split one name into two lines', async () => {
    const { service } = setup();
    await service.addItem('c1', { name: 'Apple' });
    for (const variant of [
      'Ap\u200bple', // zero-width space
      '\u200dApple\u200c', // zero-width joiner / non-joiner
      'App\u00adle', // soft hyphen
      'Apple\u2060', // word joiner
      '\ufeffApple', // byte order mark
      '\u202aApple\u202c', // bidi embedding
      'Apple\ufe0f', // variation selector
    ]) {
      const { line } = await service.addItem('c1', { name: variant });
      expect(line.name, JSON.stringify(variant)).toBe('Apple');
    }
    const cart = await service.getCart('c1');
    expect(cart.lines.map((l) => [l.name, l.quantity])).toEqual([['Apple', 8]]);
    expect((await service.getItem('c1', 'A\u200bpple')).line.name).toBe('Apple');
  });

  it('a no-break or other space separator is a plain space', async () => {
    const { service } = setup();
    await service.addItem('c1', { name: 'Apple Pie' });
    await service.addItem('c1', { name: 'Apple\u00a0Pie' });
    await service.addItem('c1', { name: 'Apple\u2009Pie' });
    expect((await service.getCart('c1')).lines.map((l) => [l.name, l.quantity])).toEqual([
      ['Apple Pie', 3],
    ]);
  });

  it('a name of nothing but invisible characters is refused, saying so', async () => {
    const { storage, service } = setup();
    const error = await rejectsUnchanged(
      storage,
      'c1',
      service.addItem('c1', { name: '\u200b\u200c\u200d\u2060\u00ad' }),
      ErrorCode.INVALID_ITEM_NAME,
    );
    expect(error.message).toBe('Item name must contain a visible character.');
  });
});
