import { ConfigurationError } from '@cartkit/core';

/** A fixed delay, or a delay drawn uniformly from `[min, max]`, in milliseconds. */
export type LatencyMs = number | { readonly min: number; readonly max: number };

/**
 * Faults a {@link FakeReservationService} injects. Every field is optional; a
 * missing field means "no such fault". Shares are probabilities in `[0, 1]` drawn
 * from the service's random source (see `seed` / `random`), so a seeded service
 * fails the same requests on every run.
 *
 * Faults apply to reserve (`POST`) and release (`DELETE`) calls alike, replays of an
 * idempotency key included, except `refuse`, which only concerns new reservations.
 */
export interface FakeFaults {
  /** Delay before answering. Default 0. */
  readonly latencyMs?: LatencyMs;
  /** Share of calls answered `503 Service Unavailable`. Default 0. */
  readonly unavailableRate?: number;
  /** `Retry-After` (seconds) sent with injected 503s and while `down`. Default: none sent. */
  readonly unavailableRetryAfterSeconds?: number;
  /** Share of calls answered `429 Too Many Requests`. Default 0. */
  readonly throttleRate?: number;
  /** `Retry-After` (seconds) sent with injected 429s. Default 1. */
  readonly throttleRetryAfterSeconds?: number;
  /** Share of calls never answered (the connection stays open until the client gives up). */
  readonly hangRate?: number;
  /**
   * What a hung call did before going silent: `'after-processing'` (default) makes the
   * reservation (or release) and loses the answer, as when a response is lost on the
   * way back, so a retry with the same `Idempotency-Key` gets the first result;
   * `'before-processing'` does nothing.
   */
  readonly hangMode?: 'after-processing' | 'before-processing';
  /** Item names refused for good: a list, or a predicate. Default: none. */
  readonly refuse?: readonly string[] | ((name: string) => boolean);
  /** Status of a refusal. Default 409. */
  readonly refuseStatus?: 409 | 422;
  /** The whole service is down: every call gets 503 (with `unavailableRetryAfterSeconds`). */
  readonly down?: boolean;
  /**
   * Share of new reservations that are made but whose answer is lost: the client
   * gets `lostAnswerAs` instead. A replay of the key gets the real first answer.
   */
  readonly lostAnswerRate?: number;
  /**
   * What a lost answer looks like: `'server-error'` (default) a 500, `'reset'` the
   * connection torn down without a response, `'bad-body'` a 200 without a
   * reservation id — every one an *uncertain* outcome for the client.
   */
  readonly lostAnswerAs?: 'server-error' | 'reset' | 'bad-body';
}

/** The faults one call suffers, drawn from a {@link FakeFaults} setting. */
export interface FaultDraw {
  readonly latencyMs: number;
  readonly hang: boolean;
  readonly throttle: boolean;
  readonly unavailable: boolean;
  readonly lostAnswer: boolean;
}

const SHARES = ['unavailableRate', 'throttleRate', 'hangRate', 'lostAnswerRate'] as const;
const SECONDS = ['unavailableRetryAfterSeconds', 'throttleRetryAfterSeconds'] as const;

/**
 * Checks a fault setting; throws a `ConfigurationError` naming the bad field
 * (prefixed with `prefix`, e.g. `faults.hangRate`).
 */
export function validateFaults(faults: FakeFaults, prefix = 'faults'): void {
  const fail = (field: string, rule: string, value: unknown): never => {
    const option = field === '' ? prefix : `${prefix}.${field}`;
    throw new ConfigurationError(`Option "${option}" must be ${rule}, got ${describe(value)}.`, {
      option,
    });
  };
  if (typeof faults !== 'object' || faults === null) fail('', 'an object', faults);
  for (const field of SHARES) {
    const value = faults[field];
    if (value !== undefined && !(typeof value === 'number' && value >= 0 && value <= 1)) {
      fail(field, 'a number between 0 and 1', value);
    }
  }
  for (const field of SECONDS) {
    const value = faults[field];
    if (value !== undefined && !isNonNegativeInteger(value)) {
      fail(field, 'an integer >= 0', value);
    }
  }
  const latency = faults.latencyMs;
  if (latency !== undefined) {
    if (typeof latency === 'number') {
      if (!isNonNegativeInteger(latency)) fail('latencyMs', 'an integer >= 0', latency);
    } else if (
      typeof latency !== 'object' ||
      latency === null ||
      !isNonNegativeInteger(latency.min) ||
      !isNonNegativeInteger(latency.max) ||
      latency.min > latency.max
    ) {
      fail('latencyMs', 'an integer >= 0 or { min, max } integers with min <= max', latency);
    }
  }
  if (
    faults.hangMode !== undefined &&
    faults.hangMode !== 'after-processing' &&
    faults.hangMode !== 'before-processing'
  ) {
    fail('hangMode', '"after-processing" or "before-processing"', faults.hangMode);
  }
  const refuse = faults.refuse;
  if (
    refuse !== undefined &&
    typeof refuse !== 'function' &&
    !(Array.isArray(refuse) && refuse.every((name) => typeof name === 'string'))
  ) {
    fail('refuse', 'an array of item names or a predicate', refuse);
  }
  if (
    faults.refuseStatus !== undefined &&
    faults.refuseStatus !== 409 &&
    faults.refuseStatus !== 422
  ) {
    fail('refuseStatus', '409 or 422', faults.refuseStatus);
  }
  if (faults.down !== undefined && typeof faults.down !== 'boolean') {
    fail('down', 'a boolean', faults.down);
  }
  if (
    faults.lostAnswerAs !== undefined &&
    !['server-error', 'reset', 'bad-body'].includes(faults.lostAnswerAs)
  ) {
    fail('lostAnswerAs', '"server-error", "reset" or "bad-body"', faults.lostAnswerAs);
  }
}

/**
 * Draws the faults of one call. Numbers are drawn in a fixed order (latency if it
 * is a range, then hang, throttle, unavailable), each only when its setting can
 * vary, so a seeded random source gives a reproducible sequence.
 */
export function drawFaults(faults: FakeFaults, random: () => number): FaultDraw {
  const latencyMs = drawLatency(faults.latencyMs ?? 0, random);
  const roll = (share: number | undefined) => share !== undefined && share > 0 && random() < share;
  const hang = roll(faults.hangRate);
  const throttle = roll(faults.throttleRate);
  const unavailable = roll(faults.unavailableRate);
  const lostAnswer = roll(faults.lostAnswerRate);
  return { latencyMs, hang, throttle, unavailable, lostAnswer };
}

function drawLatency(latency: LatencyMs, random: () => number): number {
  if (typeof latency === 'number') return latency;
  if (latency.max === latency.min) return latency.min;
  return latency.min + Math.floor(random() * (latency.max - latency.min + 1));
}

/** Whether the fault setting refuses `name`. */
export function isRefused(faults: FakeFaults, name: string): boolean {
  const refuse = faults.refuse;
  if (refuse === undefined) return false;
  return typeof refuse === 'function' ? refuse(name) : refuse.includes(name);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function describe(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
