/**
 * inversify composition for this adapter. Import from its `/inversify` subpath;
 * requires `inversify` ^8 (an optional peer dependency).
 * @packageDocumentation
 */
import { type CartStorage, CartTokens, type Logger } from '@cartkit/core';
import { ContainerModule } from 'inversify';
import { type PostgresCartStorageOptions, resolvePostgresOptions } from './options.js';
import { createPostgresCartStorage, type PostgresCartStorage } from './postgres-cart-storage.js';

/**
 * Binds `CartTokens.Storage` to a singleton {@link PostgresCartStorage}.
 *
 * The options are validated when the module is created (a `ConfigurationError`
 * names the bad option). The server is connected to (and the tables migrated) when
 * the storage is first resolved, so resolve with `container.getAsync` (as
 * `startCart` from `@cartkit/core/inversify` does); connection failures reject that
 * call with `STORAGE_UNAVAILABLE`. `logger` defaults to the container's
 * `CartTokens.Logger` when bound. The container's `CartTokens.Clock` is NOT used:
 * leases run on the database's clock. Unbinding the storage closes its pool.
 *
 * @example
 * ```ts
 * const container = new Container();
 * await container.load(postgresStorageModule({ url: process.env.DATABASE_URL! }), cartCoreModule());
 * const service = await startCart(container);
 * ```
 */
export function postgresStorageModule(options: PostgresCartStorageOptions): ContainerModule {
  resolvePostgresOptions(options);
  return new ContainerModule(({ bind }) => {
    bind<CartStorage>(CartTokens.Storage)
      .toResolvedValue(
        (logger: Logger | undefined) =>
          createPostgresCartStorage({
            ...options,
            ...(options.logger === undefined && logger !== undefined ? { logger } : {}),
          }),
        [{ serviceIdentifier: CartTokens.Logger, optional: true }],
      )
      .inSingletonScope()
      .onDeactivation((storage) => storage.close());
  });
}
