import type { Logger } from '@cartkit/core';
import type { ErrorRequestHandler } from 'express';
import { PROBLEM_MEDIA_TYPE } from '../http/media-types.js';
import { sendResult } from '../http/respond.js';
import { checkChallenge, checkLogger } from '../option-checks.js';
import { describeError } from './problem-details.js';

/** Options of {@link problemErrorHandler}. */
export interface ProblemErrorHandlerOptions {
  /** Where 5xx failures are logged (`error`) and 4xx rejections noted (`debug`). Default: silent. */
  readonly logger?: Logger;
  /** `WWW-Authenticate` challenge of 401 answers. Default `Bearer`. */
  readonly authChallenge?: string;
}

/**
 * The one error middleware of the cart API: renders every error as an RFC 9457
 * `application/problem+json` document with a stable `code` (see
 * {@link describeError} for the mapping). Unexpected errors become a generic
 * 500 `INTERNAL_ERROR`, logged with the error; no stack trace reaches a client.
 *
 * Mount it after your own cart routes when you compose them yourself:
 * `app.use('/cart', myRoutes, problemErrorHandler({ logger }))`.
 */
export function problemErrorHandler(options: ProblemErrorHandlerOptions = {}): ErrorRequestHandler {
  const logger = checkLogger(options.logger);
  if (options.authChallenge !== undefined) checkChallenge(options.authChallenge);
  const describeOptions =
    options.authChallenge === undefined ? {} : { authChallenge: options.authChallenge };
  return (error, req, res, next) => {
    const answer = describeError(error, describeOptions);
    const fields = {
      method: req.method,
      url: req.originalUrl,
      status: answer.status,
      code: answer.body.code,
    };
    if (answer.serverFault) logger.error({ ...fields, err: error }, 'cart API request failed');
    else logger.debug(fields, 'cart API request rejected');
    if (res.headersSent) {
      next(error);
      return;
    }
    sendResult(res, answer, PROBLEM_MEDIA_TYPE);
  };
}
