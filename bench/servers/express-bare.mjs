// Baseline: the framework's ceiling. A bare express 5 app serving GET /items and
// POST /items (express.json) from an in-memory array, and POST /reserve {name} the way
// cartkit answers a line whose reservation is already pending (200 with the line's
// reservation, ETag, Location; 404 for a name not in the array). PORT from the environment.
// PROTOTYPES_IN_PLACE=1: the same app on a server made with @cartkit/express's
// expressServerClasses (as the example server runs), so express's per-request
// Object.setPrototypeOf changes nothing — the framework's ceiling with that fix too.
import { createServer } from 'node:http';
import { expressServerClasses } from '@cartkit/express';
import express from 'express';
import { createItems } from './baseline-items.mjs';

const items = createItems();
const app = express();
app.get('/items', (_req, res) => {
  res.json(items.list());
});
app.post('/items', express.json(), (req, res) => {
  const added = items.add(req.body);
  if (added === undefined) res.status(400).json({ error: 'invalid body' });
  else res.status(201).json(added);
});
app.post('/reserve', express.json(), (req, res) => {
  const cart = items.list();
  const name = req.body?.name;
  const item = cart.items.find((i) => i.name === name);
  if (item === undefined) {
    res.status(404).json({ code: 'ITEM_NOT_FOUND' });
    return;
  }
  res.set({
    ETag: `"${cart.version}"`,
    'Cache-Control': 'private, no-cache',
    Location: `/items/${encodeURIComponent(name)}`,
  });
  res.json({ name, reservation: item.reservation, version: cart.version });
});
const server = createServer(
  process.env.PROTOTYPES_IN_PLACE === '1' ? expressServerClasses(app) : {},
  app,
).listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
