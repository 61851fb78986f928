import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  ErrorCode,
  ReservationError,
  type ReservationRequest,
  type ReservationResult,
  type Reserver,
  type ReserverCallOptions,
} from '@cartkit/core';
import { classifyStatus, failureError, reservationOutcome } from './classify-response.js';
import {
  ACCEPT_ENCODING,
  type ExchangeRequest,
  type ExchangeResponse,
  type ExchangeTransport,
  exchange,
} from './exchange.js';
import {
  type HttpReserverOptions,
  type ResolvedHttpReserverOptions,
  resolveHttpReserverOptions,
} from './options.js';
import { abortedError, closedError, transportError } from './transport-error.js';

/** A {@link Reserver} backed by an HTTP reservation service. */
export interface HttpReserver extends Reserver {
  /**
   * Reserves at the service: `POST <url>` with the mapped JSON body and the
   * idempotency header set to `request.idempotencyKey`.
   * @throws ReservationError — see the package README for the classification.
   */
  reserve(request: ReservationRequest, options?: ReserverCallOptions): Promise<ReservationResult>;
  /**
   * Aborts calls in flight (they fail with a transient `CLOSED` error) and frees the
   * connection pool. Later calls fail the same way. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Creates a {@link Reserver} that calls an external reservation service over HTTP
 * (cartkit's default protocol, adaptable with `mapRequest` / `mapResponse` /
 * `releaseUrl`). Options are checked now: a bad one throws a `ConfigurationError`
 * naming it.
 *
 * Calls go out through Node's own `http` / `https` clients on keep-alive agents, each
 * once: the scheduler retries transient failures, honouring `retryAfterMs`, with the
 * same idempotency key. Redirects are not followed.
 *
 * @example
 * ```ts
 * const reserver = createHttpReserver({
 *   url: 'https://inventory.example.com/reservations',
 *   headers: { authorization: `Bearer ${process.env.INVENTORY_TOKEN}` },
 * });
 * const cart = await createCart({ reserver });
 * ```
 */
export function createHttpReserver(options: HttpReserverOptions): HttpReserver {
  const client = new HttpReservationClient(resolveHttpReserverOptions(options));
  return Object.freeze({
    reserve: (request: ReservationRequest, callOptions?: ReserverCallOptions) =>
      client.reserve(request, callOptions),
    ...(client.options.release
      ? {
          release: (reservationId: string, callOptions?: ReserverCallOptions) =>
            client.release(reservationId, callOptions),
        }
      : {}),
    close: () => client.close(),
  });
}

class HttpReservationClient {
  readonly options: ResolvedHttpReserverOptions;
  readonly #transport: ExchangeTransport;
  readonly #agents: { readonly http: HttpAgent; readonly https: HttpsAgent };
  /** Headers of every call: `Accept-Encoding` (unless set in the options) and the options' headers. */
  readonly #headers: Readonly<Record<string, string>>;
  readonly #closing = new AbortController();
  /**
   * Aborts of the calls in flight, called by `close()`: a set rather than one
   * listener per call on the closing signal (with more than 10 calls in flight,
   * Node warned of a listener leak on it).
   */
  readonly #inFlight = new Set<() => void>();

