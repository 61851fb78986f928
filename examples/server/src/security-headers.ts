import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * helmet's security headers, worked out once at startup instead of on every request.
 *
 * helmet runs a chain of 13 small middleware functions per request, each setting one
 * header to a value that depends only on the options (with options such as these,
 * where no directive is a function of the request). This runs that chain once
 * against a recorder and returns one function that sets the recorded headers on a
 * response (and removes the ones helmet removes) — the same headers, in the same order, as
 * `helmet(options)`. Options whose values depend on the request (a Content Security
 * Policy directive given as a function, e.g. a per-request nonce) are refused: use
 * `helmet(options)` itself for those.
 *
 * @throws Error when `options` make a header depend on the request.
 */
export function securityHeaderWriter(
  options: Readonly<HelmetOptions> = {},
): (res: ServerResponse) => void {
  const set: Array<readonly [string, string]> = [];
  const removed: string[] = [];
  let usedRequest = false;
  const request = new Proxy({} as IncomingMessage, {
    get: () => {
      usedRequest = true;
      return undefined;
    },
  });
  const recorder = {
    setHeader(name: string, value: unknown) {
      set.push([name, String(value)]);
      return recorder;
    },
    removeHeader(name: string) {
      removed.push(name);
    },
  };
  let finished = false;
  helmet(options)(request, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error !== undefined) throw error;
    finished = true;
  });
  if (!finished || usedRequest) {
    throw new Error('securityHeaders: these helmet options depend on the request; use helmet().');
  }
  return (res) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of set) res.setHeader(name, value);
  };
}

/**
 * {@link securityHeaderWriter} as a middleware of its own.
 *
 * @throws Error when `options` make a header depend on the request.
 */
export function securityHeaders(options: Readonly<HelmetOptions> = {}): RequestHandler {
  const write = securityHeaderWriter(options);
  return (_req, res, next) => {
    write(res);
    next();
  };
}
