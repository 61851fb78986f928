import type { Express as App, Request, Response } from 'express';
import type { Logger } from 'pino';

/*
 * The example server's request log: one line per request, written with the app's pino
 * logger when the response is done. It replaces pino-http, which made a child logger
 * per request (serialising its bindings at once) and three listeners on the response,
 * whether or not anything used the child: ~12 % of the CPU of a `GET /items` on
 * in-memory storage (figures: docs/performance.md, "Per-request cost of the example
 * server"). The line and its levels are pino-http's as the example configured it.
 */

declare global {
  namespace Express {
    interface Request {
      /**
       * This request's logger: the app's logger with the request's `req` fields
       * (`id`, `method`, `url`) bound. Made on first use; requests that never use
       * it cost no child logger.
       */
      log: Logger;
    }
  }
}

const STARTED = Symbol('requestLog.started');
const LOGGED = Symbol('requestLog.logged');
const CHILD = Symbol('requestLog.child');

interface Timed {
  [STARTED]?: number;
  [LOGGED]?: boolean;
}

/** The `req` fields of a request's log line. */
function requestFields(req: Request): { id: string; method: string; url: string } {
  return {
    id: (req as { id?: string }).id ?? '',
    method: req.method,
    url: req.originalUrl ?? req.url,
  };
}

/**
 * Sets up the request log of `app` and returns what starts it for one request (call it
 * first thing in the app's first middleware, after the request id is assigned).
 *
 * When the response is done — sent (`request completed`), or its connection closed
 * before that (`request aborted`) — one line is logged with `req` (`id`, `method`,
 * `url`: the request id and the URL as received), `res` (`statusCode`) and
 * `responseTime` (ms). At `info`, also for 4xx (a client's mistake is routine, and a
 * flood of bad requests must not fill the logs with warnings); at `error` for 5xx
 * (`request errored`) and for a response that failed (`err`). Request headers are
 * never logged (they may carry credentials).
 *
 * `req.log` is defined on `app.request`: a child of `logger` with the request's `req`
 * fields, made the first time a handler uses it.
 */
export function requestLogging(app: App, logger: Logger): (req: Request, res: Response) => void {
  Object.defineProperty(app.request, 'log', {
    configurable: true,
    get(this: Request & { [CHILD]?: Logger }): Logger {
      this[CHILD] ??= logger.child({ req: requestFields(this) });
      return this[CHILD];
    },
    set(this: Request & { [CHILD]?: Logger }, value: Logger) {
      this[CHILD] = value;
    },
  });

  const write = (res: Response & Timed, error: unknown) => {
    if (res[LOGGED] === true) return;
    res[LOGGED] = true;
    const failed = error !== undefined || res.statusCode >= 500;
    if (!logger.isLevelEnabled(failed ? 'error' : 'info')) return;
    const req = requestFields(res.req);
    const status = { statusCode: res.statusCode };
    const responseTime = Date.now() - (res[STARTED] ?? Date.now());
    if (error !== undefined) {
      logger.error({ req, res: status, err: error, responseTime }, 'request errored');
    } else if (failed) {
      logger.error({ req, res: status, responseTime }, 'request errored');
    } else {
      logger.info(
        { req, res: status, responseTime },
        res.writableEnded ? 'request completed' : 'request aborted',
      );
    }
  };
  // Shared by every response (`this` is the response): nothing is allocated per request.
  // 'close' comes after 'finish' for a response that was sent, and alone for one whose
  // connection went first.
  function onClose(this: Response) {
    write(this, undefined);
  }
  function onError(this: Response, error: unknown) {
    write(this, error);
  }

  return (_req, res) => {
    (res as Timed)[STARTED] = Date.now();
    res.on('close', onClose);
    res.on('error', onError);
  };
}
