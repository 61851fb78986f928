import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server.js';
import { startTestServer } from './support/in-process-server.js';

// What never reaches a route — requests Node's HTTP parser refuses, and request targets
// express cannot route — answered by the real example server (in this process, on a
// loopback port) over raw sockets: problem+json with a stable code, never Node's bare
// status line or express's HTML page.

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(env: Record<string, string> = {}): Promise<RunningServer> {
  return startTestServer(cleanups, env);
}

/** A raw TCP connection: what it received, and all of it once the server closed it. */
async function rawConnection(url: string) {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  cleanups.push(() => void socket.destroy());
  socket.setEncoding('latin1');
  let received = '';
  const listeners: Array<() => void> = [];
  socket.on('data', (chunk: string) => {
    received += chunk;
    for (const listener of listeners.splice(0)) listener();
  });
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  await once(socket, 'connect');
  return {
    socket,
    closed,
    async receivedMatching(pattern: RegExp): Promise<string> {
      while (!pattern.test(received)) await new Promise<void>((r) => listeners.push(r));
      return received;
    },
  };
}

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Record<string, unknown>;
}

/** Parses one HTTP/1.1 response with a Content-Length body. */
function parse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  expect(end, raw).toBeGreaterThan(0);
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const text = raw.slice(end + 4);
  expect(Buffer.byteLength(text, 'latin1')).toBe(Number(headers['content-length']));
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(text) };
}

/** Sends `raw` on a fresh connection; the server's whole answer once it closed the connection. */
async function exchange(url: string, raw: string | Buffer): Promise<RawResponse> {
  const client = await rawConnection(url);
  client.socket.write(raw);
  return parse(await client.closed);
}

function expectProblem(res: RawResponse, status: number, code: string): void {
  expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
  expect(res.headers['content-type']).toBe('application/problem+json');
  expect(res.body).toMatchObject({ type: 'about:blank', status, code });
  expect(typeof res.body.detail).toBe('string');
}

describe('example server: requests the HTTP parser refuses (clientError)', () => {
  it('answers headers over 16 KiB with 431 REQUEST_HEADERS_TOO_LARGE problem+json, then keeps serving', async () => {
    const server = await start();
    const res = await exchange(
      server.url,
      `GET /items HTTP/1.1\r\nHost: test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expectProblem(res, 431, 'REQUEST_HEADERS_TOO_LARGE');
    expect(res.headers.connection).toBe('close');
    expect(res.body.title).toBe('Request Header Fields Too Large');
    // Many headers that add up to too much, too.
    const many = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'b'.repeat(50)}\r\n`).join('');
    expectProblem(
      await exchange(server.url, `GET /items HTTP/1.1\r\nHost: test\r\n${many}\r\n`),
      431,
      'REQUEST_HEADERS_TOO_LARGE',
    );
    expect((await fetch(`${server.url}/items`)).status).toBe(200);
  });

  it('answers a timed-out request with 408 REQUEST_TIMEOUT problem+json (headers and body)', async () => {
    const server = await start({ REQUEST_TIMEOUT_MS: '1500', HEADERS_TIMEOUT_MS: '1000' });
    const slowHeaders = await rawConnection(server.url);
    slowHeaders.socket.write('GET /items HTTP/1.1\r\nHost: test\r\nX-Slow: ');
    expectProblem(parse(await slowHeaders.closed), 408, 'REQUEST_TIMEOUT');
    const slowBody = await rawConnection(server.url);
    slowBody.socket.write(
      'POST /items HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n' +
        'Content-Length: 100\r\n\r\n{"name":',
    );
    expectProblem(parse(await slowBody.closed), 408, 'REQUEST_TIMEOUT');
    expect(await (await fetch(`${server.url}/items`)).json()).toEqual({ items: [], version: 0 });
  });

  it('answers an unknown but well-formed method with 501, and noise or malformed HTTP with 400', async () => {
    const server = await start();
    const cases: Array<[string | Buffer, number, string]> = [
      ['FOO /items HTTP/1.1\r\nHost: test\r\n\r\n', 501, 'METHOD_NOT_IMPLEMENTED'],
      ['G@T /items HTTP/1.1\r\nHost: test\r\n\r\n', 400, 'BAD_REQUEST'],
      // A TLS ClientHello sent to the plain-HTTP port.
      [
        Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]),
        400,
        'BAD_REQUEST',
      ],
      ['GET items HTTP/1.1\r\nHost: test\r\n\r\n', 400, 'INVALID_REQUEST_TARGET'],
      ['GET /items HTTP/9.9\r\nHost: test\r\n\r\n', 400, 'BAD_REQUEST'],
      ['GET /items HTTP/1.1\r\nHost: test\r\nBad Header: 1\r\n\r\n', 400, 'BAD_REQUEST'],
      ['GET /items HTTP/1.1\r\nHost: test\r\nX-A: a\u0001b\r\n\r\n', 400, 'BAD_REQUEST'],
      [
        'POST /items HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n' +
          'Content-Length: 13\r\nContent-Length: 14\r\n\r\n{"name":"A"}',
        400,
        'BAD_REQUEST',
      ],
      [
        'POST /items HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n' +
          'Transfer-Encoding: chunked\r\n\r\nzz\r\n{"name":"A"}\r\n0\r\n\r\n',
        400,
        'BAD_REQUEST',
      ],
    ];
    for (const [raw, status, code] of cases) {
      const res = await exchange(server.url, raw);
      expect({ raw: String(raw).slice(0, 30), status: res.status, code: res.body.code }).toEqual({
        raw: String(raw).slice(0, 30),
        status,
        code,
      });
      expectProblem(res, status, code);
      expect(res.headers.connection).toBe('close');
    }
    // Nothing of the refused POSTs was written.
    expect(await (await fetch(`${server.url}/items`)).json()).toEqual({ items: [], version: 0 });
  });

  it('never writes a problem into a response already under way (a bad request pipelined behind an event stream)', async () => {
    const server = await start();
    const client = await rawConnection(server.url);
    client.socket.write('GET /events HTTP/1.1\r\nHost: test\r\n\r\n');
    await client.receivedMatching(/event: ready\n/);
    client.socket.write('FOO / HTTP/1.1\r\nHost: test\r\n\r\n');
    const received = await client.closed;
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).not.toMatch(/HTTP\/1\.1 [45]\d\d/);
    expect(received).not.toContain('problem+json');
  });
});

