import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCart } from '@cartkit/core';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type AppDependencies, createApp } from '../src/app.js';
import { readConfig } from '../src/config.js';
import { CART_COOKIE } from '../src/identity.js';
import { describeBrowser, launchBrowser } from './support/browser.js';
import { startTestServer } from './support/in-process-server.js';
import { startServerProcess } from './support/server-process.js';

const COOKIE_SECRET = 'cookie-secret-of-at-least-32-bytes!!';
const JWT_SECRET = 'jwt-secret-of-at-least-thirty-two-bytes';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

type Identity = Pick<AppDependencies, 'cartIdentity' | 'cookieIdentity' | 'jwtIdentity'>;

/** The example app on a loopback port, with memory storage; answers its URL and the cart service. */
async function serve(identity: Identity) {
  const cart = await createCart({ reserveOnAdd: false });
  const app = createApp({
    service: cart.service,
    storage: cart.storage,
    changeFeed: cart.changeFeed,
    logger: pino({ level: 'silent' }),
    rateLimitPerMinute: 0,
    isReady: () => true,
    ...identity,
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  closers.push(async () => {
    await new Promise((resolve) => server.close(resolve));
    await cart.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, cart };
}

const cookieMode = (secret = COOKIE_SECRET, previousSecret?: string): Identity => ({
  cartIdentity: 'cookie',
  cookieIdentity: { secret, previousSecret, secure: false, maxAgeDays: 30 },
});

/** `name=value` of the response's cart cookie, or undefined when it set none. */
function cartCookie(res: Response): string | undefined {
  const line = res.headers.getSetCookie().find((c) => c.startsWith(`${CART_COOKIE}=`));
  return line?.split(';')[0];
}

describe('CART_IDENTITY=cookie', () => {
  it('gives a first GET a signed guest cookie (HttpOnly, SameSite=Lax, Path=/, Max-Age) and stores nothing', async () => {
    const { url, cart } = await serve(cookieMode());
    const res = await fetch(`${url}/items`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ items: [], version: 0 });
    const [line, ...others] = res.headers.getSetCookie();
    expect(others).toEqual([]);
    expect(line).toMatch(
      new RegExp(
        `^${CART_COOKIE}=[0-9a-f-]{36}\\.[^;]+; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax$`,
      ),
    );
    const value = decodeURIComponent(line?.split(';')[0]?.slice(CART_COOKIE.length + 1) ?? '');
    const cartId = /^([0-9a-f-]{36})\.[A-Za-z0-9+/]{43}$/.exec(value)?.[1] ?? '';
    expect(cartId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    // The GET made an identity, not a cart: nothing is stored until the first change.
    expect(await cart.storage.getCart(cartId)).toBeUndefined();
    // Health checks never set one.
    expect((await fetch(`${url}/health/live`)).headers.getSetCookie()).toEqual([]);
  });

  it('keeps two cookies on two carts, and a known cookie is not re-issued', async () => {
    const { url } = await serve(cookieMode());
    const alice = cartCookie(await fetch(`${url}/items`));
    const bob = cartCookie(await fetch(`${url}/items`));
    expect(alice).toBeDefined();
    expect(bob).toBeDefined();
    expect(alice).not.toBe(bob);
    const add = (cookie: string, name: string) =>
      fetch(`${url}/items`, {
        method: 'POST',
        headers: { cookie: cookie, 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
    const added = await add(alice ?? '', 'Apple');
    expect(added.status).toBe(201);
    expect(cartCookie(added)).toBeUndefined();
    expect((await add(bob ?? '', 'Pear')).status).toBe(201);
    const items = async (cookie: string) =>
      (
        (await (await fetch(`${url}/items`, { headers: { cookie } })).json()) as {
          items: Array<{ name: string }>;
        }
      ).items.map((i) => i.name);
    expect(await items(alice ?? '')).toEqual(['Apple']);
    expect(await items(bob ?? '')).toEqual(['Pear']);
    expect(
      (await fetch(`${url}/items/Apple`, { method: 'DELETE', headers: { cookie: bob ?? '' } }))
        .status,
    ).toBe(404);
    expect(await items(alice ?? '')).toEqual(['Apple']);
  });

  it('ignores a tampered or foreign cookie: a fresh guest cart, never the signed one', async () => {
    const { url } = await serve(cookieMode());
    const alice = cartCookie(await fetch(`${url}/items`)) ?? '';
    const added = await fetch(`${url}/items`, {
      method: 'POST',
      headers: { cookie: alice, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Apple' }),
    });
    expect(added.status).toBe(201);
    const value = decodeURIComponent(alice.slice(CART_COOKIE.length + 1));
    const dot = value.lastIndexOf('.');
    const aliceId = value.slice(0, dot);
    const signature = value.slice(dot + 1);
    // Alice's id with a signature made with another secret (another deployment's cookie).
    const foreign = `${aliceId}.${createHmac('sha256', 'another-secret-of-at-least-32-bytes!!').update(aliceId).digest('base64').replace(/=+$/, '')}`;
    const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    const forgeries = [
      foreign,
      `${aliceId}.${flipped}`, // a changed signature
      `${aliceId.slice(0, -1)}${aliceId.endsWith('0') ? '1' : '0'}.${signature}`, // a changed id
      aliceId, // no signature
      `${aliceId}.`,
    ];
    const seen = new Set<string>();
    for (const forged of forgeries) {
      const res = await fetch(`${url}/items`, {
        headers: { cookie: `${CART_COOKIE}=${encodeURIComponent(forged)}` },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ items: [], version: 0 });
      const fresh = cartCookie(res);
      expect(fresh).toBeDefined();
      expect(fresh).not.toBe(alice);
      seen.add(fresh ?? '');
    }
    expect(seen.size).toBe(forgeries.length);
    // A write with a forged cookie lands in a fresh cart too; Alice's is untouched.
    const forgedWrite = await fetch(`${url}/items`, {
      method: 'DELETE',
      headers: { cookie: `${CART_COOKIE}=${encodeURIComponent(`${aliceId}.${flipped}`)}` },
    });
    expect(forgedWrite.status).toBe(204);
    const mine = await fetch(`${url}/items`, { headers: { cookie: alice } });
    expect(((await mine.json()) as { items: unknown[] }).items).toHaveLength(1);
  });

  it('rotates COOKIE_SECRET: a cookie signed with COOKIE_SECRET_PREVIOUS keeps its cart and is re-signed', async () => {
    const OLD = 'the-old-cookie-secret-being-rotated-out';
    // Three apps on one cart service: before, during and after the rotation.
    const cart = await createCart({ reserveOnAdd: false });
    closers.push(() => cart.close());
    const appOn = async (identity: Identity) => {
      const app = createApp({
        service: cart.service,
        storage: cart.storage,
        logger: pino({ level: 'silent' }),
        rateLimitPerMinute: 0,
        isReady: () => true,
        ...identity,
      });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      closers.push(() => new Promise((resolve) => server.close(() => resolve())));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    };
    const before = await appOn(cookieMode(OLD));
    const during = await appOn(cookieMode(COOKIE_SECRET, OLD));
    const after = await appOn(cookieMode(COOKIE_SECRET));
    const oldCookie = cartCookie(await fetch(`${before}/items`)) ?? '';
    const added = await fetch(`${before}/items`, {
      method: 'POST',
      headers: { cookie: oldCookie, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Apple' }),
    });
    expect(added.status).toBe(201);
    const names = async (res: Response) =>
      ((await res.json()) as { items: Array<{ name: string }> }).items.map((i) => i.name);

    // The new secret alone does not know the old cookie: a fresh cart.
    const lost = await fetch(`${after}/items`, { headers: { cookie: oldCookie } });
    expect(await names(lost)).toEqual([]);
    // With the old one as COOKIE_SECRET_PREVIOUS: the same cart, and a cookie under the new secret.
    const kept = await fetch(`${during}/items`, { headers: { cookie: oldCookie } });
    expect(await names(kept)).toEqual(['Apple']);
    const resigned = cartCookie(kept) ?? '';
    expect(resigned).not.toBe(oldCookie);
    expect(resigned.slice(0, CART_COOKIE.length + 37)).toBe(
      oldCookie.slice(0, CART_COOKIE.length + 37),
    );
    const later = await fetch(`${after}/items`, { headers: { cookie: resigned } });
    expect(await names(later)).toEqual(['Apple']);
    expect(cartCookie(later)).toBeUndefined();
  });

  it('sends Secure when configured', async () => {
    const { url } = await serve({
      cartIdentity: 'cookie',
      cookieIdentity: {
        secret: COOKIE_SECRET,
        previousSecret: undefined,
        secure: true,
        maxAgeDays: 1,
      },
    });
    const [line] = (await fetch(`${url}/items`)).headers.getSetCookie();
    expect(line).toMatch(/; Max-Age=86400; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
  });
});

const jwtMode = (extra: { issuer?: string; audience?: string } = {}): Identity => ({
  cartIdentity: 'jwt',
  jwtIdentity: {
    secret: JWT_SECRET,
    jwksUrl: undefined,
    issuer: extra.issuer,
    audience: extra.audience,
  },
});

/** An HS256 token for `sub` (none when `sub` is undefined), valid for an hour unless `exp` says otherwise. */
function token(
  sub: string | undefined,
  options: { secret?: string; exp?: number; iss?: string; aud?: string } = {},
): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (sub !== undefined) jwt.setSubject(sub);
  if (options.iss !== undefined) jwt.setIssuer(options.iss);
  if (options.aud !== undefined) jwt.setAudience(options.aud);
  jwt.setExpirationTime(options.exp ?? '1h');
  return jwt.sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
}

describe('CART_IDENTITY=jwt', () => {
  it("keeps sub A's cart away from sub B", async () => {
    const { url } = await serve(jwtMode());
    const alice = { authorization: `Bearer ${await token('alice')}` };
    const bob = { authorization: `Bearer ${await token('bob')}` };
    const added = await fetch(`${url}/items`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Apple' }),
    });
    expect(added.status).toBe(201);
    expect(await (await fetch(`${url}/items`, { headers: bob })).json()).toEqual({
      items: [],
      version: 0,
    });
    expect((await fetch(`${url}/items/Apple`, { headers: bob })).status).toBe(404);
    expect((await fetch(`${url}/items`, { method: 'DELETE', headers: bob })).status).toBe(204);
    const mine = (await (await fetch(`${url}/items`, { headers: alice })).json()) as {
      items: unknown[];
    };
    expect(mine.items).toHaveLength(1);
    expect(added.headers.getSetCookie()).toEqual([]);
  });

  it('answers 401 UNAUTHENTICATED problem+json with a Bearer challenge, never 500', async () => {
    const { url, cart } = await serve(jwtMode({ issuer: 'https://id.example', audience: 'shop' }));
    const good = { iss: 'https://id.example', aud: 'shop' };
    const past = Math.floor(Date.UTC(2020, 0, 1) / 1000);
    const cases: Array<[Record<string, string>, RegExp, string]> = [
      [{}, /^Bearer realm="cartkit-example"$/, 'Send an Authorization: Bearer <token> header.'],
      [
        { authorization: 'Basic YWxpY2U6c2VjcmV0' },
        /error="invalid_request"/,
        'The Authorization header must be "Bearer <token>".',
      ],
      [{ authorization: 'Bearer not-a-jwt' }, /error="invalid_token"/, 'The token is not valid.'],
      [
        { authorization: `Bearer ${await token('alice', { ...good, secret: 'x'.repeat(32) })}` },
        /error="invalid_token"/,
        'The token is not valid.',
      ],
      [
        { authorization: `Bearer ${await token('alice', { ...good, exp: past })}` },
        /error="invalid_token", error_description="The token has expired."/,
        'The token has expired.',
      ],
      [
        { authorization: `Bearer ${await token('alice', { ...good, iss: 'https://evil' })}` },
        /error="invalid_token"/,
        "The token's iss claim is not accepted.",
      ],
      [
        { authorization: `Bearer ${await token('alice', { ...good, aud: 'other' })}` },
        /error="invalid_token"/,
        "The token's aud claim is not accepted.",
      ],
      [
        { authorization: `Bearer ${await token(undefined, good)}` },
        /error="invalid_token"/,
        'The token has no usable sub claim (the cart id).',
      ],
    ];
    for (const [headers, challenge, detail] of cases) {
      for (const method of ['GET', 'POST']) {
        const res = await fetch(`${url}/items`, {
          method,
          headers: { ...headers, 'content-type': 'application/json' },
          ...(method === 'POST' ? { body: JSON.stringify({ name: 'Apple' }) } : {}),
        });
        expect({ method, detail, status: res.status }).toEqual({ method, detail, status: 401 });
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(res.headers.get('www-authenticate')).toMatch(challenge);
        expect(await res.json()).toMatchObject({ status: 401, code: 'UNAUTHENTICATED', detail });
      }
    }
    const ok = await fetch(`${url}/items`, {
      headers: { authorization: `Bearer ${await token('alice', good)}` },
    });
    expect(ok.status).toBe(200);
    expect(await cart.storage.getCart('alice')).toBeUndefined();
  });
});

describe('CART_IDENTITY=jwt: the sub is held to the cart-id rules X-Cart-Id is held to', () => {
  // A blank sub would be one cart shared by every such token: as X-Cart-Id, whose
  // blank value is refused (400 INVALID_CART_ID), a token with one is refused (401).
  const invalidIds: Array<[string, string]> = [
    ['only spaces', '   '],
    ['only a tab and spaces', ' \t '],
    ['Unicode spaces and invisible characters', '\u00a0\u3000\u200b\ufeff'],
    ['a control character', 'alice\u0007'],
    ['too long', 'a'.repeat(257)],
  ];

  it('answers 401 UNAUTHENTICATED (invalid_token) for a sub that is not a valid cart id, and writes nothing', async () => {
    const { url, cart } = await serve(jwtMode());
    for (const [label, sub] of invalidIds) {
      const headers = {
        authorization: `Bearer ${await token(sub)}`,
        'content-type': 'application/json',
      };
      for (const method of ['GET', 'POST']) {
        const res = await fetch(`${url}/items`, {
          method,
          headers,
          ...(method === 'POST' ? { body: JSON.stringify({ name: 'Apple' }) } : {}),
        });
        expect({ label, method, status: res.status }).toEqual({ label, method, status: 401 });
        expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
        expect(await res.json()).toMatchObject({
          code: 'UNAUTHENTICATED',
          detail: 'The token has no usable sub claim (the cart id).',
        });
      }
      expect(await cart.storage.getCart(sub)).toBeUndefined();
    }
    const ok = await fetch(`${url}/items`, {
      headers: { authorization: `Bearer ${await token(' alice ')}` },
    });
    expect(ok.status).toBe(200);
  });

  it('header mode refuses the same ids in X-Cart-Id with 400 INVALID_CART_ID', async () => {
    const { url, cart } = await serve({ cartIdentity: 'header' });
    // Node trims spaces and tabs around a header value, so a blank X-Cart-Id arrives
    // empty; the Unicode spaces arrive as sent (Latin-1 bytes: only those expressible).
    for (const [label, id] of [
      ['only spaces', '   '],
      ['a no-break space', '\u00a0'],
      ['too long', 'a'.repeat(257)],
    ]) {
      const res = await fetch(`${url}/items`, {
        method: 'POST',
        headers: { 'x-cart-id': id as string, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Apple' }),
      });
      expect({ label, status: res.status }).toEqual({ label, status: 400 });
      expect(await res.json()).toMatchObject({ code: 'INVALID_CART_ID' });
    }
    expect(await cart.storage.getCart('\u00a0')).toBeUndefined();
    expect(await cart.storage.getCart('')).toBeUndefined();
  });
});

describe('CART_IDENTITY=jwt with JWT_JWKS_URL', () => {
  it('verifies tokens with the published keys, and refuses HS256 and alg none tokens', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwks = JSON.stringify({
      keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }],
    });
    const keyServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(jwks);
    });
    keyServer.listen(0, '127.0.0.1');
    await new Promise((resolve) => keyServer.once('listening', resolve));
    closers.push(() => new Promise((resolve) => keyServer.close(() => resolve())));
    const jwksUrl = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}/jwks.json`;
    const { url } = await serve({
      cartIdentity: 'jwt',
      jwtIdentity: { secret: undefined, jwksUrl, issuer: undefined, audience: undefined },
    });
    const es256 = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setSubject('carol')
      .setExpirationTime('1h')
      .sign(privateKey);
    const ok = await fetch(`${url}/items`, { headers: { authorization: `Bearer ${es256}` } });
    expect(ok.status).toBe(200);

    const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
    const unsigned = `${encode({ alg: 'none' })}.${encode({ sub: 'carol' })}.`;
    for (const forged of [await token('carol'), unsigned]) {
      const res = await fetch(`${url}/items`, { headers: { authorization: `Bearer ${forged}` } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
      expect(await res.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
  });
});

describe('CART_IDENTITY=jwt when JWT_JWKS_URL cannot be fetched', () => {
  it('answers 503 IDENTITY_PROVIDER_UNAVAILABLE (not 401, not 500): unreachable or not a key set', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await new Promise((resolve) => closed.once('listening', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const notKeys = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"hello":"world"}');
    });
    notKeys.listen(0, '127.0.0.1');
    await new Promise((resolve) => notKeys.once('listening', resolve));
    closers.push(() => new Promise((resolve) => notKeys.close(() => resolve())));
    const { privateKey } = await generateKeyPair('ES256');
    const es256 = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setSubject('carol')
      .setExpirationTime('1h')
      .sign(privateKey);
    for (const jwksUrl of [
      `http://127.0.0.1:${closedPort}/jwks.json`,
      `http://127.0.0.1:${(notKeys.address() as AddressInfo).port}/jwks.json`,
    ]) {
      const { url } = await serve({
        cartIdentity: 'jwt',
        jwtIdentity: { secret: undefined, jwksUrl, issuer: undefined, audience: undefined },
      });
      const res = await fetch(`${url}/items`, { headers: { authorization: `Bearer ${es256}` } });
      expect({ jwksUrl, status: res.status }).toEqual({ jwksUrl, status: 503 });
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.json()).toMatchObject({ code: 'IDENTITY_PROVIDER_UNAVAILABLE' });
    }
  });
});

