import { createCart, defaultCartLimits } from '@cartkit/core';
import type { Router } from 'express';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApiDocument, createCartRouter } from '../src/index.js';
import { type CartApi, startCartApi } from './support/cart-api.js';
import { OpenApiResponseValidator } from './support/openapi-response-validator.js';

type Json = Record<string, unknown>;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let api: CartApi;
let document: Json;
beforeAll(async () => {
  api = await startCartApi();
  document = api.validator.document;
});
afterAll(async () => {
  await api.close();
});

function operations(doc: Json): { path: string; method: string; operation: Json }[] {
  return Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({ path, method, operation: operation as Json })),
  );
}

/** Every JSON Pointer at which a value is found, depth first. */
function walk(value: unknown, at: string[] = [], out: { at: string[]; value: unknown }[] = []) {
  out.push({ at, value });
  if (typeof value === 'object' && value !== null) {
    for (const [key, child] of Object.entries(value)) walk(child, [...at, key], out);
  }
  return out;
}

function resolve(doc: Json, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>((node, key) => (node as Json | undefined)?.[key], doc);
}

/** The routes an express router serves: `/items/:name` → `/items/{name}`. */
function servedRoutes(router: Router): string[] {
  return router.stack.flatMap((layer) => {
    const route = layer.route as { path: string; methods: Record<string, boolean> } | undefined;
    if (route === undefined) return [];
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    return Object.keys(route.methods)
      .filter((method) => method !== '_all')
      .map((method) => `${method} ${path}`);
  });
}

describe('the OpenAPI document', () => {
  it('has the outline of an OpenAPI 3.1 document', () => {
    expect(document.openapi).toMatch(/^3\.1\.\d+$/);
    expect(document.jsonSchemaDialect).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(document.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(document.servers).toEqual([{ url: '/cart' }]);
    const ops = operations(document);
    expect(ops.length).toBeGreaterThanOrEqual(8);
    const ids = ops.map((op) => op.operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { operation } of ops) {
      expect(Object.keys(operation.responses as Json).length).toBeGreaterThan(0);
      for (const [status, response] of Object.entries(operation.responses as Json)) {
        expect(status).toMatch(/^[1-5]\d\d$/);
        const resolved = (
          (response as Json).$ref === undefined
            ? response
            : resolve(document, (response as Json).$ref as string)
        ) as Json;
        expect(resolved.description).toEqual(expect.any(String));
      }
    }
    // every path parameter is declared
    for (const [path, item] of Object.entries(document.paths as Json)) {
      for (const [, name] of path.matchAll(/\{(\w+)\}/g)) {
        const declared = ((item as Json).parameters as Json[]).map((p) =>
          p.$ref === undefined ? p : (resolve(document, p.$ref as string) as Json),
        );
        expect(declared).toContainEqual(
          expect.objectContaining({ name, in: 'path', required: true }),
        );
      }
    }
  });

  it('has no dangling $ref', () => {
    const refs = walk(document).filter(
      ({ at, value }) => at.at(-1) === '$ref' && typeof value === 'string',
    );
    expect(refs.length).toBeGreaterThan(20);
    for (const { value } of refs) {
      expect(value as string).toMatch(/^#\/components\//);
      expect(resolve(document, value as string), value as string).toBeDefined();
    }
  });

  it('has schemas that all compile with ajv (JSON Schema 2020-12)', () => {
    const schemaPointers = walk(document)
      .filter(
        ({ at }) =>
          at.at(-1) === 'schema' ||
          (at[0] === 'components' && at[1] === 'schemas' && at.length === 3),
      )
      .map(({ at }) => at);
    expect(schemaPointers.length).toBeGreaterThan(30);
    for (const at of schemaPointers)
      expect(() => api.validator.compile(...at), at.join('/')).not.toThrow();
  });

  it('documents every route the router serves, and the router serves every documented route', async () => {
    const runtime = await createCart();
    try {
      const router = createCartRouter({
        service: runtime.service,
        storage: runtime.storage,
        changeFeed: runtime.changeFeed,
      });
      const served = servedRoutes(router).sort();
      const documented = operations(document)
        .map(({ path, method }) => `${method} ${path}`)
        .sort();
      expect(served).toEqual(documented);
      expect(served).toContain('patch /items/{name}');
      expect(served).toContain('get /events');
      const withoutFeed = createCartRouter({ service: runtime.service, storage: runtime.storage });
      expect(servedRoutes(withoutFeed)).not.toContain('get /events');
    } finally {
      await runtime.close();
    }
  });

  it('reflects the service limits in the request schemas', async () => {
    const doc = buildOpenApiDocument({
      limits: { ...defaultCartLimits, maxQuantity: 5, maxNameLength: 40 },
    });
    const schemas = (doc.components as Json).schemas as Json;
    expect(schemas.AddItemRequest).toMatchObject({
      properties: { name: { maxLength: 40 }, quantity: { maximum: 5, default: 1 } },
      required: ['name'],
      additionalProperties: false,
    });
    expect(schemas.SetQuantityRequest).toMatchObject({ required: ['quantity'] });
    const small = await startCartApi({ cart: { limits: { maxQuantity: 5 } } });
    try {
      const served = small.validator.document;
      expect(((served.components as Json).schemas as Json).AddItemRequest).toMatchObject({
        properties: { quantity: { maximum: 5 } },
      });
    } finally {
      await small.close();
    }
  });

  it('can be renamed or left out', async () => {
    const named = await startCartApi({
      router: { openApi: { title: 'Shop cart', version: '2.0.0' } },
      mount: '/',
    });
    try {
      expect(named.validator.document.info).toMatchObject({ title: 'Shop cart', version: '2.0.0' });
      expect(named.validator.document.servers).toEqual([{ url: '/' }]);
    } finally {
      await named.close();
    }
    const runtime = await createCart();
    const router = createCartRouter({
      service: runtime.service,
      storage: runtime.storage,
      openApi: false,
    });
    expect(servedRoutes(router)).not.toContain('get /openapi.json');
    await runtime.close();
  });

  it('never lets the server accept an add body the document calls invalid', async () => {
    const validate = api.validator.compile('components', 'schemas', 'AddItemRequest');
    const body = fc.oneof(
      fc.record(
        {
          name: fc.oneof(fc.string(), fc.constantFrom('Apple', ' Apple ', ''), fc.anything()),
          quantity: fc.oneof(fc.integer({ min: -2, max: 10_002 }), fc.double(), fc.anything()),
        },
        { requiredKeys: [] },
      ),
      fc.dictionary(fc.string(), fc.anything()),
      fc.anything(),
    );
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        const res = await api.request('POST', '/items', {
          body: JSON.stringify(value) ?? 'null',
          headers: { 'content-type': 'application/json' },
        });
        expect(res.status).toBeLessThan(500);
        if (res.status === 201) expect(validate(JSON.parse(JSON.stringify(value)))).toBe(true);
        if (!validate(JSON.parse(JSON.stringify(value) ?? 'null'))) expect(res.status).toBe(400);
        await api.request('DELETE', '/items');
      }),
      { numRuns: 200, seed: 20_260_102 },
    );
  });
});

