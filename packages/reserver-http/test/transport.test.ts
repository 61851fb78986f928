// The HTTP transport under the reserver (Node's http client): decompression, the size
// limit after decoding, keep-alive reuse, bodies cut short or aborted mid-way.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpReserver, type HttpReserver, type HttpReserverOptions } from '../src/index.js';
import { failure } from './support/failure.js';
import {
  type Script,
  type ScriptedServer,
  startScriptedServer,
} from './support/scripted-server.js';
import { selfSignedCert, selfSignedKey } from './support/tls.js';

// A full collection on demand, so memory bounds count live buffers, not garbage.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function serve(script: Script): Promise<ScriptedServer> {
  const server = await startScriptedServer(script);
  cleanups.push(() => server.close());
  return server;
}

function reserverFor(
  server: ScriptedServer,
  options: Omit<HttpReserverOptions, 'url'> = {},
): HttpReserver {
  const reserver = createHttpReserver({ url: server.url, ...options });
  cleanups.push(() => reserver.close());
  return reserver;
}

const request = () => ({
  name: 'Product1',
  quantity: 2,
  idempotencyKey: randomUUID(),
  cartId: 'c1',
});

/** Answers 201 with `body` encoded by `encode` under `Content-Encoding: coding`. */
const compressed =
  (coding: string, encode: (data: Buffer) => Buffer, body: unknown): Script =>
  (_request, response) => {
    const payload = encode(Buffer.from(JSON.stringify(body)));
    response.writeHead(201, {
      'content-type': 'application/json',
      'content-encoding': coding,
      'content-length': String(payload.length),
    });
    response.end(payload);
  };

describe('compressed answers', () => {
  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    // Raw deflate labelled `deflate` (got decoded it only when its first byte happened to
    // look like no zlib header; this one does).
    ['deflate', deflateRawSync],
    ['br', brotliCompressSync],
    ['GZIP', gzipSync],
  ])('asks for them and reads a %s body', async (coding, encode) => {
    const server = await serve(compressed(coding, encode, { reservation_id: `r-${coding}` }));
    expect(await reserverFor(server).reserve(request())).toEqual({
      reservationId: `r-${coding}`,
    });
    expect(server.requests[0]?.headers['accept-encoding']).toBe('gzip, deflate, br');
  });

  it('hands mapResponse the headers of the decoded body', async () => {
    const server = await serve(compressed('gzip', gzipSync, { reservation_id: 'r' }));
    let seen: Record<string, unknown> = {};
    const reserver = reserverFor(server, {
      mapResponse: (body, _status, headers) => {
        seen = { ...headers };
        return (body as { reservation_id: string }).reservation_id;
      },
    });
    await reserver.reserve(request());
    expect(seen['content-type']).toBe('application/json');
    expect(seen).not.toHaveProperty('content-encoding');
    expect(seen).not.toHaveProperty('content-length');
  });

  it('applies maxResponseBytes to the decoded body, not to the bytes on the wire', async () => {
    const padding = 'x'.repeat(20_000); // compresses to far less than 1 KiB
    const server = await serve(compressed('gzip', gzipSync, { reservation_id: 'r', padding }));
    const error = await failure(
      reserverFor(server, { maxResponseBytes: 1_024 }).reserve(request()),
    );
    expect(error).toMatchObject({ code: 'RESERVATION_BAD_RESPONSE', transient: false });
    expect(error.message).toMatch(/larger than 1024 bytes/);
  });

  it('reads a compressed body no faster than it decodes (a body that never grows is not queued)', async () => {
    // Empty stored deflate blocks (5 bytes each, no output): the decoded body stays under
    // any limit however much arrives, so only backpressure keeps the wire bytes from
    // queueing in front of the decoder. The server sends 96 MiB of them, then the answer,
    // and every 8 MiB measures the buffers still alive after a full garbage collection.
    const emptyBlocks = Buffer.alloc(5 * 200_000);
    for (let at = 0; at < emptyBlocks.length; at += 5) emptyBlocks.writeUInt16LE(0xffff, at + 3);
    const answer = deflateRawSync(Buffer.from('{"reservation_id":"r-slow"}'));
    const liveBuffers = () => {
      collectGarbage();
      return process.memoryUsage().arrayBuffers;
    };
    const baseline = liveBuffers();
    let peak = 0;
    const server = await serve((_request, response) => {
      response.writeHead(201, {
        'content-type': 'application/json',
        'content-encoding': 'deflate',
      });
      let sent = 0;
      const pump = (): void => {
        if (response.destroyed) return;
        if (sent % (8 * 1024 * 1024) < emptyBlocks.length) {
          peak = Math.max(peak, liveBuffers() - baseline);
        }
        if (sent >= 96 * 1024 * 1024) {
          response.end(answer);
          return;
        }
        sent += emptyBlocks.length;
        if (response.write(emptyBlocks)) setImmediate(pump);
        else response.once('drain', pump);
      };
      pump();
    });
    const reserver = reserverFor(server, { timeoutMs: 120_000 });
    expect(await reserver.reserve(request())).toEqual({ reservationId: 'r-slow' });
    // Without backpressure the client read the 96 MiB ahead of the decoder: ~90 MB alive
    // (8-20 MB with it, on a loaded machine).
    expect(peak).toBeLessThan(48 * 1024 * 1024);
  });

  it('fails transiently on a body that does not decode', async () => {
    const server = await serve(compressed('gzip', () => Buffer.from('not gzip at all'), {}));
    const error = await failure(reserverFor(server).reserve(request()));
    expect(error).toMatchObject({ code: 'RESERVATION_UNAVAILABLE', transient: true });
  });

  it('fails transiently, without waiting for the deadline, on a compressed body cut short', async () => {
    // The response itself is complete (Content-Length matches): only the decoder, when
    // it flushes at the end, finds the gzip stream truncated.
    const truncated = gzipSync(Buffer.from('{"reservation_id":"r"}')).subarray(0, 15);
    const server = await serve(compressed('gzip', () => truncated, {}));
    const error = await failure(reserverFor(server, { timeoutMs: 60_000 }).reserve(request()));
    expect(error).toMatchObject({ code: 'RESERVATION_UNAVAILABLE', transient: true });
    expect(error.message).toMatch(/unexpected end of file/);
  });

  it('reuses the keep-alive connection after compressed answers', async () => {
    const ports: Array<number | undefined> = [];
    const server = await serve((request, response) => {
      ports.push(response.socket?.remotePort);
      compressed('gzip', gzipSync, { reservation_id: `r${ports.length}` })(request, response);
    });
    const reserver = reserverFor(server);
    expect(await reserver.reserve(request())).toEqual({ reservationId: 'r1' });
    expect(await reserver.reserve(request())).toEqual({ reservationId: 'r2' });
    expect(new Set(ports).size).toBe(1);
  });

  it('keeps an Accept-Encoding set in the options', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(201, { 'content-type': 'application/json' });
      response.end('{"reservation_id":"r"}');
    });
    await reserverFor(server, { headers: { 'accept-encoding': 'identity' } }).reserve(request());
    expect(server.requests[0]?.headers['accept-encoding']).toBe('identity');
  });
});