describe('identity configuration', () => {
  it('requires COOKIE_SECRET (at least 32 bytes) with CART_IDENTITY=cookie', () => {
    expect(() => readConfig({ CART_IDENTITY: 'cookie' })).toThrow(
      /COOKIE_SECRET: COOKIE_SECRET is required with CART_IDENTITY=cookie/,
    );
    expect(() => readConfig({ CART_IDENTITY: 'cookie', COOKIE_SECRET: 'short' })).toThrow(
      /COOKIE_SECRET must be at least 32 bytes long/,
    );
    expect(() =>
      readConfig({ CART_IDENTITY: 'cookie', COOKIE_SECRET, COOKIE_SECURE: 'yes' }),
    ).toThrow(/COOKIE_SECURE must be true or false/);
    expect(() =>
      readConfig({ CART_IDENTITY: 'cookie', COOKIE_SECRET, COOKIE_SECRET_PREVIOUS: 'short' }),
    ).toThrow(/COOKIE_SECRET_PREVIOUS must be at least 32 bytes long/);
  });

  it('sends Secure cookies by default unless HOST is a loopback address', () => {
    const secure = (env: Record<string, string>) =>
      readConfig({ CART_IDENTITY: 'cookie', COOKIE_SECRET, ...env }).cookieIdentity?.secure;
    expect(secure({})).toBe(false);
    expect(secure({ HOST: '::1' })).toBe(false);
    expect(secure({ HOST: 'localhost' })).toBe(false);
    expect(secure({ HOST: '0.0.0.0' })).toBe(true);
    expect(secure({ HOST: '0.0.0.0', COOKIE_SECURE: 'false' })).toBe(false);
    expect(secure({ COOKIE_SECURE: 'true' })).toBe(true);
    expect(readConfig({ CART_IDENTITY: 'cookie', COOKIE_SECRET }).cookieIdentity).toEqual({
      secret: COOKIE_SECRET,
      previousSecret: undefined,
      secure: false,
      maxAgeDays: 30,
    });
  });

  it('requires exactly one of JWT_SECRET and JWT_JWKS_URL with CART_IDENTITY=jwt', () => {
    expect(() => readConfig({ CART_IDENTITY: 'jwt' })).toThrow(/exactly one of JWT_SECRET/);
    expect(() =>
      readConfig({
        CART_IDENTITY: 'jwt',
        JWT_SECRET,
        JWT_JWKS_URL: 'https://id.example/.well-known/jwks.json',
      }),
    ).toThrow(/exactly one of JWT_SECRET/);
    expect(() => readConfig({ CART_IDENTITY: 'jwt', JWT_SECRET: 'short' })).toThrow(
      /JWT_SECRET must be at least 32 bytes long/,
    );
    expect(
      readConfig({ CART_IDENTITY: 'jwt', JWT_SECRET, JWT_ISSUER: 'https://id', JWT_AUDIENCE: 'a' })
        .jwtIdentity,
    ).toEqual({ secret: JWT_SECRET, jwksUrl: undefined, issuer: 'https://id', audience: 'a' });
  });

  it('warns at start-up when CART_IDENTITY=header listens beyond loopback, not on loopback', async () => {
    const warning = /^CART_IDENTITY=header off loopback/;
    for (const [host, warned] of [
      ['0.0.0.0', true],
      ['127.0.0.1', false],
    ] as const) {
      const server = await startServerProcess({
        CART_IDENTITY: 'header',
        HOST: host,
        DATABASE_URL: 'memory:',
      });
      closers.push(async () => {
        await server.stop('SIGKILL');
      });
      const url = server.url.replace('0.0.0.0', '127.0.0.1');
      expect((await fetch(`${url}/items`, { headers: { 'x-cart-id': 'a' } })).status).toBe(200);
      // The request's log line comes after every start-up line.
      await server.waitForLog('request completed');
      const warnings = server.logs.filter(
        (entry) => typeof entry.msg === 'string' && warning.test(entry.msg),
      );
      expect({ host, warned: warnings.length === 1 }).toEqual({ host, warned });
    }
  });

  it('exits 1 at start-up naming COOKIE_SECRET when it is missing', async () => {
    const error = await startServerProcess({
      CART_IDENTITY: 'cookie',
      DATABASE_URL: 'memory:',
    }).then(
      async (server) => {
        await server.stop('SIGKILL');
        throw new Error('the server started');
      },
      (e: unknown) => e as Error,
    );
    expect(error.message).toMatch(/exited with 1 before listening/);
    expect(error.message).toMatch(/COOKIE_SECRET: COOKIE_SECRET is required/);
  });
});

