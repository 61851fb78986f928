import { type CartStorage, CartTokens, ErrorCode } from '@cartkit/core';
import { cartCoreModule, startCart } from '@cartkit/core/inversify';
import { PostgresCartStorage } from '@cartkit/storage-postgres';
import { postgresStorageModule } from '@cartkit/storage-postgres/inversify';
import { Container } from 'inversify';
import { expect, it } from 'vitest';
import { describeEngines, requireEngines } from '../../../scripts/vitest/engines.js';
import { freshSchema, openStorage } from './support.js';

describeEngines('postgresStorageModule', () => {
  it('binds CartTokens.Storage for the core module, persists, and closes on unbind', async () => {
    const schema = freshSchema();
    const container = new Container();
    await container.load(
      postgresStorageModule({ url: requireEngines().pgUrl, schema }),
      cartCoreModule({ settings: { reserveOnAdd: false } }),
    );
    const service = await startCart(container);
    await service.addItem('alice', { name: 'Product1', quantity: 2 });
    const storage = await container.getAsync<CartStorage>(CartTokens.Storage);
    expect(storage).toBeInstanceOf(PostgresCartStorage);
    await container.unbindAllAsync();
    await expect(storage.getCart('alice')).rejects.toMatchObject({ code: ErrorCode.CLOSED });

    const reopened = await openStorage({ schema });
    expect((await reopened.getCart('alice'))?.lines[0]?.quantity).toBe(2);
    await reopened.close();
  });

  it('validates options when the module is created, and surfaces connection failures on resolve', async () => {
    expect(() => postgresStorageModule({ url: 'http://x' })).toThrow(/url/);
    const url = new URL(requireEngines().pgUrl);
    url.password = 'wrong';
    const container = new Container();
    await container.load(postgresStorageModule({ url: url.toString() }));
    await expect(container.getAsync(CartTokens.Storage)).rejects.toMatchObject({
      code: ErrorCode.STORAGE_UNAVAILABLE,
    });
  });
});
