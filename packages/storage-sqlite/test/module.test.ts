import { type CartStorage, CartTokens, type Clock, ErrorCode } from '@cartkit/core';
import { cartCoreModule, startCart } from '@cartkit/core/inversify';
import { FakeClock } from '@cartkit/testing';
import { Container } from 'inversify';
import { afterAll, describe, expect, it } from 'vitest';
import { createSqliteCartStorage, SqliteCartStorage } from '../src/index.js';
import { sqliteStorageModule } from '../src/inversify.js';
import { createTempDir } from './support/temp-dir.js';

describe('sqliteStorageModule', () => {
  const dir = createTempDir();
  afterAll(() => dir.remove());

  it('binds CartTokens.Storage for the core module, persists, and closes on unbind', async () => {
    const path = dir.file();
    const container = new Container();
    await container.load(
      sqliteStorageModule({ path }),
      cartCoreModule({ settings: { reserveOnAdd: false } }),
    );
    const service = await startCart(container);
    await service.addItem('alice', { name: 'Product1', quantity: 2 });

    const storage = await container.getAsync<CartStorage>(CartTokens.Storage);
    expect(storage).toBeInstanceOf(SqliteCartStorage);
    expect((storage as SqliteCartStorage).path).toBe(path);
    await container.unbindAllAsync();
    await expect(storage.getCart('alice')).rejects.toMatchObject({ code: ErrorCode.CLOSED });

    const reopened = await createSqliteCartStorage({ path });
    expect((await reopened.getCart('alice'))?.lines[0]?.quantity).toBe(2);
    await reopened.close();
  });

  it("uses the container's clock when the options give none", async () => {
    const clock = new FakeClock();
    const container = new Container();
    container.bind<Clock>(CartTokens.Clock).toConstantValue(clock);
    await container.load(sqliteStorageModule({ path: ':memory:' }));
    const storage = await container.getAsync<CartStorage>(CartTokens.Storage);
    const record = {
      key: 'k',
      fingerprint: 'f',
      status: 'in-progress' as const,
      response: null,
      leaseUntil: clock.now() + 10,
      expiresAt: clock.now() + 10,
    };
    const records = storage.idempotency;
    if (records === undefined) throw new Error('no idempotency store');
    await records.claim(record);
    expect(await records.get('k')).toEqual(record);
    clock.set(clock.now() + 10);
    expect(await records.get('k')).toBeUndefined();
    await container.unbindAllAsync();
  });

  it('surfaces an opening failure when the storage is resolved', async () => {
    const container = new Container();
    await container.load(sqliteStorageModule({ path: `${dir.path}/missing/cart.db` }));
    await expect(container.getAsync(CartTokens.Storage)).rejects.toMatchObject({
      code: ErrorCode.STORAGE_UNAVAILABLE,
    });
  });
});
