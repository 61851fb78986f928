import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '@cartkit/core';
import { HttpErrorCode } from '../errors/http-error-codes.js';
import { describeError, type ProblemDocument } from '../errors/problem-details.js';
import { checkLogger } from '../option-checks.js';
import { PROBLEM_MEDIA_TYPE } from './media-types.js';

/** Options of {@link clientErrorListener}, {@link problemRequestListener}, {@link connectListener} and {@link expectationListener}. */
export interface ServerProblemOptions {
  /**
   * Where answered requests are noted (`debug`; 5xx at `error`). Default: silent.
   */
  readonly logger?: Logger;
}

/** What Node passes to a `clientError` listener: an error with llhttp's or Node's `code`. */
export type ClientError = Error & { readonly code?: string; readonly rawPacket?: unknown };

/** The express app, or any request listener that takes a final `next` callback. */
export type RequestListenerWithNext = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => unknown;

/** A request method as RFC 9110 allows it (a token), then a space. */
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32} /;

/**
 * The status, code and sentence for a request Node's HTTP parser refused (the
 * `code` of a `clientError`). Never the parser's own text.
 */
function describeClientError(error: ClientError): {
  status: number;
  code: string;
  detail: string;
} {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: HttpErrorCode.REQUEST_HEADERS_TOO_LARGE,
        detail: 'The request line and headers are larger than this server accepts.',
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        code: HttpErrorCode.REQUEST_TIMEOUT,
        detail: 'The request was not received in time.',
      };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return {
        status: 413,
        code: HttpErrorCode.PAYLOAD_TOO_LARGE,
        detail: 'The chunk extensions of the request body are too large.',
      };
    case 'HPE_INVALID_METHOD': {
      // A well-formed method this server does not know (RFC 9110 §9.1: 501), or noise.
      const raw = Buffer.isBuffer(error.rawPacket) ? error.rawPacket.toString('latin1') : '';
      return METHOD_TOKEN.test(raw)
        ? {
            status: 501,
            code: HttpErrorCode.METHOD_NOT_IMPLEMENTED,
            detail: 'The request method is not one this server implements.',
          }
        : { status: 400, code: HttpErrorCode.BAD_REQUEST, detail: 'The request is not HTTP/1.1.' };
    }
    case 'HPE_INVALID_URL':
      return {
        status: 400,
        code: HttpErrorCode.INVALID_REQUEST_TARGET,
        detail: 'The request target is not a valid URL path.',
      };
    case 'HPE_INVALID_VERSION':
      return {
        status: 400,
        code: HttpErrorCode.BAD_REQUEST,
        detail: 'The HTTP version is malformed or not supported (HTTP/1.1 and HTTP/1.0 are).',
      };
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return {
        status: 400,
        code: HttpErrorCode.BAD_REQUEST,
        detail: 'Content-Length or Transfer-Encoding is malformed, repeated or conflicting.',
      };
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'HPE_STRICT':
      return {
        status: 400,
        code: HttpErrorCode.BAD_REQUEST,
        detail: 'The chunked request body is malformed.',
      };
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_CR_EXPECTED':
    case 'HPE_LF_EXPECTED':
      return {
        status: 400,
        code: HttpErrorCode.BAD_REQUEST,
        detail:
          'A request or header line is malformed (a name or value has characters HTTP forbids).',
      };
    default:
      return {
        status: 400,
        code: HttpErrorCode.BAD_REQUEST,
        detail: 'The request is not valid HTTP/1.1.',
      };
  }
}

/** A problem document of ours (no extension members). */
function problem(status: number, code: string, detail: string): ProblemDocument {
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, code };
}