describeBrowser('CART_IDENTITY=cookie in browsers', () => {
  it("gives each browser its own cart, and EventSource('/events') follows that cart only", async () => {
    const server = await startTestServer(closers, {
      SHUTDOWN_TIMEOUT_MS: '600000',
      CART_IDENTITY: 'cookie',
      COOKIE_SECRET,
    });
    type Seen = Array<{ type: string; data: { kind?: string; itemName?: string } }>;
    const pages = [];
    for (let i = 0; i < 2; i++) {
      // Two browsers: two cookie jars.
      const browser = await launchBrowser();
      closers.push(browser.close);
      const page = await browser.context.newPage();
      await page.goto(`${server.url}/health/live`);
      // The event stream is this browser's first cart request: it gets the cookie.
      await page.evaluate(() => {
        const seen: Seen = [];
        (globalThis as unknown as { seen: Seen }).seen = seen;
        const source = new EventSource('/events');
        for (const type of ['ready', 'change']) {
          source.addEventListener(type, (event) => {
            seen.push({ type, data: JSON.parse((event as unknown as { data: string }).data) });
          });
        }
      });
      await page.waitForFunction(() =>
        (globalThis as unknown as { seen: Seen }).seen.some((e) => e.type === 'ready'),
      );
      pages.push(page);
    }
    const add = async (name: string) => {
      const res = await fetch('/items', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      return res.status;
    };
    const [first, second] = pages;
    if (first === undefined || second === undefined) throw new Error('two pages expected');
    // Alternating writes; each stream is then read up to its own last change. The feed
    // delivers in publish order, so a change leaked from the other cart before that
    // last one would be there.
    expect(await first.evaluate(add, 'A1')).toBe(201);
    expect(await second.evaluate(add, 'B1')).toBe(201);
    expect(await first.evaluate(add, 'A2')).toBe(201);
    expect(await second.evaluate(add, 'B2')).toBe(201);
    for (const [page, mine] of [
      [first, ['A1', 'A2']],
      [second, ['B1', 'B2']],
    ] as const) {
      await page.waitForFunction(
        (last) =>
          (globalThis as unknown as { seen: Seen }).seen.some(
            (e) => e.type === 'change' && e.data.itemName === last,
          ),
        mine[1],
      );
      const changes = await page.evaluate(() =>
        (globalThis as unknown as { seen: Seen }).seen
          .filter((e) => e.type === 'change')
          .map((e) => e.data.itemName)
          // Each add is followed by its reservation's change: one name per line.
          .filter((name, i, names) => names.indexOf(name) === i),
      );
      expect(changes).toEqual(mine);
      const items = await page.evaluate(async () => {
        const body = (await (await fetch('/items')).json()) as { items: Array<{ name: string }> };
        return body.items.map((item) => item.name);
      });
      expect(items).toEqual(mine);
    }
  });
});
