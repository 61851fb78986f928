// Composing cartkit with inversify: each adapter contributes a ContainerModule.
// Your app's entry point may import 'reflect-metadata' for its own decorated
// classes; cartkit itself needs no metadata.
import { CartTokens, type Logger, systemClock } from '@cartkit/core';
import { cartCoreModule, startCart } from '@cartkit/core/inversify';
import { httpReserverModule } from '@cartkit/reserver-http/inversify';
import { timerSchedulerModule } from '@cartkit/scheduler-timer/inversify';
import { sqliteStorageModule } from '@cartkit/storage-sqlite/inversify';
import { Container, ContainerModule } from 'inversify';

export async function compose(logger: Logger) {
  const container = new Container();
  await container.load(
    new ContainerModule(({ bind }) => {
      bind(CartTokens.Logger).toConstantValue(logger);
      bind(CartTokens.Clock).toConstantValue(systemClock);
    }),
    sqliteStorageModule({ path: './data/cart.db' }),
    httpReserverModule({ url: 'https://inventory.internal/reservations' }),
    timerSchedulerModule({ concurrency: 8 }),
    cartCoreModule({ settings: { reserveOnAdd: true } }), // last: binds defaults only for unbound ports
  );
  const service = await startCart(container); // resolves the service, starts the scheduler
  return { container, service };
}
