import type { AddressInfo } from 'node:net';
import {
  type CartRuntime,
  type CreateCartOptions,
  createCart,
  InProcessScheduler,
  MemoryCartStorage,
  MemoryReserver,
} from '@cartkit/core';
import express from 'express';
import { type CartRouterOptions, createCartRouter } from '../../src/index.js';
import { OpenApiResponseValidator } from './openapi-response-validator.js';

/** A response as the tests see it (already checked against the OpenAPI document). */
export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The parsed JSON body (`undefined` when empty). */
  // biome-ignore lint/suspicious/noExplicitAny: test convenience for reading bodies
  readonly body: any;
}

/** A request: JSON `json` (sent as application/json) or a raw `body`. */
export interface ApiRequest {
  readonly json?: unknown;
  readonly body?: string | Uint8Array;
  readonly headers?: Record<string, string>;
}

/** A running express app with the cart router, on 127.0.0.1, port 0. */
export interface CartApi {
  /** Base URL of the router (server origin + mount path). */
  readonly url: string;
  readonly runtime: CartRuntime;
  readonly storage: MemoryCartStorage;
  readonly reserver: MemoryReserver;
  readonly validator: OpenApiResponseValidator;
  /** Requests the API; every response is validated against the OpenAPI document. */
  request(method: string, path: string, request?: ApiRequest): Promise<ApiResponse>;
  get(path: string, headers?: Record<string, string>): Promise<ApiResponse>;
  post(path: string, json: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** The stored cart's version (0 if never written) and lines, straight from storage. */
  stored(cartId?: string): Promise<{ version: number; lines: unknown[] }>;
  close(): Promise<void>;
}

/** Options of {@link startCartApi}. */
export interface StartOptions {
  readonly router?: Partial<CartRouterOptions>;
  readonly cart?: CreateCartOptions;
  readonly storage?: MemoryCartStorage;
  readonly reserver?: MemoryReserver;
  readonly mount?: string;
  /** Leave the change feed out of the router (no `GET /events`). */
  readonly withoutEvents?: boolean;
  /** What the router gets as its service (e.g. one that tells when a write reached it). */
  readonly wrapService?: (service: CartRuntime['service']) => CartRouterOptions['service'];
}

/** Starts a real express app with the cart router on a core in-memory cart. */
export async function startCartApi(options: StartOptions = {}): Promise<CartApi> {
  const storage = options.storage ?? new MemoryCartStorage();
  const reserver = options.reserver ?? new MemoryReserver();
  const runtime = await createCart({
    ...options.cart,
    storage,
    reserver,
    scheduler: (deps) => new InProcessScheduler(deps),
  });
  const mount = options.mount ?? '/cart';
  const app = express();
  app.use(
    mount,
    createCartRouter({
      service: options.wrapService?.(runtime.service) ?? runtime.service,
      storage: runtime.storage,
      ...(options.withoutEvents === true ? {} : { changeFeed: runtime.changeFeed }),
      ...options.router,
    }),
  );
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const mountPath = mount === '/' ? '' : mount;
  const url = `http://127.0.0.1:${port}${mountPath}`;
  const document = (await (await fetch(`${url}/openapi.json`)).json()) as Record<string, unknown>;
  const validator = new OpenApiResponseValidator(document);

  const request = async (method: string, path: string, req: ApiRequest = {}) => {
    const headers: Record<string, string> = { ...req.headers };
    let body: string | Uint8Array | undefined = req.body;
    if (req.json !== undefined) {
      body = JSON.stringify(req.json);
      headers['content-type'] ??= 'application/json';
    }
    const target = new URL(`${url}${path}`); // as the client sends it: dot segments resolved
    const response = await fetch(target, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    validator.check({
      method,
      path: target.pathname.slice(mountPath.length) || '/',
      status: response.status,
      headers: response.headers,
      text,
    });
    let parsed: unknown;
    if (text.length > 0 && method !== 'HEAD') parsed = JSON.parse(text);
    return { status: response.status, headers: response.headers, text, body: parsed };
  };

  return {
    url,
    runtime,
    storage,
    reserver,
    validator,
    request,
    get: (path, headers) => request('GET', path, headers === undefined ? {} : { headers }),
    post: (path, json, headers) =>
      request('POST', path, headers === undefined ? { json } : { json, headers }),
    async stored(cartId = 'default') {
      const cart = await storage.getCart(cartId);
      return { version: cart?.version ?? 0, lines: [...(cart?.lines ?? [])] };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.close();
    },
  };
}