  constructor(options: ResolvedHttpReserverOptions) {
    this.options = options;
    this.#agents = {
      http: new HttpAgent({ keepAlive: true }),
      https: new HttpsAgent({ keepAlive: true }),
    };
    this.#transport = {
      agents: this.#agents,
      timeoutMs: options.timeoutMs,
      maxBytes: options.maxResponseBytes,
    };
    this.#headers = { 'accept-encoding': ACCEPT_ENCODING, ...options.headers };
  }

  async reserve(
    request: ReservationRequest,
    callOptions: ReserverCallOptions = {},
  ): Promise<ReservationResult> {
    const action = `Reservation of ${JSON.stringify(request.name)}`;
    this.#ensureUsable(action, callOptions.signal);
    const body = this.#encodeRequest(request, action);
    const { options } = this;
    const response = await this.#call(
      {
        method: 'POST',
        url: options.url,
        headers: {
          ...this.#headers,
          'content-type': 'application/json',
          accept: 'application/json',
          [options.idempotencyHeader.toLowerCase()]: request.idempotencyKey,
        },
        body,
      },
      action,
      callOptions.signal,
      request.idempotencyKey,
    );
    const outcome = reservationOutcome(
      response,
      { action, now: options.clock.now(), maxResponseBytes: options.maxResponseBytes },
      options.mapResponse,
    );
    if (!outcome.ok) throw outcome.error;
    return { reservationId: outcome.reservationId };
  }

  async release(reservationId: string, callOptions: ReserverCallOptions = {}): Promise<void> {
    const action = `Release of reservation ${JSON.stringify(reservationId)}`;
    this.#ensureUsable(action, callOptions.signal);
    const url = this.#releaseUrl(reservationId, action);
    const response = await this.#call(
      { method: 'DELETE', url, headers: { ...this.#headers, accept: 'application/json' } },
      action,
      callOptions.signal,
    );
    const { status } = response;
    // Gone already (404, 410) is what a release wants.
    if (classifyStatus(status) === 'success' || status === 404 || status === 410) return;
    throw failureError(response, {
      action,
      now: this.options.clock.now(),
      maxResponseBytes: this.options.maxResponseBytes,
    });
  }

  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    for (const abort of this.#inFlight) abort();
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  async #call(
    request: Omit<ExchangeRequest, 'signal'>,
    action: string,
    signal: AbortSignal | undefined,
    idempotencyKey?: string,
  ): Promise<ExchangeResponse> {
    const { logger, timeoutMs } = this.options;
    const controller = new AbortController();
    const abort = () => controller.abort();
    signal?.addEventListener('abort', abort, { once: true });
    this.#inFlight.add(abort);
    const started = performance.now();
    const fields = {
      method: request.method,
      url: `${request.url.origin}${request.url.pathname}`,
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    };
    try {
      const response = await exchange(this.#transport, { ...request, signal: controller.signal });
      logger.debug(
        { ...fields, status: response.status, durationMs: elapsed(started) },
        'reservation service answered',
      );
      return response;
    } catch (error) {
      let failure: ReservationError;
      if (signal?.aborted === true) failure = abortedError(action, signal.reason, error);
      else if (this.#closing.signal.aborted) failure = closedError(action, error);
      else failure = transportError(error, action, timeoutMs);
      logger.debug(
        { ...fields, code: failure.code, error: failure.message, durationMs: elapsed(started) },
        'reservation service call failed',
      );
      throw failure;
    } finally {
      signal?.removeEventListener('abort', abort);
      this.#inFlight.delete(abort);
    }
  }

  #ensureUsable(action: string, signal: AbortSignal | undefined): void {
    if (this.#closing.signal.aborted) throw closedError(action);
    if (signal?.aborted === true) throw abortedError(action, signal.reason);
  }

  #encodeRequest(request: ReservationRequest, action: string): string {
    let body: string | undefined;
    try {
      body = JSON.stringify(this.options.mapRequest(request));
    } catch (error) {
      throw misconfigured(action, 'mapRequest', 'threw', error);
    }
    if (body === undefined) {
      throw misconfigured(action, 'mapRequest', 'returned no JSON value');
    }
    return body;
  }

  #releaseUrl(reservationId: string, action: string): URL {
    let url: URL;
    try {
      url = new URL(this.options.releaseUrl(reservationId));
    } catch (error) {
      throw misconfigured(action, 'releaseUrl', 'did not give a valid URL', error);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw misconfigured(action, 'releaseUrl', `gave a ${url.protocol} URL`);
    }
    return url;
  }
}

/**
 * A mapping hook failed: a configuration problem surfacing at call time. Permanent,
 * since asking again runs the same hook on the same input.
 */
function misconfigured(
  action: string,
  option: string,
  problem: string,
  cause?: unknown,
): ReservationError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new ReservationError(
    ErrorCode.INVALID_OPTION,
    `${action} failed: option "${option}" ${problem}${detail}.`,
    { transient: false, details: { option }, ...(cause === undefined ? {} : { cause }) },
  );
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
