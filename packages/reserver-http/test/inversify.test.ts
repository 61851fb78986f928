import { CartTokens, type Logger, type Reserver } from '@cartkit/core';
import { cartCoreModule, startCart } from '@cartkit/core/inversify';
import { startFakeReservationService } from '@cartkit/testing';
import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { httpReserverModule } from '../src/inversify.js';

describe('httpReserverModule', () => {
  it('binds CartTokens.Reserver to one HTTP reserver, closed on unbind', async () => {
    const service = await startFakeReservationService();
    try {
      const container = new Container();
      container.load(httpReserverModule({ url: service.url }));
      const reserver = await container.getAsync<Reserver>(CartTokens.Reserver);
      expect(await container.getAsync<Reserver>(CartTokens.Reserver)).toBe(reserver);
      const { reservationId } = await reserver.reserve({
        name: 'Product1',
        quantity: 1,
        idempotencyKey: 'k1',
        cartId: 'c1',
      });
      expect(service.reservations().map((r) => r.reservationId)).toEqual([reservationId]);
      container.unbindAll();
      await expect(
        reserver.reserve({ name: 'Product1', quantity: 1, idempotencyKey: 'k2', cartId: 'c1' }),
      ).rejects.toMatchObject({ code: 'CLOSED' });
    } finally {
      await service.close();
    }
  });

  it("uses the container's logger when none is given", async () => {
    const service = await startFakeReservationService();
    try {
      const lines: string[] = [];
      const logger: Logger = {
        debug: (_fields, message) => lines.push(String(message)),
        info: () => {},
        warn: () => {},
        error: () => {},
      };
      const container = new Container();
      container.bind(CartTokens.Logger).toConstantValue(logger);
      container.load(httpReserverModule({ url: service.url }));
      const reserver = await container.getAsync<Reserver>(CartTokens.Reserver);
      await reserver.reserve({ name: 'a', quantity: 1, idempotencyKey: 'k', cartId: 'c' });
      expect(lines).toEqual(['reservation service answered']);
      await container.unbindAllAsync();
    } finally {
      await service.close();
    }
  });

  it('reserves in the background for a cart composed with cartCoreModule', async () => {
    const service = await startFakeReservationService();
    const container = new Container();
    try {
      container.load(httpReserverModule({ url: service.url }), cartCoreModule());
      const cart = await startCart(container);
      await cart.addItem('alice', { name: 'Product1', quantity: 2 });
      await cart.requestReservation('alice', 'Product1');
      const scheduler = await container.getAsync<{ whenIdle(): Promise<void> }>(
        CartTokens.Scheduler,
      );
      await scheduler.whenIdle();
      const reservation = await cart.getReservation('alice', 'Product1');
      expect(reservation?.status).toBe('reserved');
      expect(service.reservations()).toEqual([
        expect.objectContaining({
          reservationId: reservation?.reservationId,
          name: 'Product1',
          quantity: 2,
          idempotencyKey: reservation?.jobId,
        }),
      ]);
    } finally {
      const scheduler = await container.getAsync<{ stop(): Promise<void> }>(CartTokens.Scheduler);
      await scheduler.stop();
      await container.unbindAllAsync();
      await service.close();
    }
  });

  it('checks options when the module is created', () => {
    expect(() => httpReserverModule({ url: 'nope' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', details: { option: 'url' } }),
    );
  });
});
