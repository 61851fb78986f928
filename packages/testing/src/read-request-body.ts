import type { IncomingMessage } from 'node:http';

/** The outcome of {@link readRequestBody}. */
export type RequestBody =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: 'too-large' | 'aborted' };

/**
 * Reads a request body as UTF-8 text, keeping at most `maxBytes`. Stops reading
 * (without buffering the rest) as soon as the announced or received size passes
 * the limit. Never rejects: a client that goes away gives `aborted`.
 */
export function readRequestBody(request: IncomingMessage, maxBytes: number): Promise<RequestBody> {
  const announced = Number(request.headers['content-length']);
  if (Number.isFinite(announced) && announced > maxBytes) {
    return Promise.resolve({ ok: false, reason: 'too-large' });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (result: RequestBody) => {
      if (settled) return;
      settled = true;
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onAbort);
      request.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        request.pause();
        settle({ ok: false, reason: 'too-large' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => settle({ ok: true, text: Buffer.concat(chunks).toString('utf8') });
    const onAbort = () => settle({ ok: false, reason: 'aborted' });
    const onClose = () => {
      if (!request.complete) onAbort();
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onAbort);
    request.on('close', onClose);
  });
}
