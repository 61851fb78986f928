import { validateHeaderName, validateHeaderValue } from 'node:http';
import {
  type Clock,
  ConfigurationError,
  type Logger,
  type ReservationRequest,
  silentLogger,
  systemClock,
} from '@cartkit/core';

/** Response headers as handed to {@link HttpReserverOptions.mapResponse} (lower-case names). */
export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Options of {@link createHttpReserver}. */
export interface HttpReserverOptions {
  /**
   * The reservation endpoint: reservations are `POST`ed here. `http:` or `https:`.
   * Required.
   */
  readonly url: string | URL;
  /**
   * Headers sent with every call, e.g. `{ authorization: 'Bearer …' }`. The per-call
   * `Content-Type` and idempotency header win over same-named entries. Never logged.
   * Default: none (besides a `User-Agent`).
   */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Deadline of one HTTP call, connection to last body byte, in milliseconds.
   * Keep it below the scheduler's attempt timeout. Default 5000.
   */
  readonly timeoutMs?: number;
  /**
   * Largest response body read; a longer one is cut off at this size and treated as a
   * bad response (on 2xx) or ignored (on error statuses). Default 65536 (64 KiB).
   */
  readonly maxResponseBytes?: number;
  /** Name of the idempotency header. Default `Idempotency-Key`. */
  readonly idempotencyHeader?: string;
  /**
   * Builds the JSON body of a reservation call. Default:
   * `{ name: request.name, quantity: request.quantity }`.
   */
  readonly mapRequest?: (request: ReservationRequest) => unknown;
  /**
   * Extracts the reservation id from a 2xx answer. `body` is the parsed JSON
   * (`undefined` for an empty body). Return `undefined` (or throw) when the answer
   * holds no usable id: the call then fails with `RESERVATION_BAD_RESPONSE`.
   * Default: `body.reservation_id`, else `body.id` (a string or an integer).
   */
  readonly mapResponse?: (
    body: unknown,
    status: number,
    headers: ResponseHeaders,
  ) => string | undefined;
  /**
   * The URL a reservation is released at with `DELETE`. Default: `<url>/<id>`, the id
   * URL-encoded (a query string on `url` is kept).
   */
  readonly releaseUrl?: (reservationId: string) => string | URL;
  /**
   * Whether the reserver implements `release`. Set `false` for a service without a
   * release endpoint: changed or removed lines then simply drop their reservation.
   * Default `true`.
   */
  readonly release?: boolean;
  /** Receives a `debug` line per call (method, URL without credentials, status, duration). */
  readonly logger?: Logger;
  /** Clock used to turn an HTTP-date `Retry-After` into a delay. Default: the system clock. */
  readonly clock?: Clock;
}

/** {@link HttpReserverOptions} checked and completed with defaults. */
export interface ResolvedHttpReserverOptions {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly idempotencyHeader: string;
  readonly mapRequest: (request: ReservationRequest) => unknown;
  readonly mapResponse: (
    body: unknown,
    status: number,
    headers: ResponseHeaders,
  ) => string | undefined;
  readonly releaseUrl: (reservationId: string) => string | URL;
  readonly release: boolean;
  readonly logger: Logger;
  readonly clock: Clock;
}

/** Default of {@link HttpReserverOptions.timeoutMs}. */
export const DEFAULT_TIMEOUT_MS = 5_000;
/** Default of {@link HttpReserverOptions.maxResponseBytes}. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;
/** Longest reservation id accepted from a service. */
export const MAX_RESERVATION_ID_LENGTH = 512;

const MAX_TIMER_MS = 2_147_483_647;
const USER_AGENT = '@cartkit/reserver-http';

/**
 * Checks options up front and fills in defaults.
 * @throws ConfigurationError naming the first invalid option.
 */
