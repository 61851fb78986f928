// Baseline: the runtime's ceiling. A bare node:http server serving GET /items and
// POST /items from an in-memory array. PORT from the environment.
import { createServer } from 'node:http';
import { createItems } from './baseline-items.mjs';

const items = createItems();
const server = createServer((req, res) => {
  const send = (status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  if (req.url === '/items' && req.method === 'GET') return send(200, items.list());
  if (req.url === '/items' && req.method === 'POST') {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(400, { error: 'invalid JSON' });
      }
      const added = items.add(body);
      if (added === undefined) send(400, { error: 'invalid body' });
      else send(201, added);
    });
    return;
  }
  send(404, { error: 'not found' });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
