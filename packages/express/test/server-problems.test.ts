import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { expectationListener, HttpProblem, problemRequestListener } from '../src/index.js';
import { recordingLogger } from './support/recording-logger.js';

// problemRequestListener and expectationListener on a real listening server: what the
// app leaves unanswered, and what Node would answer before it.

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(app: express.Express, logger = recordingLogger()) {
  const server = createServer(
    { requireHostHeader: false },
    problemRequestListener(app, { logger }),
  );
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, logger, server };
}

describe('problemRequestListener', () => {
  it('answers a request nothing handled with 404 ROUTE_NOT_FOUND problem+json (HEAD without a body)', async () => {
    const app = express();
    app.get('/known', (_req, res) => {
      res.json({ ok: true });
    });
    const { url } = await listen(app);
    expect(await (await fetch(`${url}/known`)).json()).toEqual({ ok: true });
    const res = await fetch(`${url}/unknown?x=1`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toEqual({
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      detail: 'No route matches GET /unknown.',
      code: 'ROUTE_NOT_FOUND',
    });
    const head = await fetch(`${url}/unknown`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect(await head.text()).toBe('');
  });

  it('answers an error no error middleware handled with its problem, and an unknown error with a logged 500', async () => {
    const app = express();
    app.get('/forbidden', () => {
      throw new HttpProblem(403, 'FORBIDDEN', 'Not yours.', { headers: { 'X-Why': 'test' } });
    });
    app.get('/boom', () => {
      throw new Error('secret driver text');
    });
    const { url, logger } = await listen(app);
    const forbidden = await fetch(`${url}/forbidden`);
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('x-why')).toBe('test');
    expect(await forbidden.json()).toMatchObject({ code: 'FORBIDDEN', detail: 'Not yours.' });
    const boom = await fetch(`${url}/boom`);
    expect(boom.status).toBe(500);
    const body = await boom.text();
    expect(JSON.parse(body)).toMatchObject({ code: 'INTERNAL_ERROR' });
    expect(body).not.toContain('secret');
    expect(logger.entries.some((e) => e.level === 'error')).toBe(true);
  });

  it('closes the connection when the app fails after its response began', async () => {
    const app = express();
    app.get('/half', (_req, res, next) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      next(new Error('late'));
    });
    const { url } = await listen(app);
    await expect(fetch(`${url}/half`).then((res) => res.text())).rejects.toThrow();
  });
});

describe('expectationListener', () => {
  it('answers an Expect other than 100-continue with 417 EXPECTATION_FAILED problem+json and keeps the connection', async () => {
    const app = express();
    app.get('/known', (_req, res) => {
      res.json({ ok: true });
    });
    const { url, server } = await listen(app);
    server.on('checkExpectation', expectationListener());
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.setEncoding('latin1');
    let received = '';
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(
      'POST /known HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: wait-for-it\r\n' +
        'Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}' +
        'GET /known HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    );
    await closed;
    const [first = '', second = ''] = received.split(/(?=HTTP\/1\.1 )/);
    const [head = '', body = ''] = first.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 417 Expectation Failed\r\n/);
    expect(head.toLowerCase()).toContain('content-type: application/problem+json');
    expect(JSON.parse(body)).toEqual({
      type: 'about:blank',
      title: 'Expectation Failed',
      status: 417,
      detail: 'The Expect header can only be "100-continue" here; send the request without it.',
      code: 'EXPECTATION_FAILED',
    });
    // The same connection serves the next request.
    expect(second).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(second).toContain('{"ok":true}');
  });
});
