import { once } from 'node:events';
import type { Got } from 'got';
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

/**
 * Sends one request through `got` in stream mode and reads the response body up to
 * `maxBytes`: a longer body is cut off (the connection is dropped) rather than
 * buffered whole, whatever the server announces. Rejects with got's error for
 * transport failures, timeouts and aborts.
 */
export async function exchange(
  client: Got,
  request: ExchangeRequest,
  maxBytes: number,
): Promise<ExchangeResponse> {
  const stream = client.stream(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  // got emits 'error' once; the listener keeps it from becoming an uncaught
  // exception in the gap before the body is iterated (the iterator rethrows it).
  stream.on('error', () => {});
  try {
    if (request.body === undefined) stream.end();
    const [response] = (await once(stream, 'response')) as [
      { statusCode: number; statusMessage?: string; headers: ResponseHeaders },
    ];
    const announced = Number(response.headers['content-length']);
    // Announced as too long: skip the download altogether. (A compressed body is
    // checked after decompression, while reading.)
    const encoded = response.headers['content-encoding'] !== undefined;
    const body =
      !encoded && Number.isFinite(announced) && announced > maxBytes
        ? undefined
        : await readAtMost(stream, maxBytes);
    return {
      status: response.statusCode,
      statusText: response.statusMessage ?? '',
      headers: response.headers,
      body,
    };
  } finally {
    // Frees the connection of a body we stopped reading; harmless after the end.
    if (!stream.readableEnded) stream.destroy();
  }
}

async function readAtMost(
  stream: AsyncIterable<Buffer | string>,
  maxBytes: number,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > maxBytes) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, size);
}
