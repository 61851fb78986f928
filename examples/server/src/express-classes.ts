import { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';

/** `http.createServer` options whose requests and responses are the app's own kind. */
export interface ExpressServerClasses {
  readonly IncomingMessage: typeof IncomingMessage;
  readonly ServerResponse: typeof ServerResponse;
}

/**
 * Request and response classes for `http.createServer(options, app)` whose instances
 * are created with express's prototypes (`app.request`, `app.response`) already in
 * place.
 *
 * Express's `app.handle` gives every request and response those prototypes with
 * `Object.setPrototypeOf`. Changing the prototype of an existing object is costly in
 * V8: measured on Node 20 with a bare express 5 app, it doubled express's CPU time per
 * request and made about a quarter of all memory allocated per request survive young
 * garbage collections (promoted, collected only by the next full collection), so
 * every scavenge pause grew ~10x — a pause that holds up every request in flight. On
 * an object that already has the prototype, `setPrototypeOf` changes nothing, and
 * none of that happens. (`bench/micro/reserve-tail.mjs`, docs/performance.md.)
 *
 * The classes extend Node's own, with express's prototypes spliced in between:
 * `Request.prototype` → express's request (`req.app`, `req.get`, ...) →
 * `IncomingMessage.prototype`. `app.request` and `app.response` are replaced by the
 * classes' prototypes (which inherit everything they had), so express sets exactly
 * what the objects already have. Use it for a top-level app (one that is not mounted
 * in another express app, which would re-parent `app.request`).
 */
export function expressServerClasses(app: Express): ExpressServerClasses {
  class Request extends IncomingMessage {}
  Object.setPrototypeOf(Request.prototype, app.request);
  class Response<R extends IncomingMessage = IncomingMessage> extends ServerResponse<R> {}
  Object.setPrototypeOf(Response.prototype, app.response);
  // express's own typings name these its Request / Response; they are those objects'
  // descendants now.
  app.request = Request.prototype as unknown as Express['request'];
  app.response = Response.prototype as unknown as Express['response'];
  return { IncomingMessage: Request, ServerResponse: Response };
}
