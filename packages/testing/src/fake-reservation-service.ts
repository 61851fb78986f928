import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigurationError, type Logger, silentLogger } from '@cartkit/core';
import {
  drawFaults,
  type FakeFaults,
  type FaultDraw,
  isRefused,
  validateFaults,
} from './fake-faults.js';
import { readRequestBody } from './read-request-body.js';
import { seededRandom } from './seeded-random.js';

/** Options of {@link startFakeReservationService}. */
export interface FakeReservationServiceOptions {
  /** Interface to listen on. Default `127.0.0.1` (loopback only). */
  readonly host?: string;
  /** Port to listen on. Default 0 (a free port, see {@link FakeReservationService.port}). */
  readonly port?: number;
  /** Path of the reservation collection. Default `/reservations`. */
  readonly path?: string;
  /** Faults injected from the start; change them later with `setFaults`. Default: none. */
  readonly faults?: FakeFaults;
  /** Seed of the random source that decides fault shares (repeatable runs). */
  readonly seed?: number;
  /** The random source itself (`[0, 1)`); wins over `seed`. Default `Math.random`. */
  readonly random?: () => number;
  /** Largest request body accepted; larger ones get 413. Default 16 KiB. */
  readonly maxBodyBytes?: number;
  /** `Retry-After` (seconds) of the 425 sent while a key's first request runs. Default 1. */
  readonly inProgressRetryAfterSeconds?: number;
  /**
   * Idempotency keys remembered at most (with their call counts): past that, the
   * oldest completed key is forgotten, as a real service expires its keys, and a
   * later call with it is a new call. Default: unbounded (tests count calls per key).
   * A long-running demo service should set it (the example server uses 10,000).
   */
  readonly maxKeys?: number;
  /** Receives one `debug` line per request and an `error` line per internal failure. */
  readonly logger?: Logger;
}

/** A reservation the fake service holds. */
export interface FakeReservation {
  readonly reservationId: string;
  readonly name: string;
  readonly quantity: number;
  /** The `Idempotency-Key` it was made with, if any. */
  readonly idempotencyKey: string | undefined;
}

/** Counters of a {@link FakeReservationService}, as a snapshot. */
export interface FakeReservationStats {
  /** Every HTTP request received, whatever its route or outcome. */
  readonly requests: number;
  /** Reserve calls (`POST`), retries, replays and faulted ones included. */
  readonly reserveCalls: number;
  /** Release calls (`DELETE`). */
  readonly releaseCalls: number;
  /** Reservations made (a replayed `Idempotency-Key` makes none). */
  readonly reservationsMade: number;
  /** Releases that released a held reservation. */
  readonly releases: number;
  /** Reservations currently held (made and not released). */
  readonly held: number;
  /** Idempotency keys whose first reserve call is still running. */
  readonly inProgress: number;
  /** Reserve calls answered from a completed `Idempotency-Key` (the first result again). */
  readonly replays: number;
  /** Calls left unanswered by the `hangRate` fault. */
  readonly hung: number;
  /** Reserve calls per `Idempotency-Key`. */
  readonly callsByKey: ReadonlyMap<string, number>;
  /** Answers sent, by HTTP status. */
  readonly byStatus: ReadonlyMap<number, number>;
}

/**
 * A running fake reservation service: a real HTTP server speaking cartkit's default
 * reservation protocol, with switchable faults. See {@link startFakeReservationService}.
 */
