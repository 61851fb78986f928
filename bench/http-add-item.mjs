// What does the cartkit router cost over express itself? POST /items through
// @cartkit/express (validation, compare-and-set write, ETag, problem handling) versus
// a bare express JSON route that parses the same body and answers 201 — the
// baseline, same server, same client (fetch, 32 in flight, loopback) — in one run.
// Direct CartService.addItem calls are shown too. In-memory storage throughout.
//
//   pnpm build && node bench/http-add-item.mjs [--time <ms per task>]
import { parseArgs } from 'node:util';
import { createCart } from '@cartkit/core';
import { createCartRouter } from '@cartkit/express';
import { inertScheduler } from '@cartkit/testing';
import express from 'express';
import { Bench } from 'tinybench';

const { values } = parseArgs({ options: { time: { type: 'string', default: '3000' } } });
const IN_FLIGHT = 32;

const cart = await createCart({ scheduler: inertScheduler, reserveOnAdd: false });
const app = express();
app.post('/bare', express.json(), (req, res) => {
  res.status(201).json({ item: { name: req.body.name, quantity: 1 }, version: 1 });
});
app.use(createCartRouter({ service: cart.service, storage: cart.storage }));
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;
const body = JSON.stringify({ name: 'Product1' });

let n = 0;
const bench = new Bench({ time: Number(values.time), warmupTime: 500 });
bench
  .add('direct CartService.addItem', () =>
    Promise.all(
      Array.from({ length: IN_FLIGHT }, () =>
        cart.service.addItem(`d${n++ % 64}`, { name: 'Product1' }),
      ),
    ),
  )
  .add('HTTP POST /bare (baseline)', () => post('/bare'))
  .add('HTTP POST /items (cartkit)', () => post('/items'));

function post(path) {
  return Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      const res = await fetch(`${origin}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`status ${res.status}`);
    }),
  );
}
await bench.run();
const rate = (task) => (IN_FLIGHT * 1000) / (task.result?.latency?.mean ?? task.result?.mean);
const [, bare, routed] = bench.tasks;
console.table(bench.tasks.map((t) => ({ task: t.name, 'adds/s': Math.round(rate(t)) })));
console.log(`cartkit POST /items / bare express POST = ${(rate(routed) / rate(bare)).toFixed(2)}`);
server.close();
await cart.close();
