import { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';

/**
 * The `IncomingMessage` and `ServerResponse` options of `http.createServer`, from
 * {@link expressServerClasses}.
 */
export interface ExpressServerClasses {
  readonly IncomingMessage: typeof IncomingMessage;
  readonly ServerResponse: typeof ServerResponse;
}

/**
 * Request and response classes for `http.createServer`, made with the express app's
 * prototypes (`app.request`, `app.response`) already in place:
 *
 * ```ts
 * const app = express();
 * app.use(createCartRouter({ service }));
 * const server = createServer({ ...expressServerClasses(app) }, app);
 * ```
 *
 * Express's `app.handle` gives every request and response those prototypes with
 * `Object.setPrototypeOf`. Changing the prototype of an existing object is costly in
 * V8: measured on Node 20 with a bare express 5 app, it doubled express's CPU time per
 * request and made about a quarter of the memory allocated per request survive young
 * garbage collections (promoted, freed only by the next full collection), so each
 * scavenge pause — which holds up every request in flight — grew about tenfold. On an
 * object that already has the prototype, `setPrototypeOf` changes nothing.
 *
 * The classes extend Node's, with express's prototypes spliced in between
 * (`Request.prototype` → express's request, with `req.app`, `req.get`, ... →
 * `IncomingMessage.prototype`), and `app.request` / `app.response` become the classes'
 * prototypes, which inherit everything the old ones had. Call it once per app, for an
 * app that is the server's listener (or run by it, as `problemRequestListener`
 * does) — not for an app mounted in another express app, whose mounting re-parents
 * `app.request`.
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