describe('example server: what Node answers by itself, or not at all', () => {
  it('answers an HTTP/1.1 request without Host, or with two, with 400 BAD_REQUEST problem+json (RFC 9112)', async () => {
    const server = await start();
    const cases: Array<[string, string]> = [
      ['GET /items HTTP/1.1\r\n\r\n', 'An HTTP/1.1 request must have a Host header.'],
      [
        'POST /items HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"name":"A"}',
        'An HTTP/1.1 request must have a Host header.',
      ],
      ['GET /items HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n', 'Send one Host header, not 2.'],
    ];
    for (const [raw, detail] of cases) {
      const client = await rawConnection(server.url);
      client.socket.write(raw);
      const res = parse(await client.receivedMatching(/\r\n\r\n\{.*\}$/s));
      expectProblem(res, 400, 'BAD_REQUEST');
      expect(res.body.detail).toBe(detail);
    }
    // HTTP/1.0 needs no Host.
    const old = await rawConnection(server.url);
    old.socket.write('GET /items HTTP/1.0\r\n\r\n');
    expect(parse(await old.closed).body).toEqual({ items: [], version: 0 });
    expect(await (await fetch(`${server.url}/items`)).json()).toEqual({ items: [], version: 0 });
  });

  it('answers CONNECT (this is no proxy) with 501 METHOD_NOT_IMPLEMENTED problem+json instead of closing silently', async () => {
    const server = await start();
    const res = await exchange(
      server.url,
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    );
    expectProblem(res, 501, 'METHOD_NOT_IMPLEMENTED');
    expect(res.headers.connection).toBe('close');
  });
});

describe('example server: an Expect header it cannot meet', () => {
  it("answers 417 EXPECTATION_FAILED problem+json, not Node's bare 417 with an empty body", async () => {
    const server = await start();
    const res = await exchange(
      server.url,
      'POST /items HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nConnection: close\r\n' +
        'Content-Type: application/json\r\nContent-Length: 12\r\n\r\n{"name":"A"}',
    );
    expectProblem(res, 417, 'EXPECTATION_FAILED');
    // Nothing was written.
    expect(await (await fetch(`${server.url}/items`)).json()).toEqual({ items: [], version: 0 });
  });
});

describe('example server: request targets express cannot route', () => {
  it('answers 400 INVALID_REQUEST_TARGET problem+json, not express HTML 404', async () => {
    const server = await start();
    for (const target of ['http://[/events', 'http://[/items', 'http:']) {
      for (const method of ['GET', 'POST', 'DELETE']) {
        const client = await rawConnection(server.url);
        client.socket.write(
          `${method} ${target} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n` +
            'Content-Length: 12\r\nConnection: close\r\n\r\n{"name":"A"}',
        );
        const res = parse(await client.closed);
        expect({ method, target, status: res.status }).toEqual({ method, target, status: 400 });
        expectProblem(res, 400, 'INVALID_REQUEST_TARGET');
      }
    }
    const head = await rawConnection(server.url);
    head.socket.write('HEAD http://[/items HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
    const headAnswer = await head.closed;
    expect(headAnswer).toMatch(/^HTTP\/1\.1 400 /);
    expect(headAnswer).toMatch(/\r\nContent-Type: application\/problem\+json\r\n/i);
    expect(headAnswer.endsWith('\r\n\r\n')).toBe(true);
    expect(await (await fetch(`${server.url}/items`)).json()).toEqual({ items: [], version: 0 });
  });

  it('still routes absolute-form targets that parse, and answers unknown paths with 404 ROUTE_NOT_FOUND', async () => {
    const server = await start();
    const client = await rawConnection(server.url);
    client.socket.write(
      'GET http://test/items HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n',
    );
    const res = parse(await client.closed);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [], version: 0 });
    const unknown = await fetch(`${server.url}/nowhere`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'ROUTE_NOT_FOUND' });
  });
});
