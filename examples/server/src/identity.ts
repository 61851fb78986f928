import { randomUUID } from 'node:crypto';
import { parseCartId } from '@cartkit/core';
import { HttpProblem, type ResolveCartId, UnauthorizedError } from '@cartkit/express';
import { parseCookie, stringifySetCookie } from 'cookie';
import { sign, unsign } from 'cookie-signature';
import type { Request } from 'express';
import type { JWTVerifyOptions, jwtVerify } from 'jose';
import type { CookieIdentityConfig, JwtIdentityConfig } from './config.js';

/** The name of the signed guest-cart cookie (`CART_IDENTITY=cookie`). */
export const CART_COOKIE = 'cartkit_cart';

/** A guest cart id, as minted: a random UUID. Anything else in a validly signed cookie is refused too. */
const GUEST_CART_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Signed guest carts: the cart id is a random UUID in a cookie signed with
 * HMAC-SHA256 (`cookie-signature`, which compares in constant time). A request
 * without a cookie, or with one whose signature does not verify (tampered, or
 * signed with another secret), gets a fresh guest cart and its cookie — never
 * another cart. During a secret rotation, cookies signed with `previousSecret` are
 * still accepted and re-issued under `secret`. Minting a cart id writes nothing: the cart is stored on its first
 * change, so a browser's first `GET` creates its identity and no storage state.
 */
export function cookieCartResolver(config: CookieIdentityConfig): ResolveCartId {
  const { secret } = config;
  const attributes = {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure: config.secure,
    maxAge: config.maxAgeDays * 86_400,
  } as const;
  const { previousSecret } = config;
  const verified = (signed: string, key: string) => {
    const cartId = unsign(signed, key);
    return cartId !== false && GUEST_CART_ID.test(cartId) ? cartId : undefined;
  };
  return (req) => {
    const header = req.headers.cookie;
    const signed = header === undefined ? undefined : parseCookie(header)[CART_COOKIE];
    if (signed !== undefined) {
      const cartId = verified(signed, secret);
      if (cartId !== undefined) return cartId;
      // Signed with the secret being rotated out: the same cart, re-signed with the new one.
      const kept = previousSecret === undefined ? undefined : verified(signed, previousSecret);
      if (kept !== undefined) return issue(req, kept);
    }
    return issue(req, randomUUID());
  };
  function issue(req: Request, cartId: string): string {
    req.res?.append(
      'Set-Cookie',
      stringifySetCookie({ name: CART_COOKIE, value: sign(cartId, secret), ...attributes }),
    );
    return cartId;
  }
}

/** The realm of the example server's `WWW-Authenticate: Bearer` challenges. */
const REALM = 'realm="cartkit-example"';

/**
 * Bearer JWTs (RFC 6750), verified with `jose`: HS256 with `JWT_SECRET`, or the keys
 * published at `JWT_JWKS_URL`; `iss` / `aud` checked when configured, `exp` / `nbf`
 * always. The cart id is the token's `sub` claim. A missing, malformed, badly signed,
 * expired or sub-less token answers 401 `UNAUTHENTICATED` with a `WWW-Authenticate:
 * Bearer` challenge (`error="invalid_token"` when a token was sent).
 */
export function jwtCartResolver(config: JwtIdentityConfig): ResolveCartId {
  const options: JWTVerifyOptions = {
    ...(config.issuer === undefined ? {} : { issuer: config.issuer }),
    ...(config.audience === undefined ? {} : { audience: config.audience }),
  };
  // jose is loaded here, not when this module is: only this identity uses it (~0.8 MB of
  // heap that every other configuration would keep for nothing). The import starts now;
  // a request waits for it only if it comes first.
  const jose = import('jose');
  jose.catch(() => undefined); // a failed import is reported to the requests that need it
  let verify: (token: string) => ReturnType<typeof jwtVerify>;
  if (config.secret !== undefined) {
    const key = new TextEncoder().encode(config.secret);
    verify = async (token) =>
      (await jose).jwtVerify(token, key, { ...options, algorithms: ['HS256'] });
  } else if (config.jwksUrl !== undefined) {
    const url = new URL(config.jwksUrl);
    const keys = jose.then(({ createRemoteJWKSet }) => createRemoteJWKSet(url));
    keys.catch(() => undefined);
    verify = async (token) => {
      const { jwtVerify, errors } = await jose;
      return jwtVerify(token, await keys, options).catch((error: unknown) => {
        // fetch's own failures (connection refused, DNS...) are not JOSE errors.
        throw error instanceof errors.JOSEError ? error : keysUnavailable(error);
      });
    };
  } else {
    throw new Error('CART_IDENTITY=jwt needs JWT_SECRET or JWT_JWKS_URL.');
  }
  return async (req) => {
    const header = req.headers.authorization;
    if (header === undefined) {
      throw new UnauthorizedError('Send an Authorization: Bearer <token> header.', {
        challenge: `Bearer ${REALM}`,
      });
    }
    const token = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header)?.[1];
    if (token === undefined) {
      throw invalid('invalid_request', 'The Authorization header must be "Bearer <token>".');
    }
    let sub: unknown;
    try {
      ({
        payload: { sub },
      } = await verify(token));
    } catch (error) {
      throw invalid('invalid_token', describeJoseError(error, (await jose).errors), error);
    }
    try {
      return parseCartId(sub === '' ? undefined : sub);
    } catch {
      throw invalid('invalid_token', 'The token has no usable sub claim (the cart id).');
    }
  };
}

/**
 * What went wrong with a token, for the 401 answer. A JWKS that cannot be fetched
 * (unreachable, timed out, not a key set) is not the client's fault: 503
 * `IDENTITY_PROVIDER_UNAVAILABLE`, with `Retry-After`. Anything else is rethrown (500).
 */
function describeJoseError(error: unknown, errors: typeof import('jose').errors): string {
  if (error instanceof errors.JWTExpired) return 'The token has expired.';
  if (error instanceof errors.JWTClaimValidationFailed) {
    return `The token's ${error.claim} claim is not accepted.`;
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    throw keysUnavailable(error);
  }
  if (error instanceof errors.JOSEError) return 'The token is not valid.';
  throw error;
}

function keysUnavailable(cause: unknown): HttpProblem {
  return new HttpProblem(
    503,
    'IDENTITY_PROVIDER_UNAVAILABLE',
    'The keys that verify tokens (JWT_JWKS_URL) could not be fetched; try again later.',
    { headers: { 'Retry-After': '5' }, cause },
  );
}

function invalid(
  code: 'invalid_request' | 'invalid_token',
  message: string,
  cause?: unknown,
): UnauthorizedError {
  return new UnauthorizedError(message, {
    challenge: `Bearer ${REALM}, error="${code}", error_description="${message.replaceAll('"', "'")}"`,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The `resolveCartId` hook of a cookie or JWT identity; `undefined` for the other modes. */
export function identityResolver(identity: {
  readonly cookieIdentity?: CookieIdentityConfig | undefined;
  readonly jwtIdentity?: JwtIdentityConfig | undefined;
}): ResolveCartId | undefined {
  if (identity.cookieIdentity !== undefined) return cookieCartResolver(identity.cookieIdentity);
  if (identity.jwtIdentity !== undefined) return jwtCartResolver(identity.jwtIdentity);
  return undefined;
}
