import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CartApi, startCartApi } from './support/cart-api.js';

/** Fixed by default so runs are repeatable; FUZZ_SEED / FUZZ_RUNS explore further. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_260_101);
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);

/** Printable ASCII: what an HTTP client can put in a header value. */
const headerValue = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });

const pathSegment = fc.oneof(
  fc.constantFrom('Apple', 'Banana', 'Durian', '%20', '%00', '%E0%A4%A', '%', 'a%2Fb', '..%2F'),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
  fc.string({ maxLength: 12 }).map((s) => s.replace(/[^A-Za-z0-9%]/g, '')),
);

const path = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('/items', '/reserve', '/items/Apple', '/openapi.json') },
  { weight: 4, arbitrary: pathSegment.map((s) => `/items/${s}`) },
  { weight: 1, arbitrary: fc.tuple(pathSegment, pathSegment).map(([a, b]) => `/${a}/${b}`) },
  { weight: 1, arbitrary: pathSegment.map((s) => `/${s}`) },
);

const item = fc.record(
  {
    name: fc.oneof(fc.constantFrom('Apple', 'Banana', ' Apple ', ''), fc.string(), fc.anything()),
    quantity: fc.oneof(fc.integer({ min: -3, max: 10_003 }), fc.double(), fc.anything()),
  },
  { requiredKeys: [] },
);

const body = fc.oneof(
  { weight: 4, arbitrary: item.map((value) => JSON.stringify(value)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(item, fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue()))
      .map(([value, extra]) => JSON.stringify({ ...extra, ...value })),
  },
  { weight: 1, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: fc.constant(JSON.stringify({ name: 'x'.repeat(20_000) })) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const contentType = fc.option(
  fc.oneof(
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'application/merge-patch+json',
      'application/problem+json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset',
    ),
    headerValue,
  ),
  { nil: undefined },
);

const someHeaders = fc.record(
  {
    'if-match': fc.oneof(
      fc.constantFrom('*', '"0"', '"1"', '"2"', 'W/"1"', '"1", "2"'),
      headerValue,
    ),
    'if-none-match': fc.oneof(fc.constantFrom('*', '"1"'), headerValue),
    'idempotency-key': fc.oneof(fc.constantFrom('k1', 'k2', '"k1"'), headerValue),
    'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'bogus'),
    accept: fc.oneof(fc.constant('application/xml'), headerValue),
  },
  { requiredKeys: [] },
);

const headers = fc.oneof(
  { weight: 2, arbitrary: fc.constant({}) },
  { weight: 3, arbitrary: someHeaders },
);

/** Anything at all. */
const wild = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'PUT', 'OPTIONS'),
  path,
  body,
  contentType,
  headers,
});

/** Requests close to valid ones, so that successes and subtle refusals happen too. */
const name = fc.constantFrom('Apple', 'Banana', 'Cherry', ' Banana', '');
const quantity = fc.integer({ min: 0, max: 4 });
const plausibleHeaders = fc.oneof(
  fc.constant({}),
  fc.record(
    {
      'idempotency-key': fc.constantFrom('k1', 'k2', 'k3'),
      'if-match': fc.constantFrom('*', '"1"', '"2"', '"3"', '"4"', '"5"'),
    },
    { requiredKeys: [] },
  ),
);
const operation = fc.oneof(
  fc.record({
    method: fc.constantFrom('POST', 'PATCH'),
    path: fc.constantFrom('/items', '/items/Apple', '/reserve'),
    body: fc.constant({ name: 'x'.repeat(20_000) }),
  }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant('/items'),
    body: fc.record({ name, quantity }, { requiredKeys: ['name'] }),
  }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant('/reserve'),
    body: fc.record({ name }),
  }),
  fc.record({
    method: fc.constant('PATCH'),
    path: name.map((n) => `/items/${encodeURIComponent(n)}`),
    body: fc.record({ quantity }),
  }),
  fc.record({
    method: fc.constantFrom('GET', 'DELETE'),
    path: name.map((n) => `/items/${encodeURIComponent(n)}`),
    body: fc.constant(undefined),
  }),
  fc.record({
    method: fc.constantFrom('GET', 'DELETE'),
    path: fc.constant('/items'),
    body: fc.constant(undefined),
  }),
);
const plausible = fc
  .record({ operation, headers: plausibleHeaders })
  .map(({ operation: op, headers: h }) => ({
    method: op.method,
    path: op.path,
    body: op.body === undefined ? undefined : JSON.stringify(op.body),
    contentType: op.body === undefined ? undefined : 'application/json',
    headers: h,
  }));

const request = fc.oneof(wild, plausible);

describe('fuzzing the API', () => {
  let api: CartApi;
  beforeAll(async () => {
    api = await startCartApi({ cart: { reserveOnAdd: false } });
    await api.post('/items', { name: 'Apple' });
    await api.runtime.scheduler.whenIdle();
  });
  afterAll(async () => {
    await api.close();
  });

  it('answers thousands of random requests without a 5xx, and rejected requests change nothing', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const before = await api.stored();
        const body = r.method === 'GET' || r.method === 'HEAD' ? undefined : r.body; // fetch refuses those
        const res = await api.request(r.method, r.path, {
          ...(body === undefined ? {} : { body }),
          headers: {
            ...r.headers,
            ...(r.contentType === undefined ? {} : { 'content-type': r.contentType }),
          },
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) {
          expect(res.headers.get('content-type')).toBe('application/problem+json');
          expect(await api.stored()).toEqual(before);
        } else {
          await api.runtime.scheduler.whenIdle(); // settle background reservations before the next snapshot
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
    // the fuzzer reached successes and the main kinds of refusal
    const seen = Object.fromEntries(statuses);
    for (const status of [200, 201, 202, 204, 400, 404, 405, 412, 413, 415, 422]) {
      expect(seen, `status ${status} never seen`).toHaveProperty(String(status));
    }
    const alive = await api.get('/items');
    expect(alive.status).toBe(200);
  }, 120_000); // 3,000 real HTTP round trips: a work budget like the e2e fuzz's, not a timing claim
});
