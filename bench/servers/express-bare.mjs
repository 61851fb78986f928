// Baseline: the framework's ceiling. A bare express 5 app serving GET /items and
// POST /items (express.json) from an in-memory array. PORT from the environment.
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
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