/** The response in flight on a socket, as Node's own `clientError` default consults it. */
function responseInFlight(socket: Duplex): { headersSent?: boolean } | undefined {
  return (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage ?? undefined;
}

/**
 * A listener for an `http.Server`'s `clientError` event that answers what Node's
 * HTTP parser refuses — before any request object exists, so before express or any
 * middleware — with an RFC 9457 problem document instead of Node's bare status line:
 *
 * | Node's error | answer |
 * | --- | --- |
 * | `HPE_HEADER_OVERFLOW` (headers over `maxHeaderSize`, 16 KiB by default) | 431 `REQUEST_HEADERS_TOO_LARGE` |
 * | `ERR_HTTP_REQUEST_TIMEOUT` (`headersTimeout` / `requestTimeout`) | 408 `REQUEST_TIMEOUT` |
 * | `HPE_CHUNK_EXTENSIONS_OVERFLOW` | 413 `PAYLOAD_TOO_LARGE` |
 * | `HPE_INVALID_METHOD`, a well-formed but unknown method (`FOO /`) | 501 `METHOD_NOT_IMPLEMENTED` |
 * | `HPE_INVALID_URL` | 400 `INVALID_REQUEST_TARGET` |
 * | any other parse error (bad header line, conflicting `Content-Length`, bad chunk, bad version, noise) | 400 `BAD_REQUEST` |
 *
 * Every answer has `Connection: close` and the connection is closed after it. As in
 * Node's default, nothing is written when the socket is no longer writable (e.g.
 * `ECONNRESET`) or when a response on it has already started (a parse error in a
 * pipelined request behind a response being streamed): the socket is destroyed.
 *
 * ```ts
 * const server = http.createServer({ requireHostHeader: false }, problemRequestListener(app));
 * server.on('clientError', clientErrorListener({ logger }));
 * server.on('connect', connectListener({ logger }));
 * ```
 */
export function clientErrorListener(
  options: ServerProblemOptions = {},
): (error: ClientError, socket: Duplex) => void {
  const logger = checkLogger(options.logger);
  const answered = new WeakSet<Duplex>();
  return (error, socket) => {
    if (
      answered.has(socket) ||
      error.code === 'ECONNRESET' ||
      !socket.writable ||
      responseInFlight(socket)?.headersSent === true
    ) {
      socket.destroy();
      return;
    }
    answered.add(socket);
    const { status, code, detail } = describeClientError(error);
    logger.debug({ status, code, cause: error.code }, 'HTTP request refused by the parser');
    writeProblemAndClose(socket, problem(status, code, detail));
  };
}

/** True when express can route `url`: a path, `*`, or an absolute URL that parses. */
function routable(url: string | undefined): boolean {
  if (url === undefined || url === '') return false;
  if (url.startsWith('/') || url === '*') return true;
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

/**
 * Wraps an express app (or any listener taking a final `next`) as the request
 * listener of an `http.Server`, so that whatever the app leaves unanswered gets a
 * problem document instead of express's HTML page (`finalhandler`):
 *
 * - a request target express cannot parse (`GET http://[/events`), for which the
 *   router skips every middleware and route: 400 `INVALID_REQUEST_TARGET`;
 * - a request no route or middleware answered: 404 `ROUTE_NOT_FOUND`;
 * - an error no error middleware handled: the problem {@link describeError} gives
 *   (500 `INTERNAL_ERROR` for unknown errors, logged at `error`).
 *
 * Before the app runs, it holds requests to RFC 9112's `Host` rule: more than one
 * `Host` line, or none in an HTTP/1.1 request, is 400 `BAD_REQUEST` (create the
 * server with `requireHostHeader: false`, or Node answers a missing `Host` itself
 * with a bare 400).
 *
 * When the response has already started, the connection is closed, as express does.
 * Pair it with {@link clientErrorListener}, which answers what never reaches the app,
 * {@link connectListener} and {@link expectationListener}.
 */
export function problemRequestListener(
  app: RequestListenerWithNext,
  options: ServerProblemOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const logger = checkLogger(options.logger);
  const unhandled = (req: IncomingMessage, res: ServerResponse, error: unknown) => {
    if (res.headersSent) {
      if (error !== undefined)
        logger.error({ err: error }, 'request failed after its response began');
      req.socket.destroy();
      return;
    }
    let document: ProblemDocument;
    let headers: Readonly<Record<string, string>> = {};
    if (error !== undefined) {
      const answer = describeError(error);
      document = answer.body;
      headers = answer.headers;
      if (answer.serverFault) {
        logger.error({ err: error, status: answer.status, code: document.code }, 'request failed');
      }
    } else if (!routable(req.url)) {
      document = problem(
        400,
        HttpErrorCode.INVALID_REQUEST_TARGET,
        'The request target is not a valid URL path.',
      );
    } else {
      const path = (req.url ?? '').split('?')[0]?.slice(0, 200) ?? '';
      document = problem(
        404,
        HttpErrorCode.ROUTE_NOT_FOUND,
        `No route matches ${req.method ?? ''} ${path}.`,
      );
    }
    if (document.status < 500) {
      logger.debug(
        { status: document.status, code: document.code, method: req.method },
        'request answered by the fallback',
      );
    }
    answer(req, res, document, headers);
  };
  return (req, res) => {
    const hostProblem = checkHost(req);
    if (hostProblem !== undefined) {
      answer(req, res, hostProblem);
      return;
    }
    app(req, res, (error) => unhandled(req, res, error));
  };
}

/**
 * RFC 9112 §3.2: a request with more than one `Host` line, or an HTTP/1.1 request
 * with none, gets 400. (Node would keep the first `Host` of several, and answers a
 * missing one itself with a bare 400 unless the server has `requireHostHeader: false`.)
 */
function checkHost(req: IncomingMessage): ProblemDocument | undefined {
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1) {
    return problem(400, HttpErrorCode.BAD_REQUEST, `Send one Host header, not ${hosts}.`);
  }
  if (hosts === 0 && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) {
    return problem(400, HttpErrorCode.BAD_REQUEST, 'An HTTP/1.1 request must have a Host header.');
  }
  return undefined;
}

/** Sends `document` as the problem+json answer to `req`, with `headers`. */
function answer(
  req: IncomingMessage,
  res: ServerResponse,
  document: ProblemDocument,
  headers: Readonly<Record<string, string>> = {},
): void {
  const body = Buffer.from(JSON.stringify(document), 'utf8');
  res.statusCode = document.status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', PROBLEM_MEDIA_TYPE);
  res.setHeader('Content-Length', String(body.length));
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * A listener for an `http.Server`'s `connect` event. Node hands `CONNECT` requests
 * (a proxy's tunnel) to it and, when no listener exists, closes their connection
 * without an answer. This server is no proxy: 501 `METHOD_NOT_IMPLEMENTED`
 * problem+json, then the connection is closed.
 *
 * ```ts
 * server.on('connect', connectListener({ logger }));
 * ```
 */
export function connectListener(
  options: ServerProblemOptions = {},
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const logger = checkLogger(options.logger);
  return (_req, socket) => {
    logger.debug({ status: 501, code: HttpErrorCode.METHOD_NOT_IMPLEMENTED }, 'CONNECT refused');
    writeProblemAndClose(
      socket,
      problem(
        501,
        HttpErrorCode.METHOD_NOT_IMPLEMENTED,
        'This server is not a proxy: it does not implement CONNECT.',
      ),
    );
  };
}

/**
 * A listener for an `http.Server`'s `checkExpectation` event. Node hands it HTTP/1.1
 * requests whose `Expect` header is not `100-continue` (RFC 9110 §10.1.1 defines no
 * other expectation) and, when no listener exists, answers them itself with a bare
 * 417 and an empty body. This one answers 417 `EXPECTATION_FAILED` problem+json; the
 * connection stays open for the next request, as with Node's answer.
 *
 * ```ts
 * server.on('checkExpectation', expectationListener({ logger }));
 * ```
 */
export function expectationListener(
  options: ServerProblemOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const logger = checkLogger(options.logger);
  return (req, res) => {
    logger.debug(
      { status: 417, code: HttpErrorCode.EXPECTATION_FAILED, method: req.method },
      'request with an unsupported Expect header refused',
    );
    answer(
      req,
      res,
      problem(
        417,
        HttpErrorCode.EXPECTATION_FAILED,
        'The Expect header can only be "100-continue" here; send the request without it.',
      ),
    );
  };
}

/** Writes `document` as a whole HTTP/1.1 response on a raw socket, then closes it. */
function writeProblemAndClose(socket: Duplex, document: ProblemDocument): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = Buffer.from(JSON.stringify(document), 'utf8');
  const head =
    `HTTP/1.1 ${document.status} ${STATUS_CODES[document.status] ?? 'Error'}\r\n` +
    `Content-Type: ${PROBLEM_MEDIA_TYPE}\r\n` +
    `Content-Length: ${body.length}\r\n` +
    'Cache-Control: no-store\r\n' +
    'X-Content-Type-Options: nosniff\r\n' +
    'Connection: close\r\n\r\n';
  // Our FIN goes out after the answer; then the socket is released.
  socket.once('finish', () => socket.destroy());
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}