export interface FakeReservationService extends AsyncDisposable {
  /** The reservation endpoint to give a reserver, e.g. `http://127.0.0.1:40123/reservations`. */
  readonly url: string;
  /** Scheme, host and port, e.g. `http://127.0.0.1:40123`. */
  readonly origin: string;
  /** The port the server listens on. */
  readonly port: number;
  /** A snapshot of the counters. */
  readonly stats: FakeReservationStats;
  /** Reserve calls received with `key`. */
  callsForKey(key: string): number;
  /** Reservations currently held, oldest first. */
  reservations(): FakeReservation[];
  /** The faults in force. */
  faults(): FakeFaults;
  /**
   * Changes faults at runtime: the given fields replace the current ones, the others
   * stay. Calls already running keep the faults they started with.
   * @throws ConfigurationError naming the invalid field.
   */
  setFaults(faults: FakeFaults): void;
  /** Removes every fault. */
  resetFaults(): void;
  /** Forgets reservations, idempotency keys and counters (faults stay). */
  reset(): void;
  /**
   * Stops the server: stops listening, ends calls waiting on latency and destroys
   * every open connection, hung ones included. Idempotent.
   */
  close(): Promise<void>;
}

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Close the connection after answering (the request body was not read). */
  readonly closeConnection?: boolean;
}

/**
 * `hang`: never answer; `drop`: the client or the server went away, nothing to
 * send; `reset`: tear the connection down without an answer.
 */
type Outcome = Reply | 'hang' | 'drop' | 'reset';

type KeyState =
  | { readonly fingerprint: string; readonly state: 'in-progress' }
  | { readonly fingerprint: string; readonly state: 'completed'; readonly reply: Reply };

const DEFAULT_PATH = '/reservations';
const DEFAULT_MAX_BODY_BYTES = 16 * 1024;
const MAX_KEY_LENGTH = 255;
const MAX_NAME_LENGTH = 200;
const PRINTABLE_ASCII = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/**
 * Starts a fake reservation service on loopback: a real `node:http` server that
 * speaks cartkit's default protocol and injects faults on demand.
 *
 * - `POST <path>` with JSON `{"name", "quantity"}` → 201 `{"reservation_id"}`.
 *   An `Idempotency-Key` makes it idempotent: the same key and body get the first
 *   answer again (`Idempotent-Replayed: true`), a key whose first call still runs
 *   gets 425 with `Retry-After`, the same key with another body gets 422.
 * - `DELETE <path>/<id>` → 204, or 404 for an unknown or released id.
 * - `GET <path>/<id>` → 200 with the reservation, or 404 (never faulted).
 * - Malformed calls get clear 4xx answers with a JSON `{"error"}` reason: bad JSON
 *   400, wrong shape 422, body too large 413, non-JSON content type 415.
 *
 * @example
 * ```ts
 * const service = await startFakeReservationService({ faults: { refuse: ['Forbidden'] } });
 * const reserver = createHttpReserver({ url: service.url });
 * // ...
 * service.setFaults({ unavailableRate: 0.5, latencyMs: { min: 10, max: 50 } });
 * await service.close();
 * ```
 */
export async function startFakeReservationService(
  options: FakeReservationServiceOptions = {},
): Promise<FakeReservationService> {
  const settings = resolveOptions(options);
  const service = new FakeReservationServer(settings);
  await service.listen(settings.host, settings.port);
  return service;
}

interface Settings {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly faults: FakeFaults;
  readonly random: () => number;
  readonly maxBodyBytes: number;
  readonly inProgressRetryAfterSeconds: number;
  readonly maxKeys: number;
  readonly logger: Logger;
}

function resolveOptions(options: FakeReservationServiceOptions): Settings {
  const fail = (option: string, rule: string, value: unknown): never => {
    throw new ConfigurationError(`Option "${option}" must be ${rule}, got ${String(value)}.`, {
      option,
    });
  };
  const {
    host = '127.0.0.1',
    port = 0,
    path = DEFAULT_PATH,
    faults = {},
    seed,
    random,
    maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
    inProgressRetryAfterSeconds = 1,
    maxKeys = Number.POSITIVE_INFINITY,
    logger = silentLogger,
  } = options;
  if (typeof host !== 'string' || host === '') fail('host', 'a non-empty string', host);
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) {
    fail('port', 'an integer from 0 to 65535', port);
  }
  if (typeof path !== 'string' || !/^\/[^?#\s]*[^/?#\s]$/.test(path)) {
    fail('path', 'a path like "/reservations" (leading slash, no trailing slash)', path);
  }
  validateFaults(faults);
  if (seed !== undefined && !Number.isSafeInteger(seed)) fail('seed', 'an integer', seed);
  if (random !== undefined && typeof random !== 'function') fail('random', 'a function', random);
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    fail('maxBodyBytes', 'an integer >= 1', maxBodyBytes);
  }
  if (!Number.isSafeInteger(inProgressRetryAfterSeconds) || inProgressRetryAfterSeconds < 0) {
    fail('inProgressRetryAfterSeconds', 'an integer >= 0', inProgressRetryAfterSeconds);
  }
  if (maxKeys !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(maxKeys) || maxKeys < 1)) {
    fail('maxKeys', 'an integer >= 1', maxKeys);
  }
  if (typeof logger?.debug !== 'function' || typeof logger.error !== 'function') {
    fail('logger', 'a logger with debug and error methods', logger);
  }
  return {
    host,
    port,
    path,
    faults: { ...faults },
    random: random ?? (seed === undefined ? Math.random : seededRandom(seed)),
    maxBodyBytes,
    inProgressRetryAfterSeconds,
    maxKeys,
    logger,
  };
}

