import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';

const ACCEPTABLE = /^[\w.:-]{1,128}$/;

/**
 * Gives every request an id: the caller's `X-Request-Id` when it is sane
 * (1–128 of `[A-Za-z0-9_.:-]`), a new UUID otherwise. Echoed in the response and
 * stored on `req.id` for the request logger.
 */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    const id = given !== undefined && ACCEPTABLE.test(given) ? given : randomUUID();
    (req as { id?: string }).id = id;
    res.setHeader('X-Request-Id', id);
    next();
  };
}
