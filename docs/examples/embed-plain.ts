// Embedding cartkit in your own express app, without a DI container.
import { createCart } from '@cartkit/core';
import { createCartRouter, problemErrorHandler, UnauthorizedError } from '@cartkit/express';
import { createHttpReserver } from '@cartkit/reserver-http';
import { createTimerScheduler } from '@cartkit/scheduler-timer';
import { createSqliteCartStorage } from '@cartkit/storage-sqlite';
import express from 'express';
import { pino } from 'pino';

export async function main(): Promise<void> {
  const logger = pino({ level: 'info' }); // your logger: any pino-compatible one

  const cart = await createCart({
    storage: await createSqliteCartStorage({ path: './data/cart.db' }), // ./data must exist
    reserver: createHttpReserver({
      url: 'https://inventory.internal/reservations',
      timeoutMs: 3_000,
    }),
    scheduler: (deps) => createTimerScheduler({ ...deps, concurrency: 4 }),
    logger,
    limits: { maxQuantity: 100 },
  });

  const app = express();
  app.use(
    '/cart',
    createCartRouter({
      service: cart.service,
      storage: cart.storage,
      logger,
      // Your own cart resolution: here, the user id your auth middleware put on the request.
      resolveCartId: (req) => {
        const userId = (req as { user?: { id: string } }).user?.id;
        if (userId === undefined) throw new UnauthorizedError();
        return `user:${userId}`;
      },
    }),
  );
  app.use(problemErrorHandler({ logger }));

  const server = app.listen(3000);
  process.once('SIGTERM', () => {
    server.close(() => void cart.close());
  });

  // Or call the service directly:
  await cart.service.addItem('user:42', { name: 'Product1', quantity: 2 });
}
