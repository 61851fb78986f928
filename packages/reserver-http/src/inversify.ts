/**
 * inversify composition for `@cartkit/reserver-http`. Import from
 * `@cartkit/reserver-http/inversify`; needs `inversify` ^8 (an optional peer
 * dependency, so the plain factory works without it). No decorators, no
 * `reflect-metadata`.
 * @packageDocumentation
 */
import { CartTokens, type Clock, type Logger } from '@cartkit/core';
import { ContainerModule } from 'inversify';
import { createHttpReserver, type HttpReserver } from './http-reserver.js';
import { type HttpReserverOptions, resolveHttpReserverOptions } from './options.js';

/**
 * A `ContainerModule` binding `CartTokens.Reserver` to one {@link HttpReserver}
 * (a singleton, closed when the binding is deactivated, e.g. on `unbindAll`).
 * Options are checked now, when the module is created. Without `logger` / `clock`
 * options, the container's `CartTokens.Logger` / `CartTokens.Clock` are used when
 * bound.
 *
 * @example
 * ```ts
 * const container = new Container();
 * container.load(httpReserverModule({ url: process.env.RESERVATION_URL }), cartCoreModule());
 * ```
 */
export function httpReserverModule(options: HttpReserverOptions): ContainerModule {
  resolveHttpReserverOptions(options);
  return new ContainerModule(({ bind }) => {
    bind<HttpReserver>(CartTokens.Reserver)
      .toResolvedValue(
        (logger: Logger | undefined, clock: Clock | undefined): HttpReserver =>
          createHttpReserver({
            ...options,
            ...(options.logger === undefined && logger !== undefined ? { logger } : {}),
            ...(options.clock === undefined && clock !== undefined ? { clock } : {}),
          }),
        [
          { serviceIdentifier: CartTokens.Logger, optional: true },
          { serviceIdentifier: CartTokens.Clock, optional: true },
        ],
      )
      .inSingletonScope()
      .onDeactivation((reserver) => {
        // close() does its work synchronously; not returning its promise keeps the
        // deactivation synchronous, so plain `unbindAll()` works as well as the async one.
        void reserver.close();
      });
  });
}
