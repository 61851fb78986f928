// A consumer of the packed @cartkit packages, installed into a fresh app outside the
// workspace by scripts/consumer-test.mjs; type-checked there with `tsc --strict`.
// SQLite storage, the HTTP reserver against @cartkit/testing's fake reservation
// service (real HTTP), the timer scheduler and the express router on a real server.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type CartRuntime, createCart, ErrorCode } from '@cartkit/core';
import { createCartRouter, problemErrorHandler } from '@cartkit/express';
import { createHttpReserver } from '@cartkit/reserver-http';
import { createTimerScheduler } from '@cartkit/scheduler-timer';
import { createSqliteCartStorage } from '@cartkit/storage-sqlite';
import { startFakeReservationService } from '@cartkit/testing';
import express from 'express';

interface Item {
  name: string;
  quantity: number;
  reservation: { status: string; id: string | null } | null;
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`consumer check failed: ${message}`);
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const reservations = await startFakeReservationService();
const cart: CartRuntime = await createCart({
  storage: await createSqliteCartStorage({ path: join(process.cwd(), 'cart.db') }),
  reserver: createHttpReserver({ url: reservations.url }),
  scheduler: (deps) => createTimerScheduler({ ...deps, concurrency: 2 }),
  reserveOnAdd: false, // reserve through POST /reserve below
});
const app = express();
app.use('/cart', createCartRouter({ service: cart.service, storage: cart.storage }));
app.use(problemErrorHandler());
const server = app.listen(0, '127.0.0.1');
await once(server, 'listening');
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cart`;

try {
  const added = await post(`${base}/items`, { name: 'Product1', quantity: 2 });
  check(added.status === 201, `POST /items answered ${added.status}: ${await added.text()}`);

  const reserve = await post(`${base}/reserve`, { name: 'Product1' });
  check(
    reserve.status === 202,
    `POST /reserve answered ${reserve.status}: ${await reserve.text()}`,
  );
  await cart.scheduler.whenIdle();

  const listed = await fetch(`${base}/items`);
  check(listed.status === 200, `GET /items answered ${listed.status}`);
  const { items } = (await listed.json()) as { items: Item[] };
  const [item] = items;
  check(
    items.length === 1 && item !== undefined,
    `expected one item, got ${JSON.stringify(items)}`,
  );
  check(item.name === 'Product1' && item.quantity === 2, `unexpected item ${JSON.stringify(item)}`);
  const held = reservations.reservations();
  check(held.length === 1, `the reservation service holds ${held.length} reservations`);
  check(
    item.reservation?.status === 'reserved' && item.reservation.id === held[0]?.reservationId,
    `item not reserved at the service: ${JSON.stringify(item.reservation)}`,
  );

  const missing = await post(`${base}/reserve`, { name: 'Nope' });
  const problem = (await missing.json()) as { code?: string };
  check(missing.status === 404, `reserving a missing item answered ${missing.status}`);
  check(problem.code === ErrorCode.ITEM_NOT_FOUND, `problem code ${problem.code}`);

  // Read back through the service too: the SQLite file holds the reserved line.
  const stored = await cart.service.getReservation('default', 'Product1');
  check(stored?.status === 'reserved', `stored reservation ${JSON.stringify(stored)}`);
  console.log(`consumer app ok: ${item.name} x${item.quantity} reserved as ${item.reservation.id}`);
} finally {
  server.closeAllConnections();
  server.close();
  await cart.close();
  await reservations.close();
}
