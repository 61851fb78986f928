import type { Response } from 'express';
import { JSON_MEDIA_TYPE } from './media-types.js';

/** A response a route produced: recorded for idempotent replays, then sent. */
export interface HttpResult {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** JSON body; `undefined` for 204 / 304 answers. */
  readonly body?: unknown;
  /**
   * The JSON body already serialised as UTF-8 (e.g. from a cache), sent as is in
   * place of `body`. Only for answers that are never recorded for idempotent
   * replays (reads), which keep `body` instead.
   */
  readonly payload?: Buffer;
}

/**
 * Writes `result` as is: no framework-generated ETag, no charset parameter
 * (RFC 8259 defines none for JSON). HEAD requests get the headers only.
 */
export function sendResult(
  res: Response,
  result: HttpResult,
  mediaType: string = JSON_MEDIA_TYPE,
): void {
  res.status(result.status);
  for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value);
  const { body, payload: serialised } = result;
  if (
    (body === undefined && serialised === undefined) ||
    result.status === 204 ||
    result.status === 304
  ) {
    res.end();
    return;
  }
  const payload = serialised ?? Buffer.from(JSON.stringify(body), 'utf8');
  res.setHeader('Content-Type', mediaType);
  res.setHeader('Content-Length', String(payload.length));
  res.end(res.req.method === 'HEAD' ? undefined : payload);
}
