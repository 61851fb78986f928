import { Container, ContainerModule } from 'inversify';
import { describe, expect, it } from 'vitest';
import {
  CartService,
  CartTokens,
  createCart,
  MemoryCartStorage,
  MemoryReserver,
  type Scheduler,
  systemClock,
} from '../src/index.js';
import { cartCoreModule, startCart } from '../src/inversify/index.js';

describe('createCart', () => {
  it('composes a working cart from in-memory defaults', async () => {
    const cart = await createCart();
    await cart.service.addItem('c1', { name: 'Product1', quantity: 2 });
    await cart.scheduler.whenIdle();
    expect((await cart.service.getReservation('c1', 'Product1'))?.status).toBe('reserved');
    await cart.close();
    await cart.close();
    await expect(cart.storage.getCart('c1')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('passes settings through and validates them', async () => {
    const cart = await createCart({ limits: { maxQuantity: 3 } });
    await expect(cart.service.addItem('c1', { name: 'A', quantity: 4 })).rejects.toMatchObject({
      code: 'QUANTITY_LIMIT_EXCEEDED',
    });
    await cart.close();
    await expect(createCart({ limits: { maxLines: -1 } })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
  });

  it('supports await using', async () => {
    const storage = new MemoryCartStorage();
    {
      await using cart = await createCart({ storage });
      await cart.service.addItem('c1', { name: 'A' });
    }
    await expect(storage.getCart('c1')).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('inversify composition', () => {
  it('resolves a singleton CartService from core defaults without decorators or reflect-metadata', async () => {
    const container = new Container();
    await container.load(cartCoreModule());
    const service = await startCart(container);
    expect(service).toBeInstanceOf(CartService);
    expect(await container.getAsync(CartTokens.CartService)).toBe(service);
    await service.addItem('c1', { name: 'A' });
    const scheduler = await container.getAsync<Scheduler>(CartTokens.Scheduler);
    await scheduler.whenIdle();
    expect((await service.getReservation('c1', 'A'))?.status).toBe('reserved');
    await scheduler.stop();
  });

  it('lets adapter modules loaded first win over the defaults', async () => {
    const storage = new MemoryCartStorage();
    const reserver = new MemoryReserver();
    const adapters = new ContainerModule(({ bind }) => {
      bind(CartTokens.Storage).toConstantValue(storage);
      bind(CartTokens.Reserver).toConstantValue(reserver);
      bind(CartTokens.Clock).toConstantValue(systemClock);
    });
    const container = new Container();
    await container.load(adapters, cartCoreModule({ settings: { reserveOnAdd: true } }));
    const service = await startCart(container);
    await service.addItem('c1', { name: 'A' });
    const scheduler = await container.getAsync<Scheduler>(CartTokens.Scheduler);
    await scheduler.whenIdle();
    expect(await storage.getCart('c1')).toBeDefined();
    expect(reserver.distinctReservations).toBe(1);
    await scheduler.stop();
  });

  it('tokens are shared across package copies (Symbol.for)', () => {
    expect(CartTokens.CartService).toBe(Symbol.for('cartkit.CartService'));
  });
});