describe('connections', () => {
  it('reuses one keep-alive connection for consecutive calls', async () => {
    const ports: Array<number | undefined> = [];
    const server = await serve((_request, response) => {
      ports.push(response.socket?.remotePort);
      response.writeHead(201, { 'content-type': 'application/json' });
      response.end(`{"reservation_id":"r${ports.length}"}`);
    });
    const reserver = reserverFor(server);
    await reserver.reserve(request());
    await reserver.reserve(request());
    await reserver.release?.('r1');
    expect(ports).toHaveLength(3);
    expect(new Set(ports).size).toBe(1);
  });

  it('does not send a reserve again when a reused keep-alive connection is reset under it', async () => {
    const ports: Array<number | undefined> = [];
    const server = await serve((_request, response) => {
      ports.push(response.socket?.remotePort);
      if (ports.length === 1) {
        response.writeHead(201, { 'content-type': 'application/json' });
        response.end('{"reservation_id":"r1"}');
      } else {
        response.socket?.resetAndDestroy();
      }
    });
    const reserver = reserverFor(server);
    await reserver.reserve(request());
    const error = await failure(reserver.reserve(request()));
    // It may have reached the service: transient (the scheduler replays the same key),
    // and only the scheduler asks again.
    expect(error).toMatchObject({ code: 'RESERVATION_UNAVAILABLE', transient: true });
    expect(error.message).toMatch(/ECONNRESET/);
    expect(ports).toHaveLength(2);
    expect(ports[1]).toBe(ports[0]);
  });

  it('fails transiently when the connection closes in the middle of the body', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(201, { 'content-type': 'application/json', 'content-length': '100' });
      response.write('{"reservation_id": "r', () => response.socket?.destroy());
    });
    const error = await failure(reserverFor(server).reserve(request()));
    expect(error).toMatchObject({ code: 'RESERVATION_UNAVAILABLE', transient: true });
    expect(error.status).toBeUndefined();
  });

  it('fails a 101 Switching Protocols at once, as an unexpected status (not at the deadline)', async () => {
    const server = await serve((_request, response) => {
      response.socket?.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n',
      );
    });
    const error = await failure(reserverFor(server, { timeoutMs: 60_000 }).reserve(request()));
    expect(error).toMatchObject({
      code: 'RESERVATION_BAD_RESPONSE',
      transient: false,
      status: 101,
    });
    expect(error.message).toMatch(/101 Switching Protocols \(an unexpected status\)/);
  });

  it('aborts a call whose body is still arriving', async () => {
    let headersSent: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      headersSent = resolve;
    });
    const server = await serve((_request, response) => {
      response.writeHead(201, { 'content-type': 'application/json' });
      response.write('{"reservation_id": ', () => headersSent());
    });
    const controller = new AbortController();
    const pending = failure(
      reserverFor(server, { timeoutMs: 20_000 }).reserve(request(), {
        signal: controller.signal,
      }),
    );
    await started;
    controller.abort(new Error('attempt timed out'));
    const error = await pending;
    expect(error).toMatchObject({ code: 'RESERVATION_ABORTED', transient: true });
    expect(error.message).toMatch(/attempt timed out/);
  });
});

describe('https', () => {
  it('calls https URLs over TLS and verifies the certificate (a self-signed one is refused, transiently)', async () => {
    let requests = 0;
    const server = createHttpsServer({ key: selfSignedKey, cert: selfSignedCert }, (_req, res) => {
      requests += 1;
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end('{"reservation_id":"r"}');
    });
    server.on('tlsClientError', () => {});
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const { port } = server.address() as AddressInfo;
    const reserver = createHttpReserver({ url: `https://127.0.0.1:${port}/reservations` });
    cleanups.push(() => reserver.close());
    const error = await failure(reserver.reserve(request()));
    expect(error).toMatchObject({ code: 'RESERVATION_UNAVAILABLE', transient: true });
    expect((error.cause as { code?: string }).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(requests).toBe(0);
  });
});