export function resolveHttpReserverOptions(
  options: HttpReserverOptions,
): ResolvedHttpReserverOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('createHttpReserver needs an options object with a "url".', {
      option: 'url',
    });
  }
  const url = parseUrl(options.url);
  const timeoutMs = integerOption(
    'timeoutMs',
    options.timeoutMs,
    DEFAULT_TIMEOUT_MS,
    1,
    MAX_TIMER_MS,
  );
  const maxResponseBytes = integerOption(
    'maxResponseBytes',
    options.maxResponseBytes,
    DEFAULT_MAX_RESPONSE_BYTES,
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const idempotencyHeader = options.idempotencyHeader ?? 'Idempotency-Key';
  try {
    validateHeaderName(idempotencyHeader);
  } catch (error) {
    throw new ConfigurationError(
      `Option "idempotencyHeader" must be a valid HTTP header name, got ${JSON.stringify(idempotencyHeader)}.`,
      { option: 'idempotencyHeader', cause: error },
    );
  }
  const headers = headersOption(options.headers);
  const mapRequest = functionOption('mapRequest', options.mapRequest) ?? defaultMapRequest;
  const mapResponse = functionOption('mapResponse', options.mapResponse) ?? defaultMapResponse;
  const releaseUrl = functionOption('releaseUrl', options.releaseUrl) ?? defaultReleaseUrl(url);
  const release = options.release ?? true;
  if (typeof release !== 'boolean') {
    throw new ConfigurationError(`Option "release" must be a boolean, got ${String(release)}.`, {
      option: 'release',
    });
  }
  const logger = options.logger ?? silentLogger;
  if (!hasMethods(logger, ['debug', 'info', 'warn', 'error'])) {
    throw new ConfigurationError('Option "logger" must have debug, info, warn and error methods.', {
      option: 'logger',
    });
  }
  const clock = options.clock ?? systemClock;
  if (!hasMethods(clock, ['now'])) {
    throw new ConfigurationError('Option "clock" must have a now() method.', { option: 'clock' });
  }
  return {
    url,
    headers,
    timeoutMs,
    maxResponseBytes,
    idempotencyHeader,
    mapRequest,
    mapResponse,
    releaseUrl,
    release,
    logger,
    clock,
  };
}

/** The default request body: `{"name", "quantity"}`. */
export function defaultMapRequest(request: ReservationRequest): unknown {
  return { name: request.name, quantity: request.quantity };
}

/**
 * The default id extraction: `reservation_id`, else `id`, as a non-empty string or an
 * integer. Anything else gives `undefined`.
 */
export function defaultMapResponse(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const record = body as Record<string, unknown>;
  for (const field of ['reservation_id', 'id']) {
    const value = record[field];
    if (typeof value === 'string' && value.trim() !== '') return value;
    if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  }
  return undefined;
}

function defaultReleaseUrl(base: URL): (reservationId: string) => URL {
  return (reservationId) => {
    const url = new URL(base);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(reservationId)}`;
    return url;
  };
}

function parseUrl(value: unknown): URL {
  if (value === undefined) {
    throw new ConfigurationError('Option "url" is required (the reservation endpoint).', {
      option: 'url',
    });
  }
  let url: URL;
  try {
    if (typeof value !== 'string' && !(value instanceof URL)) throw new TypeError('not a string');
    url = new URL(value);
  } catch (error) {
    throw new ConfigurationError(`Option "url" must be an absolute URL, got ${String(value)}.`, {
      option: 'url',
      cause: error,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigurationError(`Option "url" must use http: or https:, got "${url.protocol}".`, {
      option: 'url',
    });
  }
  if (url.hash !== '') {
    throw new ConfigurationError('Option "url" must not have a #fragment.', { option: 'url' });
  }
  return url;
}

function integerOption(
  option: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigurationError(
      `Option "${option}" must be an integer from ${min} to ${max}, got ${String(value)}.`,
      { option },
    );
  }
  return value;
}

function headersOption(value: unknown): Readonly<Record<string, string>> {
  const headers: Record<string, string> = { 'user-agent': USER_AGENT };
  if (value === undefined) return headers;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError('Option "headers" must be an object of header names to strings.', {
      option: 'headers',
    });
  }
  for (const [name, headerValue] of Object.entries(value)) {
    const option = `headers.${name}`;
    try {
      if (typeof headerValue !== 'string') throw new TypeError('not a string');
      validateHeaderName(name);
      validateHeaderValue(name, headerValue);
    } catch (error) {
      // The value may be a secret: name the header, never echo its value.
      throw new ConfigurationError(
        `Option "${option}" must be a valid header name with a string value without line breaks.`,
        { option, cause: error },
      );
    }
    headers[name.toLowerCase()] = headerValue;
  }
  return headers;
}

function functionOption<T>(option: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new ConfigurationError(`Option "${option}" must be a function.`, { option });
  }
  return value;
}

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    methods.every((method) => typeof (value as Record<string, unknown>)[method] === 'function')
  );
}