describe('the response validator', () => {
  const headers = (entries: Record<string, string>) => new Headers(entries);
  const item = {
    name: 'Apple',
    quantity: 1,
    reservation: null,
    addedAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
  const ok = {
    method: 'GET',
    path: '/items/Apple',
    status: 200,
    headers: headers({ 'content-type': 'application/json', etag: '"1"' }),
    text: JSON.stringify({ item, version: 1 }),
  };

  it('accepts a conforming response', () => {
    expect(new OpenApiResponseValidator(document).problems(ok)).toEqual([]);
  });

  it.each([
    ['an undocumented status', { status: 418 }],
    ['a missing required header', { headers: headers({ 'content-type': 'application/json' }) }],
    [
      'a malformed ETag',
      { headers: headers({ 'content-type': 'application/json', etag: 'W/"1"' }) },
    ],
    ['another content type', { headers: headers({ 'content-type': 'text/html', etag: '"1"' }) }],
    ['a missing member', { text: JSON.stringify({ item }) }],
    ['an extra member', { text: JSON.stringify({ item: { ...item, price: 3 }, version: 1 }) }],
    [
      'a bad timestamp',
      { text: JSON.stringify({ item: { ...item, addedAt: 'yesterday' }, version: 1 }) },
    ],
    ['a 404 that is not a problem document', { status: 404, text: '{}' }],
    ['an undocumented route answering 200', { path: '/elsewhere' }],
    [
      'a 405 without Allow',
      {
        method: 'PUT',
        status: 405,
        text: JSON.stringify({
          type: 'about:blank',
          title: 'x',
          status: 405,
          detail: 'x',
          code: 'METHOD_NOT_ALLOWED',
        }),
        headers: headers({ 'content-type': 'application/problem+json' }),
      },
    ],
  ])('rejects %s', (_title, change) => {
    expect(new OpenApiResponseValidator(document).problems({ ...ok, ...change })).not.toEqual([]);
  });
});