class FakeReservationServer implements FakeReservationService {
  readonly #settings: Settings;
  readonly #server: Server;
  #faults: FakeFaults;
  #address: AddressInfo | undefined;
  #closing: Promise<void> | undefined;
  /** Calls sleeping on latency: resolving one with `false` ends its sleep early. */
  readonly #sleepers = new Set<(completed: boolean) => void>();

  #held = new Map<string, FakeReservation>();
  #keys = new Map<string, KeyState>();
  #callsByKey = new Map<string, number>();
  #byStatus = new Map<number, number>();
  #counters = zeroCounters();

  constructor(settings: Settings) {
    this.#settings = settings;
    this.#faults = settings.faults;
    this.#server = createServer((request, response) => {
      void this.#handle(request, response);
    });
    this.#server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  async listen(host: string, port: number): Promise<void> {
    this.#server.listen(port, host);
    await once(this.#server, 'listening');
    this.#address = this.#server.address() as AddressInfo;
  }

  get origin(): string {
    const { address, family, port } = this.#listening();
    return `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
  }

  get url(): string {
    return `${this.origin}${this.#settings.path}`;
  }

  get port(): number {
    return this.#listening().port;
  }

  get stats(): FakeReservationStats {
    return Object.freeze({
      ...this.#counters,
      held: this.#held.size,
      inProgress: [...this.#keys.values()].filter((k) => k.state === 'in-progress').length,
      callsByKey: new Map(this.#callsByKey),
      byStatus: new Map(this.#byStatus),
    });
  }

  callsForKey(key: string): number {
    return this.#callsByKey.get(key) ?? 0;
  }

  reservations(): FakeReservation[] {
    return [...this.#held.values()];
  }

  faults(): FakeFaults {
    return { ...this.#faults };
  }

  setFaults(faults: FakeFaults): void {
    validateFaults(faults);
    this.#faults = { ...this.#faults, ...faults };
  }

  resetFaults(): void {
    this.#faults = {};
  }

  reset(): void {
    this.#held = new Map();
    this.#keys = new Map();
    this.#callsByKey = new Map();
    this.#byStatus = new Map();
    this.#counters = zeroCounters();
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      for (const wake of this.#sleepers) wake(false);
      this.#sleepers.clear();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #listening(): AddressInfo {
    if (this.#address === undefined)
      throw new Error('The fake reservation service is not listening.');
    return this.#address;
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = Date.now();
    this.#counters.requests++;
    // A client that resets mid-request must never become an unhandled 'error'.
    request.on('error', () => {});
    response.on('error', () => {});
    const method = request.method ?? 'GET';
    const path = pathOf(request.url);
    let outcome: Outcome;
    try {
      outcome = await this.#route(request, method, path);
    } catch (error) {
      this.#settings.logger.error(
        { err: error, method, path },
        'fake reservation service failed to handle a request',
      );
      outcome = { status: 500, body: { error: 'Internal error in the fake reservation service.' } };
    }
    const fields = {
      method,
      path,
      idempotencyKey: headerOf(request, 'idempotency-key'),
      durationMs: Date.now() - started,
    };
    if (outcome === 'hang') {
      this.#counters.hung++;
      this.#settings.logger.debug(
        { ...fields, hung: true },
        'fake reservation service hung a call',
      );
      return;
    }
    if (outcome === 'drop') return;
    if (outcome === 'reset') {
      request.socket.destroy();
      return;
    }
    this.#byStatus.set(outcome.status, (this.#byStatus.get(outcome.status) ?? 0) + 1);
    send(response, outcome);
    this.#settings.logger.debug(
      { ...fields, status: outcome.status },
      'fake reservation service answered',
    );
  }

  #route(request: IncomingMessage, method: string, path: string | undefined): Promise<Outcome> {
    const base = this.#settings.path;
    if (path === undefined) return reply(400, 'The request target is not a valid path.');
    if (path === base) {
      if (method !== 'POST') return reply(405, `Use POST on ${base}.`, { allow: 'POST' });
      this.#counters.reserveCalls++;
      const key = headerOf(request, 'idempotency-key');
      if (key !== undefined) this.#countCall(key);
      return this.#whenUp(() => this.#reserve(request, key));
    }
    if (path.startsWith(`${base}/`)) {
      const rawId = path.slice(base.length + 1);
      if (rawId === '' || rawId.includes('/')) return reply(404, 'No such resource.');
      if (method === 'DELETE') {
        this.#counters.releaseCalls++;
        return this.#whenUp(() => this.#release(rawId));
      }
      if (method === 'GET') return this.#whenUp(() => this.#show(rawId));
      return reply(405, `Use GET or DELETE on ${base}/<id>.`, { allow: 'GET, DELETE' });
    }
    return reply(404, 'No such resource.');
  }

  /** Runs `handler`, unless the service is `down`: then 503 at once, body unread. */
  #whenUp(handler: () => Promise<Outcome>): Promise<Outcome> {
    const faults = this.#faults;
    if (faults.down !== true) return handler();
    return Promise.resolve({
      ...this.#unavailable(faults, 'The service is down.'),
      closeConnection: true,
    });
  }

  async #reserve(request: IncomingMessage, key: string | undefined): Promise<Outcome> {
    if (key !== undefined && (key.length > MAX_KEY_LENGTH || !PRINTABLE_ASCII.test(key))) {
      return rejectUnread(
        400,
        `Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} printable ASCII characters.`,
      );
    }
    const contentType = headerOf(request, 'content-type');
    if (contentType !== undefined && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType)) {
      return rejectUnread(415, `Content-Type must be application/json, got "${contentType}".`);
    }
    const body = await readRequestBody(request, this.#settings.maxBodyBytes);
    if (!body.ok) {
      if (body.reason === 'aborted') return 'drop';
      return rejectUnread(413, `Request body is larger than ${this.#settings.maxBodyBytes} bytes.`);
    }
    const parsed = parseReservationBody(body.text);
    if (!parsed.ok) return { status: parsed.status, body: { error: parsed.error } };
    const { name, quantity } = parsed;

    // Faults at the front door strike before the service looks at the call, replays
    // included: a hung or overloaded service does not answer retries either.
    const faults = this.#faults;
    const draw = drawFaults(faults, this.#settings.random);
    const fault = this.#frontDoorFault(faults, draw);
    if (fault !== undefined) return fault;

    const fingerprint = JSON.stringify([name, quantity]);
    const previous = key === undefined ? undefined : this.#keys.get(key);
    if (previous !== undefined) {
      const repeated = this.#answerRepeatedKey(previous, fingerprint);
      if (!(await this.#sleep(draw.latencyMs))) return 'drop';
      if (draw.hang) return 'hang';
      if (repeated.headers?.['idempotent-replayed'] !== undefined) this.#counters.replays++;
      return repeated;
    }
    if (key !== undefined) {
      this.#keys.set(key, { fingerprint, state: 'in-progress' });
      this.#forgetOldKeys();
    }
    if (!(await this.#sleep(draw.latencyMs))) return 'drop';

    let answer: Reply;
    if (isRefused(faults, name)) {
      answer = {
        status: faults.refuseStatus ?? 409,
        body: { error: `Item "${name}" cannot be reserved.` },
      };
    } else {
      const reservation: FakeReservation = {
        reservationId: `rsv_${randomUUID()}`,
        name,
        quantity,
        idempotencyKey: key,
      };
      this.#held.set(reservation.reservationId, reservation);
      this.#counters.reservationsMade++;
      answer = { status: 201, body: { reservation_id: reservation.reservationId } };
    }
    if (key !== undefined) this.#keys.set(key, { fingerprint, state: 'completed', reply: answer });
    if (draw.hang) return 'hang';
    if (draw.lostAnswer && answer.status < 300) {
      switch (faults.lostAnswerAs ?? 'server-error') {
        case 'reset':
          return 'reset';
        case 'bad-body':
          return { status: 200, body: { ok: true } };
        default:
          return { status: 500, body: { error: 'Internal error after the reservation was made.' } };
      }
    }
    return answer;
  }

  /** Counts a call with `key`; the oldest counts go beyond `maxKeys`. */
  #countCall(key: string): void {
    const calls = this.#callsByKey.get(key) ?? 0;
    this.#callsByKey.set(key, calls + 1);
    if (calls === 0 && this.#callsByKey.size > this.#settings.maxKeys) {
      for (const old of this.#callsByKey.keys()) {
        if (this.#callsByKey.size <= this.#settings.maxKeys) break;
        if (this.#keys.get(old)?.state !== 'in-progress') this.#callsByKey.delete(old);
      }
    }
  }

  /** Forgets the oldest completed keys beyond `maxKeys` (keys in progress stay). */
  #forgetOldKeys(): void {
    if (this.#keys.size <= this.#settings.maxKeys) return;
    for (const [old, state] of this.#keys) {
      if (this.#keys.size <= this.#settings.maxKeys) break;
      if (state.state === 'in-progress') continue;
      this.#keys.delete(old);
      this.#callsByKey.delete(old);
    }
  }

  #answerRepeatedKey(previous: KeyState, fingerprint: string): Reply {
    if (previous.fingerprint !== fingerprint) {
      return {
        status: 422,
        body: { error: 'Idempotency-Key was already used with a different request body.' },
      };
    }
    if (previous.state === 'in-progress') {
      return {
        status: 425,
        body: { error: 'A request with this Idempotency-Key is still in progress.' },
        headers: { 'retry-after': String(this.#settings.inProgressRetryAfterSeconds) },
      };
    }
    return {
      ...previous.reply,
      headers: { ...previous.reply.headers, 'idempotent-replayed': 'true' },
    };
  }

  async #release(rawId: string): Promise<Outcome> {
    let reservationId: string;
    try {
      reservationId = decodeURIComponent(rawId);
    } catch {
      return { status: 400, body: { error: 'The reservation id is not validly URL-encoded.' } };
    }
    const faults = this.#faults;
    const draw = drawFaults(faults, this.#settings.random);
    const fault = this.#frontDoorFault(faults, draw);
    if (fault !== undefined) return fault;
    if (!(await this.#sleep(draw.latencyMs))) return 'drop';
    let answer: Reply;
    if (this.#held.delete(reservationId)) {
      this.#counters.releases++;
      answer = { status: 204 };
    } else {
      answer = { status: 404, body: { error: `No reservation "${reservationId}".` } };
    }
    return draw.hang ? 'hang' : answer;
  }

  async #show(rawId: string): Promise<Reply> {
    let reservationId: string;
    try {
      reservationId = decodeURIComponent(rawId);
    } catch {
      return { status: 400, body: { error: 'The reservation id is not validly URL-encoded.' } };
    }
    const held = this.#held.get(reservationId);
    if (held === undefined) {
      return { status: 404, body: { error: `No reservation "${reservationId}".` } };
    }
    return {
      status: 200,
      body: { reservation_id: held.reservationId, name: held.name, quantity: held.quantity },
    };
  }

  /**
   * The outcome of a fault that strikes before the call is processed (a hang in
   * `before-processing` mode, 429, 503), if one applies. A hang in `after-processing`
   * mode wins over 429 and 503 and is applied by the caller once processing is done.
   */
  #frontDoorFault(faults: FakeFaults, draw: FaultDraw): Outcome | undefined {
    if (draw.hang) {
      return (faults.hangMode ?? 'after-processing') === 'before-processing' ? 'hang' : undefined;
    }
    if (draw.throttle) {
      return {
        status: 429,
        body: { error: 'Too many requests (injected fault).' },
        headers: { 'retry-after': String(faults.throttleRetryAfterSeconds ?? 1) },
      };
    }
    if (draw.unavailable) return this.#unavailable(faults, 'Service unavailable (injected fault).');
    return undefined;
  }

  #unavailable(faults: FakeFaults, error: string): Reply {
    const retryAfter = faults.unavailableRetryAfterSeconds;
    return {
      status: 503,
      body: { error },
      ...(retryAfter === undefined ? {} : { headers: { 'retry-after': String(retryAfter) } }),
    };
  }

  /** Waits `ms`; resolves `false` if the service closed meanwhile. */
  #sleep(ms: number): Promise<boolean> {
    if (this.#closing !== undefined) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = (completed: boolean) => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve(completed);
      };
      const timer = setTimeout(() => wake(true), ms);
      this.#sleepers.add(wake);
    });
  }
}

type Counters = {
  -readonly [K in Exclude<
    keyof FakeReservationStats,
    'held' | 'inProgress' | 'callsByKey' | 'byStatus'
  >]: FakeReservationStats[K];
};

function zeroCounters(): Counters {
  return {
    requests: 0,
    reserveCalls: 0,
    releaseCalls: 0,
    reservationsMade: 0,
    releases: 0,
    replays: 0,
    hung: 0,
  };
}

type ParsedBody =
  | { readonly ok: true; readonly name: string; readonly quantity: number }
  | { readonly ok: false; readonly status: 400 | 422; readonly error: string };

function parseReservationBody(text: string): ParsedBody {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, status: 400, error: 'Request body is not valid JSON.' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, status: 422, error: 'Request body must be a JSON object.' };
  }
  const { name, quantity } = value as { name?: unknown; quantity?: unknown };
  if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_NAME_LENGTH) {
    return {
      ok: false,
      status: 422,
      error: `"name" must be a non-blank string of at most ${MAX_NAME_LENGTH} characters.`,
    };
  }
  if (typeof quantity !== 'number' || !Number.isSafeInteger(quantity) || quantity < 1) {
    return { ok: false, status: 422, error: '"quantity" must be a positive integer.' };
  }
  return { ok: true, name, quantity };
}

function reply(
  status: number,
  error: string,
  headers?: Readonly<Record<string, string>>,
): Promise<Reply> {
  return Promise.resolve({
    status,
    body: { error },
    ...(headers === undefined ? {} : { headers }),
  });
}

/** A 4xx sent without reading the request body: the connection closes after it. */
function rejectUnread(status: number, error: string): Reply {
  return { status, body: { error }, closeConnection: true };
}

function send(response: ServerResponse, outcome: Reply): void {
  if (response.headersSent || response.destroyed) return;
  const payload = outcome.body === undefined ? '' : JSON.stringify(outcome.body);
  response.statusCode = outcome.status;
  for (const [name, value] of Object.entries(outcome.headers ?? {})) {
    response.setHeader(name, value);
  }
  if (payload !== '') response.setHeader('content-type', 'application/json; charset=utf-8');
  response.setHeader('content-length', Buffer.byteLength(payload));
  if (outcome.closeConnection === true) response.setHeader('connection', 'close');
  response.end(payload);
}

function pathOf(target: string | undefined): string | undefined {
  try {
    return new URL(target ?? '/', 'http://fake.invalid').pathname;
  } catch {
    return undefined;
  }
}

function headerOf(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
