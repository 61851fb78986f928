import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';

const ACCEPTABLE = /^[\w.:-]{1,128}$/;

/**
 * Gives `req` its id: the caller's `X-Request-Id` when it is sane (1–128 of
 * `[A-Za-z0-9_.:-]`), a new UUID otherwise. Echoed in the response and stored on
 * `req.id` for the request log.
 */
export function assignRequestId(req: IncomingMessage, res: ServerResponse): string {
  // Read directly: a repeated header arrives joined with ", ", which is not acceptable.
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && ACCEPTABLE.test(given) ? given : randomUUID();
  (req as { id?: string }).id = id;
  res.setHeader('X-Request-Id', id);
  return id;
}

/** {@link assignRequestId} as a middleware of its own. */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    assignRequestId(req, res);
    next();
  };
}
