// Filling carts over HTTP, shared by the bench and its micro-benchmarks.
import { setTimeout as sleep } from 'node:timers/promises';

/** Adds items through HTTP: `count` names to cart `cartId`, 8 requests in flight. */
export async function fill(origin, cartId, count) {
  let next = 0;
  const one = async () => {
    for (let i = next++; i < count; i = next++) {
      const res = await fetch(`${origin}/items`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-cart-id': cartId },
        body: JSON.stringify({ name: `P${i}` }),
      });
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`fill ${cartId}: POST /items answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, one));
}

/** Waits until no line of the cart has a pending reservation (cartkit only). */
export async function settle(origin, cartId, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${origin}/items`, { headers: { 'x-cart-id': cartId } });
    const body = await res.json();
    const pending = body.items.filter((item) => item.reservation?.status === 'pending').length;
    if (pending === 0) return;
    if (Date.now() > deadline) throw new Error(`${cartId}: ${pending} reservations still pending`);
    await sleep(100);
  }
}
