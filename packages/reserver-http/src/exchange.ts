import {
  type ClientRequest,
  type Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
} from 'node:http';
import { type Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { type Duplex, pipeline, type Transform } from 'node:stream';
import { createBrotliDecompress, createInflateRaw, createUnzip } from 'node:zlib';
import type { ResponseHeaders } from './options.js';

/** One HTTP call to make. */
export interface ExchangeRequest {
  readonly method: 'POST' | 'DELETE';
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal: AbortSignal;
}

/** What the service answered: status, headers and at most `maxBytes` of body. */
export interface ExchangeResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ResponseHeaders;
  /** The body, or `undefined` when it was longer than the limit (reading stopped there). */
  readonly body: Buffer | undefined;
}

/** How calls are made: the keep-alive agents, the deadline and the body size limit. */
export interface ExchangeTransport {
  readonly agents: { readonly http: HttpAgent; readonly https: HttpsAgent };
  /** Deadline of one call, from the request to the last body byte. */
  readonly timeoutMs: number;
  /** Largest body read (after decompression); a longer one is cut off. */
  readonly maxBytes: number;
}

/** The `Accept-Encoding` sent unless the caller's headers set one: what {@link exchange} decodes. */
export const ACCEPT_ENCODING = 'gzip, deflate, br';

/**
 * Sends one request with `node:http` / `node:https` (keep-alive agents, no redirects
 * followed, no retries) and reads the response body up to `transport.maxBytes`,
 * decompressing `gzip`, `deflate` and `br`: a longer body is cut off (the connection
 * is dropped) rather than buffered whole, whatever the server announces.
 *
 * Rejects with the underlying error for transport failures (the system error, e.g.
 * `ECONNREFUSED`, or `ECONNRESET` for a response cut short), with an error named
 * `TimeoutError` (code `ETIMEDOUT`) when the whole exchange outlasts
 * `transport.timeoutMs`, and with an `AbortError` when `request.signal` fires.
 */
export function exchange(
  transport: ExchangeTransport,
  request: ExchangeRequest,
): Promise<ExchangeResponse> {
  return new Promise<ExchangeResponse>((resolve, reject) => {
    const { url, body, signal } = request;
    const { maxBytes, timeoutMs } = transport;
    const https = url.protocol === 'https:';
    let settled = false;
    let response: IncomingMessage | undefined;
    let responseHeaders: ResponseHeaders = {};
    let decoder: Transform | undefined;
    const chunks: Buffer[] = [];
    let size = 0;

    const done = (result: ExchangeResponse | undefined, error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (result === undefined) {
        // Frees the connection (it is not reused) and ends a body we stopped reading.
        req.destroy();
        decoder?.destroy();
        reject(error);
      } else {
        if (result.body === undefined) {
          req.destroy();
          decoder?.destroy();
        }
        resolve(result);
      }
    };
    const fail = (error: Error): void => done(undefined, error);
    const answer = (bodyRead: Buffer | undefined): void => {
      const res = response as IncomingMessage;
      done({
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? '',
        headers: responseHeaders,
        body: bodyRead,
      });
    };
    const onChunk = (chunk: Buffer): void => {
      if (settled) return;
      size += chunk.length;
      if (size > maxBytes) answer(undefined);
      else chunks.push(chunk);
    };
    const onEnd = (): void => answer(Buffer.concat(chunks, size));
    function onAbort(): void {
      fail(abortError(signal.reason));
    }

    const headers =
      body === undefined
        ? request.headers
        : { ...request.headers, 'content-length': String(Buffer.byteLength(body)) };
    const req: ClientRequest = (https ? httpsRequest : httpRequest)(url, {
      method: request.method,
      headers,
      agent: https ? transport.agents.https : transport.agents.http,
    });
    const timer = setTimeout(() => fail(timeoutError(timeoutMs)), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', fail);
    // 101 Switching Protocols to a request that asked for no upgrade: Node hands the
    // socket over here (without a listener it drops it and the call waits out the
    // deadline). Answered as what it is, a status the reserver does not expect.
    req.on('upgrade', (res: IncomingMessage, socket: Duplex) => {
      socket.destroy();
      response = res;
      responseHeaders = res.headers;
      answer(undefined);
    });
    req.on('response', (res: IncomingMessage) => {
      response = res;
      responseHeaders = res.headers;
      // Also a connection closed before the last byte (ECONNRESET, "aborted").
      res.on('error', fail);
      const encoding = res.headers['content-encoding'];
      const announced = Number(res.headers['content-length']);
      // Announced as too long: skip the download altogether. (A compressed body is
      // checked after decompression, while reading.)
      if (encoding === undefined && Number.isFinite(announced) && announced > maxBytes) {
        answer(undefined);
        return;
      }
      const coding = encoding?.toLowerCase();
      if (coding !== 'gzip' && coding !== 'deflate' && coding !== 'br') {
        res.on('data', onChunk);
        res.on('end', onEnd);
        return;
      }
      // As got handed them on: the headers of the decoded body.
      const { 'content-encoding': _, 'content-length': __, ...decoded } = res.headers;
      responseHeaders = decoded;
      // The first bytes choose the decoder (raw or zlib deflate); the rest is piped with
      // backpressure: a body that decodes slowly, or to nothing (empty deflate blocks),
      // leaves the bytes in the socket instead of queueing them in front of the decoder.
      res.once('data', (first: Buffer) => {
        if (settled) return;
        res.pause();
        decoder = decoderFor(coding, first);
        decoder.on('data', onChunk);
        decoder.on('end', onEnd);
        // pipeline() lets go of its last stream when the body ends; a truncated body is
        // only found out later, when the decoder flushes.
        decoder.on('error', fail);
        decoder.write(first);
        pipeline(res, decoder, (error) => {
          if (error) fail(error);
        });
      });
      // An empty compressed body is an empty body.
      res.once('end', () => {
        if (decoder === undefined) onEnd();
      });
    });
    if (signal.aborted) onAbort();
    else req.end(body);
  });
}

/**
 * A decompressor for `coding`: `br`; `gzip` (the zlib format accepted too, as servers
 * mislabel it); `deflate` is meant to be the zlib format, but servers also send raw
 * deflate: raw unless the first two bytes are a zlib header (method 8, check bits).
 */
function decoderFor(coding: 'gzip' | 'deflate' | 'br', first: Buffer): Transform {
  if (coding === 'br') return createBrotliDecompress();
  if (coding === 'deflate' && !isZlibHeader(first)) return createInflateRaw();
  return createUnzip();
}

function isZlibHeader(bytes: Buffer): boolean {
  const [cmf, flg] = bytes;
  if (cmf === undefined) return false;
  // One byte so far: decide on the method nibble alone.
  if (flg === undefined) return (cmf & 0x0f) === 8;
  return (cmf & 0x0f) === 8 && ((cmf << 8) | flg) % 31 === 0;
}

function timeoutError(timeoutMs: number): Error {
  const error = new Error(`Timeout awaiting 'request' for ${timeoutMs}ms`);
  error.name = 'TimeoutError';
  return Object.assign(error, { code: 'ETIMEDOUT' });
}

function abortError(reason: unknown): Error {
  const error = new Error('The operation was aborted', { cause: reason });
  error.name = 'AbortError';
  return Object.assign(error, { code: 'ABORT_ERR' });
}
