import type { Clock, IdempotencyRecord, Logger } from '@cartkit/core';
import { HttpErrorCode } from '../errors/http-error-codes.js';
import { HttpProblem } from '../errors/http-problem.js';
import type { HttpResult } from '../http/respond.js';
import { requestFingerprint, scopedIdempotencyKey } from './idempotency-key.js';
import type { IdempotencyStore } from './idempotency-store.js';

/** Options of {@link IdempotentRequests}. */
export interface IdempotentRequestsOptions {
  readonly store: IdempotencyStore;
  readonly ttlMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** One request that may carry an `Idempotency-Key`. */
export interface IdempotentRequest {
  /** The validated client key, or `undefined` when the request has none. */
  readonly key: string | undefined;
  /** The cart the request acts on: keys are scoped to it. */
  readonly cartId: string;
  readonly method: string;
  /** The route path (no query string). */
  readonly path: string;
  /** The parsed JSON body, fingerprinted in canonical form. */
  readonly body: unknown;
}

/** Response header set on replayed responses. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** Response headers recorded with a response and replayed. */
const REPLAYED_HEADERS = new Set(['etag', 'location', 'cache-control']);

/** How often a claim is retried when the competing record vanished in between. */
const CLAIM_ATTEMPTS = 3;

/**
 * Runs requests under `Idempotency-Key` semantics (IETF httpapi draft):
 *
 * - first request: the key is claimed atomically (`createIdempotencyRecord`),
 *   the handler runs, its response is recorded (`putIdempotencyRecord`);
 * - retry with the same fingerprint: the recorded response is replayed and
 *   nothing runs; while the first is still running: 409 `IDEMPOTENCY_KEY_IN_PROGRESS`;
 * - same key, other fingerprint: 422 `IDEMPOTENCY_KEY_REUSED`;
 * - a first request that fails (any error, hence any 4xx/5xx) releases the key
 *   (`deleteIdempotencyRecord`): it changed nothing, so running it again is safe.
 */
export class IdempotentRequests {
  readonly #options: IdempotentRequestsOptions;

  constructor(options: IdempotentRequestsOptions) {
    this.#options = options;
  }

  /** Runs `handler` once per key and fingerprint; replays its result on retries. */
  async run(request: IdempotentRequest, handler: () => Promise<HttpResult>): Promise<HttpResult> {
    if (request.key === undefined) return handler();
    const key = scopedIdempotencyKey(request.cartId, request.key);
    const fingerprint = requestFingerprint(request.method, request.path, request.body);
    for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
      if (await this.#claim(key, fingerprint)) return this.#runClaimed(key, fingerprint, handler);
      const existing = await this.#options.store.getIdempotencyRecord(key);
      if (existing === undefined) continue; // released or expired meanwhile: claim again
      if (existing.fingerprint !== fingerprint) {
        throw new HttpProblem(
          422,
          HttpErrorCode.IDEMPOTENCY_KEY_REUSED,
          'This Idempotency-Key was already used for a different request.',
        );
      }
      if (existing.status === 'completed' && existing.response !== null) {
        const { status, headers, body } = existing.response;
        return { status, headers: { ...headers, [REPLAYED_HEADER]: 'true' }, body };
      }
      break;
    }
    throw new HttpProblem(
      409,
      HttpErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS,
      'A request with this Idempotency-Key is still being processed; retry later.',
      { headers: { 'Retry-After': '1' } },
    );
  }

  #claim(key: string, fingerprint: string): Promise<boolean> {
    return this.#options.store.createIdempotencyRecord({
      key,
      fingerprint,
      status: 'in-progress',
      response: null,
      expiresAt: this.#options.clock.now() + this.#options.ttlMs,
    });
  }

  async #runClaimed(
    key: string,
    fingerprint: string,
    handler: () => Promise<HttpResult>,
  ): Promise<HttpResult> {
    let result: HttpResult;
    try {
      result = await handler();
    } catch (error) {
      await this.#release(key);
      throw error;
    }
    const completed: IdempotencyRecord = {
      key,
      fingerprint,
      status: 'completed',
      response: {
        status: result.status,
        headers: recordedHeaders(result),
        body: result.body ?? null,
      },
      expiresAt: this.#options.clock.now() + this.#options.ttlMs,
    };
    try {
      await this.#options.store.putIdempotencyRecord(completed);
    } catch (error) {
      // The change is done: answer it. Retries see the key in progress until it
      // expires, which is safe (no second change), only less convenient.
      this.#options.logger.error({ err: error }, 'could not record an idempotent response');
    }
    return result;
  }

  async #release(key: string): Promise<void> {
    try {
      await this.#options.store.deleteIdempotencyRecord(key);
    } catch (error) {
      this.#options.logger.error(
        { err: error },
        'could not release an idempotency key; it stays in progress until it expires',
      );
    }
  }
}

function recordedHeaders(result: HttpResult): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers)) {
    if (REPLAYED_HEADERS.has(name.toLowerCase())) headers[name] = value;
  }
  return headers;
}
