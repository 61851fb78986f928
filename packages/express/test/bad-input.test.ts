import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiRequest, type CartApi, startCartApi } from './support/cart-api.js';

/** One request the API must refuse, and how. */
interface Rejection {
  readonly title: string;
  readonly method: string;
  readonly path: string;
  readonly request?: ApiRequest;
  readonly status: number;
  readonly code: string;
}

const json = (value: unknown, headers: Record<string, string> = {}): ApiRequest => ({
  json: value,
  headers,
});
const raw = (
  body: string | Uint8Array,
  contentType?: string,
  headers: Record<string, string> = {},
): ApiRequest => ({
  body,
  headers: contentType === undefined ? headers : { 'content-type': contentType, ...headers },
});

const REJECTIONS: readonly Rejection[] = [
  // bodies: syntax, media type, size
  {
    title: 'malformed JSON',
    method: 'POST',
    path: '/items',
    request: raw('{"name":', 'application/json'),
    status: 400,
    code: 'MALFORMED_JSON',
  },
  {
    title: 'a JSON string body (valid JSON, not an object)',
    method: 'POST',
    path: '/items',
    request: raw('"Apple"', 'application/json'),
    status: 400,
    code: 'INVALID_BODY',
  },
  {
    title: 'a JSON null body (valid JSON, not an object)',
    method: 'POST',
    path: '/items',
    request: raw('null', 'application/json'),
    status: 400,
    code: 'INVALID_BODY',
  },
  {
    title: 'an empty JSON body',
    method: 'POST',
    path: '/items',
    request: raw('', 'application/json'),
    status: 400,
    code: 'MISSING_BODY',
  },
  {
    title: 'a JSON array body',
    method: 'POST',
    path: '/items',
    request: json([{ name: 'Pear' }]),
    status: 400,
    code: 'INVALID_BODY',
  },
  {
    title: 'text/plain',
    method: 'POST',
    path: '/items',
    request: raw('{"name":"Pear"}', 'text/plain'),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    title: 'a form body',
    method: 'POST',
    path: '/items',
    request: raw('name=Pear', 'application/x-www-form-urlencoded'),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    title: 'no content type',
    method: 'POST',
    path: '/items',
    request: raw(new TextEncoder().encode('{"name":"Pear"}')),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    title: 'no body at all',
    method: 'POST',
    path: '/reserve',
    status: 400,
    code: 'MISSING_BODY',
  },
  {
    title: 'a JSON content type and no body',
    method: 'POST',
    path: '/items',
    request: { headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'MISSING_BODY',
  },
  {
    title: 'a PATCH with a JSON content type and no body',
    method: 'PATCH',
    path: '/items/Apple',
    request: { headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'MISSING_BODY',
  },
  {
    title: 'a non-UTF charset',
    method: 'POST',
    path: '/items',
    request: raw('{"name":"Pear"}', 'application/json; charset=latin1'),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    title: 'a UTF-16 charset (JSON is UTF-8)',
    method: 'POST',
    path: '/items',
    request: raw(
      new Uint8Array(Buffer.from('{"name":"Pear"}', 'utf16le')),
      'application/json; charset=utf-16le',
    ),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    title: 'bytes that are not UTF-8',
    method: 'POST',
    path: '/items',
    request: raw(
      new Uint8Array([...Buffer.from('{"name":"P'), 0xff, ...Buffer.from('"}')]),
      'application/json',
    ),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    title: 'an overlong UTF-8 encoding',
    method: 'PATCH',
    path: '/items/Apple',
    request: raw(
      new Uint8Array([...Buffer.from('{"quantity":2,"x":"'), 0xc0, 0xaf, ...Buffer.from('"}')]),
      'application/merge-patch+json',
    ),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    title: 'an unknown content encoding',
    method: 'POST',
    path: '/items',
    request: raw('{"name":"Pear"}', 'application/json', { 'content-encoding': 'bogus' }),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    title: 'a gzip header on a plain body',
    method: 'POST',
    path: '/items',
    request: raw('{"name":"Pear"}', 'application/json', { 'content-encoding': 'gzip' }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    title: 'a body over the limit',
    method: 'POST',
    path: '/items',
    request: json({ name: 'x'.repeat(17 * 1024) }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  // shape: unknown properties, no mass assignment
  {
    title: 'an unknown property',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Pear', price: 1 }),
    status: 400,
    code: 'UNKNOWN_PROPERTY',
  },
  {
    title: 'a __proto__ property',
    method: 'POST',
    path: '/items',
    request: raw('{"name":"Pear","__proto__":{"quantity":5}}', 'application/json'),
    status: 400,
    code: 'UNKNOWN_PROPERTY',
  },
  {
    title: 'a reservation smuggled into an add',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Pear', reservation: { status: 'reserved' } }),
    status: 400,
    code: 'UNKNOWN_PROPERTY',
  },
  {
    title: 'a name smuggled into a quantity change',
    method: 'PATCH',
    path: '/items/Apple',
    request: json({ quantity: 2, name: 'Pear' }),
    status: 400,
    code: 'UNKNOWN_PROPERTY',
  },
  {
    title: 'a quantity smuggled into a reservation',
    method: 'POST',
    path: '/reserve',
    request: json({ name: 'Apple', quantity: 3 }),
    status: 400,
    code: 'UNKNOWN_PROPERTY',
  },
  // names (core rules)
  {
    title: 'a missing name',
    method: 'POST',
    path: '/items',
    request: json({ quantity: 1 }),
    status: 400,
    code: 'INVALID_ITEM_NAME',
  },
  {
    title: 'a name with a lone surrogate (not valid Unicode)',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Product\ud800' }),
    status: 400,
    code: 'INVALID_ITEM_NAME',
  },
  {
    title: 'a reserve of a name with a lone surrogate',
    method: 'POST',
    path: '/reserve',
    request: json({ name: '\udc00' }),
    status: 400,
    code: 'INVALID_ITEM_NAME',
  },
  {
    title: 'a numeric name',
    method: 'POST',
    path: '/items',
    request: json({ name: 5 }),
    status: 400,
    code: 'INVALID_ITEM_NAME',
  },
  {
    title: 'an empty name',
    method: 'POST',
    path: '/items',
    request: json({ name: '' }),
    status: 400,
    code: 'INVALID_ITEM_NAME',
  },
  {
    title: 'a blank name',
    method: 'POST',
    path: '/items',
    request: json({ name: '   ' }),
    status: 400,
    code: 'INVALID_ITEM_NAME',
  },
  {
    title: 'a name with a control character',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Pe\u0000ar' }),
    status: 400,
    code: 'INVALID_ITEM_NAME',
  },
  {
    title: 'a name over the length limit',
    method: 'POST',
    path: '/items',
    request: json({ name: 'x'.repeat(201) }),
    status: 400,
    code: 'INVALID_ITEM_NAME',
  },
  {
    title: 'a blank name in the path',
    method: 'DELETE',
    path: '/items/%20%20',
    status: 400,
    code: 'INVALID_ITEM_NAME',
  },
  {
    title: 'a control character in the path',
    method: 'GET',
    path: '/items/a%00b',
    status: 400,
    code: 'INVALID_ITEM_NAME',
  },
  {
    title: 'malformed percent-encoding in the path',
    method: 'GET',
    path: '/items/%E0%A4%A',
    status: 400,
    code: 'MALFORMED_URI',
  },
  {
    title: 'a missing reservation name',
    method: 'POST',
    path: '/reserve',
    request: json({}),
    status: 400,
    code: 'INVALID_ITEM_NAME',
  },
  // quantities (core rules)
  {
    title: 'a zero quantity',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Pear', quantity: 0 }),
    status: 400,
    code: 'INVALID_QUANTITY',
  },
  {
    title: 'a negative quantity',
    method: 'PATCH',
    path: '/items/Apple',
    request: json({ quantity: -1 }),
    status: 400,
    code: 'INVALID_QUANTITY',
  },
  {
    title: 'a fractional quantity',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Pear', quantity: 1.5 }),
    status: 400,
    code: 'INVALID_QUANTITY',
  },
  {
    title: 'a quantity as a string',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Pear', quantity: '2' }),
    status: 400,
    code: 'INVALID_QUANTITY',
  },
  {
    title: 'an unsafe integer quantity',
    method: 'POST',
    path: '/items',
    request: raw('{"name":"Pear","quantity":1e300}', 'application/json'),
    status: 400,
    code: 'INVALID_QUANTITY',
  },
  {
    title: 'a missing quantity in a change',
    method: 'PATCH',
    path: '/items/Apple',
    request: json({}),
    status: 400,
    code: 'INVALID_QUANTITY',
  },
  {
    title: 'a quantity over the limit',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Pear', quantity: 10_001 }),
    status: 400,
    code: 'QUANTITY_LIMIT_EXCEEDED',
  },
  {
    title: 'an add that takes a line over the limit',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Apple', quantity: 10_000 }),
    status: 400,
    code: 'QUANTITY_LIMIT_EXCEEDED',
  },
  {
    title: 'a line over the line limit',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Cherry' }),
    status: 400,
    code: 'CART_LINE_LIMIT_EXCEEDED',
  },
  // items that are not there
  {
    title: 'reserving an item not in the cart',
    method: 'POST',
    path: '/reserve',
    request: json({ name: 'Durian' }),
    status: 404,
    code: 'ITEM_NOT_FOUND',
  },
  {
    title: 'reading an item not in the cart',
    method: 'GET',
    path: '/items/Durian',
    status: 404,
    code: 'ITEM_NOT_FOUND',
  },
  {
    title: 'changing an item not in the cart',
    method: 'PATCH',
    path: '/items/Durian',
    request: json({ quantity: 2 }),
    status: 404,
    code: 'ITEM_NOT_FOUND',
  },
  {
    title: 'removing an item not in the cart',
    method: 'DELETE',
    path: '/items/Durian',
    status: 404,
    code: 'ITEM_NOT_FOUND',
  },
  // routes and methods
  { title: 'an unknown route', method: 'GET', path: '/nope', status: 404, code: 'ROUTE_NOT_FOUND' },
  {
    title: 'a route in the wrong case',
    method: 'GET',
    path: '/ITEMS',
    status: 404,
    code: 'ROUTE_NOT_FOUND',
  },
  {
    title: 'a path below an item',
    method: 'DELETE',
    path: '/items/Apple/extra',
    status: 404,
    code: 'ROUTE_NOT_FOUND',
  },
  {
    title: 'PUT on the items',
    method: 'PUT',
    path: '/items',
    request: json({ name: 'Pear' }),
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
  },
  {
    title: 'POST on an item',
    method: 'POST',
    path: '/items/Apple',
    request: json({ quantity: 2 }),
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
  },
  {
    title: 'DELETE on reserve',
    method: 'DELETE',
    path: '/reserve',
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
  },
  {
    title: 'PATCH with text/plain',
    method: 'PATCH',
    path: '/items/Apple',
    request: raw('{"quantity":2}', 'text/plain'),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  // preconditions and idempotency keys
  {
    title: 'a malformed If-Match',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Pear' }, { 'if-match': '3' }),
    status: 400,
    code: 'INVALID_PRECONDITION',
  },
  {
    title: 'an empty If-Match list',
    method: 'DELETE',
    path: '/items',
    request: { headers: { 'if-match': ' , ' } },
    status: 400,
    code: 'INVALID_PRECONDITION',
  },
  {
    title: 'a stale If-Match',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Pear' }, { 'if-match': '"1"' }),
    status: 412,
    code: 'VERSION_MISMATCH',
  },
  {
    title: 'a weak If-Match',
    method: 'DELETE',
    path: '/items',
    request: { headers: { 'if-match': 'W/"2"' } },
    status: 412,
    code: 'VERSION_MISMATCH',
  },
  {
    title: 'a stale If-Match on a change',
    method: 'PATCH',
    path: '/items/Apple',
    request: json({ quantity: 5 }, { 'if-match': '"0"' }),
    status: 412,
    code: 'VERSION_MISMATCH',
  },
  {
    title: 'an Idempotency-Key with a space',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Pear' }, { 'idempotency-key': 'a b' }),
    status: 400,
    code: 'INVALID_IDEMPOTENCY_KEY',
  },
  {
    title: 'an empty quoted Idempotency-Key',
    method: 'POST',
    path: '/reserve',
    request: json({ name: 'Apple' }, { 'idempotency-key': '""' }),
    status: 400,
    code: 'INVALID_IDEMPOTENCY_KEY',
  },
  {
    title: 'an Idempotency-Key over 255 characters',
    method: 'POST',
    path: '/items',
    request: json({ name: 'Pear' }, { 'idempotency-key': 'k'.repeat(256) }),
    status: 400,
    code: 'INVALID_IDEMPOTENCY_KEY',
  },
];

describe('bad input', () => {
  let api: CartApi;
  let before: Awaited<ReturnType<CartApi['stored']>>;

  beforeAll(async () => {
    api = await startCartApi({ cart: { limits: { maxLines: 2 } } });
    expect((await api.post('/items', { name: 'Apple' })).status).toBe(201);
    expect((await api.post('/items', { name: 'Banana' })).status).toBe(201);
    await api.runtime.scheduler.whenIdle();
    before = await api.stored();
    expect(before.version).toBe(4); // two adds, two reservations recorded
  });
  afterAll(async () => {
    await api.close();
  });

  it.each(REJECTIONS)(
    'refuses $title with $status $code and changes nothing',
    async (rejection) => {
      const res = await api.request(rejection.method, rejection.path, rejection.request);
      expect({ status: res.status, code: res.body?.code }).toEqual({
        status: rejection.status,
        code: rejection.code,
      });
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body).toMatchObject({ type: 'about:blank', status: rejection.status });
      // One sentence style: a capitalised sentence ending in a full stop, our own words.
      expect(res.body.detail).toMatch(/^[A-Z"][^\n]*\.$/);
      expect(res.text).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack trace
      expect(res.body).not.toHaveProperty('stack');
      await api.runtime.scheduler.whenIdle();
      expect(await api.stored()).toEqual(before);
    },
  );

  it('sends Allow with 405 and answers OPTIONS with the methods of a route', async () => {
    const put = await api.request('PUT', '/items', { json: { name: 'Pear' } });
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST, DELETE, OPTIONS');
    const options = await api.request('OPTIONS', '/items/Apple');
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('GET, HEAD, PATCH, DELETE, OPTIONS');
  });

  it('lists every body problem with a JSON pointer', async () => {
    const res = await api.post('/items', { name: 7, quantity: 0, 'a/b~c': true });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('INVALID_ITEM_NAME');
    expect(res.body.errors).toEqual([
      { pointer: '/name', code: 'INVALID_ITEM_NAME', detail: 'Item name must be a string.' },
      {
        pointer: '/quantity',
        code: 'INVALID_QUANTITY',
        detail: 'Quantity must be a positive integer.',
      },
      {
        pointer: '/a~1b~0c',
        code: 'UNKNOWN_PROPERTY',
        detail: 'Property "a/b~c" is not allowed here.',
      },
    ]);
  });

  it('gives the same errors[] shape when the cart rules (not the schema) refuse a field', async () => {
    const res = await api.post('/items', { name: 'Apple', quantity: 10_000 });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('QUANTITY_LIMIT_EXCEEDED');
    expect(res.body.errors).toEqual([
      { pointer: '/quantity', code: 'QUANTITY_LIMIT_EXCEEDED', detail: res.body.detail },
    ]);
  });

  it('names the limit of a body that is too large', async () => {
    const res = await api.post('/items', { name: 'x'.repeat(20_000) });
    expect(res.status).toBe(413);
    expect(res.body.limit).toBe(16 * 1024);
  });
});

describe('problem documents: one shape, our own words', () => {
  let api: CartApi;
  beforeAll(async () => {
    api = await startCartApi({ cart: { limits: { maxLines: 5, maxQuantity: 10 } } });
    expect((await api.post('/items', { name: 'Apple', quantity: 10 })).status).toBe(201);
    await api.runtime.scheduler.whenIdle();
  });
  afterAll(async () => {
    await api.close();
  });

  const BASE = ['code', 'detail', 'status', 'title', 'type'];

  it.each([
    ['an empty name', { name: '' }, '/name'],
    ['a blank name', { name: '   ' }, '/name'],
    ['an invisible name', { name: '\u200b\u200d' }, '/name'],
    ['a long name', { name: 'x'.repeat(201) }, '/name'],
    ['a missing name', {}, '/name'],
    ['a numeric name', { name: 7 }, '/name'],
    ['a name with a control character', { name: 'a\u0001b' }, '/name'],
    ['a zero quantity', { name: 'Pear', quantity: 0 }, '/quantity'],
    ['a fractional negative quantity', { name: 'Pear', quantity: -1.5 }, '/quantity'],
    ['a quantity over the limit', { name: 'Pear', quantity: 11 }, '/quantity'],
    ['an add over the limit of a line', { name: 'Apple' }, '/quantity'],
    ['an unknown property', { name: 'Pear', price: 1 }, '/price'],
  ])(
    '%s: exactly type, title, status, detail, code and errors[] (one per pointer)',
    async (_title, body, pointer) => {
      const res = await api.post('/items', body);
      expect(res.status).toBe(400);
      expect(Object.keys(res.body).sort()).toEqual([...BASE, 'errors'].sort());
      expect(res.body.errors).toEqual([{ pointer, code: res.body.code, detail: res.body.detail }]);
    },
  );

  it('several problems: one entry per pointer, the first is the headline', async () => {
    const res = await api.post('/items', { name: '', quantity: -1.5, extra: 1 });
    expect(Object.keys(res.body).sort()).toEqual([...BASE, 'errors'].sort());
    const pointers = res.body.errors.map((e: { pointer: string }) => e.pointer);
    expect(pointers).toEqual(['/name', '/quantity', '/extra']);
    expect(res.body.errors[0]).toEqual({
      pointer: '/name',
      code: res.body.code,
      detail: res.body.detail,
    });
    for (const entry of res.body.errors)
      expect(Object.keys(entry).sort()).toEqual(['code', 'detail', 'pointer']);
  });

  it('two Idempotency-Key lines are told apart from one malformed key', async () => {
    const { port, pathname } = new URL(api.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.setEncoding('latin1');
    let received = '';
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    await once(socket, 'connect');
    const body = '{"name":"Pear"}';
    socket.write(
      `POST ${pathname}/items HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
        'Idempotency-Key: k1\r\nIdempotency-Key: k1\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${body.length}\r\n\r\n${body}`,
    );
    await once(socket, 'close');
    const [head = '', text = ''] = received.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(text)).toMatchObject({
      code: 'INVALID_IDEMPOTENCY_KEY',
      detail: 'Send one Idempotency-Key header, not 2.',
    });
    // One line with a comma is still one (malformed) key.
    const res = await api.post('/items', { name: 'Pear' }, { 'idempotency-key': 'k1, k1' });
    expect(res.body.detail).toBe(
      'Idempotency-Key must be 1 to 255 characters of A-Z a-z 0-9 . _ ~ : + / = -.',
    );
  });

  it('a bad name in the URL is not a body problem: no errors[]', async () => {
    const res = await api.request('PATCH', '/items/%E2%80%8B', { json: { quantity: 2 } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('INVALID_ITEM_NAME');
    expect(Object.keys(res.body).sort()).toEqual(BASE);
  });

  it('QUANTITY_LIMIT_EXCEEDED on an add names the current quantity and the resulting total', async () => {
    const res = await api.post('/items', { name: 'Apple', quantity: 3 });
    expect(res.body.code).toBe('QUANTITY_LIMIT_EXCEEDED');
    expect(res.body.detail).toBe(
      'Quantity must be at most 10: "Apple" has 10, and adding 3 would make 13.',
    );
  });

  it('a non-UTF-8 charset gets our own 415 sentence, not the parser text', async () => {
    const res = await api.request('POST', '/items', {
      body: '{"name":"Pear"}',
      headers: { 'content-type': 'application/json; charset=latin1' },
    });
    expect(res.status).toBe(415);
    expect(res.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(res.body.detail).toBe(
      'The request body must be JSON in UTF-8; send Content-Type: application/json without another charset.',
    );
    expect(res.text).not.toMatch(/LATIN1|unsupported charset/i);
  });

  it('bytes that are not UTF-8 are refused, not turned into U+FFFD (two such names would be one line)', async () => {
    for (const bad of [
      [0xff, 0xfe],
      [0xc0, 0xaf],
    ]) {
      const res = await api.request('POST', '/items', {
        body: new Uint8Array([...Buffer.from('{"name":"'), ...bad, ...Buffer.from('"}')]),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(415);
      expect(res.body.detail).toBe('The request body is not valid UTF-8.');
    }
    const ok = await api.request('POST', '/items', {
      body: new Uint8Array(Buffer.from('{"name":"Crème brûlée 🍮"}')),
      headers: { 'content-type': 'application/json; charset=UTF-8' },
    });
    expect(ok.status).toBe(201);
    expect(ok.body.item.name).toBe('Crème brûlée 🍮');
  });

  it('a body that does not match its Content-Encoding gets our own sentence, not zlib text', async () => {
    const res = await api.request('POST', '/items', {
      body: '{"name":"Pear"}',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    expect(res.status).toBe(400);
    expect(res.text).not.toMatch(/incorrect header check/);
  });

  it('a POST with no Content-Length and no body (curl -X POST) is MISSING_BODY, not 415', async () => {
    const { hostname, port, pathname } = new URL(`${api.url}/items`);
    const socket = connect(Number(port), hostname);
    socket.setEncoding('utf8');
    let text = '';
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    await once(socket, 'connect');
    socket.write(
      `POST ${pathname} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n`,
    );
    await once(socket, 'close');
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain('"code":"MISSING_BODY"');
  });
});
