/**
 * inversify composition for this adapter. Import from its `/inversify` subpath;
 * requires `inversify` ^8 (an optional peer dependency).
 * @packageDocumentation
 */
import { type CartStorage, CartTokens, type Clock, type Logger } from '@cartkit/core';
import { ContainerModule } from 'inversify';
import { resolveSqliteOptions, type SqliteCartStorageOptions } from './options.js';
import { createSqliteCartStorage, type SqliteCartStorage } from './sqlite-cart-storage.js';

/**
 * Binds `CartTokens.Storage` to a singleton {@link SqliteCartStorage}.
 *
 * The options are validated when the module is created (a `ConfigurationError`
 * names the bad option). The database is opened when the storage is first resolved,
 * so resolve with `container.getAsync` (as `startCart` from `@cartkit/core/inversify`
 * does); opening failures reject that call. `clock` and `logger` default to the
 * container's `CartTokens.Clock` and `CartTokens.Logger` when bound. Unbinding the
 * storage (`container.unbindAsync(CartTokens.Storage)` or `container.unbindAllAsync()`)
 * closes the database.
 *
 * @example
 * ```ts
 * const container = new Container();
 * await container.load(sqliteStorageModule({ path: './data/cart.db' }), cartCoreModule());
 * const service = await startCart(container);
 * ```
 */
export function sqliteStorageModule(options: SqliteCartStorageOptions): ContainerModule {
  resolveSqliteOptions(options);
  return new ContainerModule(({ bind }) => {
    bind<CartStorage>(CartTokens.Storage)
      .toResolvedValue(
        (clock: Clock | undefined, logger: Logger | undefined) =>
          createSqliteCartStorage({
            ...options,
            ...(options.clock === undefined && clock !== undefined ? { clock } : {}),
            ...(options.logger === undefined && logger !== undefined ? { logger } : {}),
          }),
        [
          { serviceIdentifier: CartTokens.Clock, optional: true },
          { serviceIdentifier: CartTokens.Logger, optional: true },
        ],
      )
      .inSingletonScope()
      .onDeactivation((storage) => storage.close());
  });
}
