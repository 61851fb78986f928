import {
  type Clock,
  type CompletedIdempotencyRecord,
  ConflictError,
  ErrorCode,
  type IdempotencyRecord,
  type IdempotencyStore,
  type Logger,
} from '@cartkit/core';
import { HttpErrorCode } from '../errors/http-error-codes.js';
import { HttpProblem } from '../errors/http-problem.js';
import type { HttpResult } from '../http/respond.js';
import { requestFingerprint, scopedIdempotencyKey } from './idempotency-key.js';

/** Options of {@link IdempotentRequests}. */
export interface IdempotentRequestsOptions {
  readonly store: IdempotencyStore;
  /** How long a key is remembered. */
  readonly ttlMs: number;
  /** How long an in-progress claim holds its key before a retry may take it over. */
  readonly leaseMs: number;
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

/**
 * Given to the work of an idempotent request: ties its answer to the cart write
 * that produces it.
 */
export interface ResponseRecorder {
  /**
   * Write options (`WriteOptions.idempotency`) that record `present(outcome)` as
   * the key's completed response in the same atomic write as the cart change.
   * Empty when the request has no key.
   */
  writeOptions<O extends object>(
    present: (outcome: O) => HttpResult,
  ): { readonly idempotency?: (outcome: O) => CompletedIdempotencyRecord };
  /** The answer for `outcome`: the very response recorded with it, if it was. */
  respond<O extends object>(outcome: O, present: (outcome: O) => HttpResult): HttpResult;
}

/** Response header set on replayed responses. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** Response headers recorded with a response and replayed. */
const REPLAYED_HEADERS = new Set(['etag', 'location', 'cache-control']);

const noRecorder: ResponseRecorder = {
  writeOptions: () => ({}),
  respond: (outcome, present) => present(outcome),
};

/**
 * Runs requests under `Idempotency-Key` semantics (IETF httpapi draft):
 *
 * - first request: the key is claimed (`IdempotencyStore.claim`) with a short
 *   lease, the work runs, and its response is recorded — in the same atomic write
 *   as the cart change it answers (`WriteOptions.idempotency`), or, when the work
 *   changed no cart, with `IdempotencyStore.complete`;
 * - retry with the same fingerprint: the recorded response is replayed and
 *   nothing runs; while the first is still running (its lease is live): 409
 *   `IDEMPOTENCY_KEY_IN_PROGRESS`; once the lease has passed (the first request's
 *   process died), the retry takes the claim over and runs;
 * - same key, other fingerprint: 422 `IDEMPOTENCY_KEY_REUSED`;
 * - a first request that fails (any error, hence any 4xx/5xx) releases the key:
 *   it changed nothing, so running it again is safe;
 * - if two runs of one request race (a take-over while the first still runs),
 *   the first commit wins and the other answers with its recorded response.
 */
export class IdempotentRequests {
  readonly #options: IdempotentRequestsOptions;

  constructor(options: IdempotentRequestsOptions) {
    this.#options = options;
  }

  /** Runs `work` once per key and fingerprint; replays its result on retries. */
  async run(
    request: IdempotentRequest,
    work: (recorder: ResponseRecorder) => Promise<HttpResult>,
  ): Promise<HttpResult> {
    if (request.key === undefined) return work(noRecorder);
    const key = scopedIdempotencyKey(request.cartId, request.key);
    const fingerprint = requestFingerprint(request.method, request.path, request.body);
    const claim = await this.#options.store.claim(this.#claim(key, fingerprint));
    if (claim.claimed) return this.#runClaimed(key, fingerprint, work);
    const replay = replayOf(claim.existing, fingerprint);
    if (replay !== undefined) return replay;
    throw inProgress();
  }

  #claim(key: string, fingerprint: string): IdempotencyRecord {
    const now = this.#options.clock.now();
    return {
      key,
      fingerprint,
      status: 'in-progress',
      response: null,
      leaseUntil: now + this.#options.leaseMs,
      expiresAt: now + this.#options.ttlMs,
    };
  }

  #completed(key: string, fingerprint: string, result: HttpResult): CompletedIdempotencyRecord {
    return {
      key,
      fingerprint,
      status: 'completed',
      response: {
        status: result.status,
        headers: recordedHeaders(result),
        body: result.body ?? null,
      },
      leaseUntil: null,
      expiresAt: this.#options.clock.now() + this.#options.ttlMs,
    };
  }

  async #runClaimed(
    key: string,
    fingerprint: string,
    work: (recorder: ResponseRecorder) => Promise<HttpResult>,
  ): Promise<HttpResult> {
    const answers = new WeakMap<object, HttpResult>();
    const recorded = new WeakSet<HttpResult>();
    const recorder: ResponseRecorder = {
      writeOptions: (present) => ({
        idempotency: (outcome) => {
          const result = present(outcome);
          answers.set(outcome, result);
          recorded.add(result);
          return this.#completed(key, fingerprint, result);
        },
      }),
      respond: (outcome, present) => answers.get(outcome) ?? present(outcome),
    };
    let result: HttpResult;
    try {
      result = await work(recorder);
    } catch (error) {
      if (ConflictError.is(error) && error.code === ErrorCode.IDEMPOTENCY_KEY_COMPLETED) {
        // Another run of this request (a take-over) committed first: answer as it did.
        const existing = await this.#options.store.get(key);
        const replay = existing === undefined ? undefined : replayOf(existing, fingerprint);
        if (replay !== undefined) return replay;
        throw inProgress();
      }
      await this.#release(key, fingerprint);
      throw error;
    }
    if (!recorded.has(result)) await this.#complete(this.#completed(key, fingerprint, result));
    return result;
  }

  async #complete(record: CompletedIdempotencyRecord): Promise<void> {
    try {
      await this.#options.store.complete(record);
    } catch (error) {
      // Nothing was changed by this request (it wrote no cart), so a retry that
      // takes the claim over once its lease passes may safely run it again.
      this.#options.logger.error(
        { err: error },
        'could not record an idempotent response; a retry after the lease will run it again',
      );
    }
  }

  async #release(key: string, fingerprint: string): Promise<void> {
    try {
      await this.#options.store.release(key, fingerprint);
    } catch (error) {
      this.#options.logger.error(
        { err: error },
        'could not release an idempotency key; it stays in progress until its lease passes',
      );
    }
  }
}

/**
 * What a retry gets when the key is held: the recorded response, 422 for another
 * request, or `undefined` while the first request still runs.
 */
function replayOf(existing: IdempotencyRecord, fingerprint: string): HttpResult | undefined {
  if (existing.fingerprint !== fingerprint) {
    throw new HttpProblem(
      422,
      HttpErrorCode.IDEMPOTENCY_KEY_REUSED,
      'This Idempotency-Key was already used for a different request.',
    );
  }
  if (existing.status !== 'completed' || existing.response === null) return undefined;
  const { status, headers, body } = existing.response;
  return { status, headers: { ...headers, [REPLAYED_HEADER]: 'true' }, body };
}

function inProgress(): HttpProblem {
  return new HttpProblem(
    409,
    HttpErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS,
    'A request with this Idempotency-Key is still being processed; retry later.',
    { headers: { 'Retry-After': '1' } },
  );
}

function recordedHeaders(result: HttpResult): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers)) {
    if (REPLAYED_HEADERS.has(name.toLowerCase())) headers[name] = value;
  }
  return headers;
}
