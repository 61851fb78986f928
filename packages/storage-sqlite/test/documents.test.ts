import type { Cart } from '@cartkit/core';
import Keyv, { type Deserialize, type Serialize } from 'keyv';
import { afterAll, describe, expect, it } from 'vitest';
import { DocumentCodec, keys } from '../src/documents.js';
import { createSqliteCartStorage } from '../src/index.js';
import { openRaw } from './support/raw-database.js';
import { createTempDir } from './support/temp-dir.js';

// The codec takes plain JSON where keyv's format is plain JSON, and keyv's own
// serializer and reviver where it is not: stored values stay keyv's, byte for byte.
const keyv = new Keyv();
// keyv's default functions are synchronous; typed as such for the comparisons.
const serialize = keyv.serialize as unknown as (data: unknown) => string;
const deserialize = keyv.deserialize as unknown as (text: string) => unknown;
const codec = new DocumentCodec(keyv.serialize as Serialize, keyv.deserialize as Deserialize);

const at = new Date(0).toISOString();
const cartWith = (...names: string[]): Cart => ({
  id: 'c1',
  version: 1,
  lines: names.map((name) => ({
    name,
    quantity: 1,
    reservation: null,
    addedAt: at,
    updatedAt: at,
  })),
  createdAt: at,
  updatedAt: at,
});

/** Names that keyv escapes (a leading `:`) and names that only look like it. */
const names = [
  'Product1',
  ':colon',
  '::double',
  ':base64:AAAA',
  'a ":" inside',
  'ends with :',
  '","x":"',
  '[":"]',
  'quote " then :',
  'back\\slash":',
  'ünïcödé ":',
  '',
];

describe('DocumentCodec', () => {
  it.each(names.map((name) => [name]))('encodes %j exactly as keyv does', async (name) => {
    const cart = cartWith(name, 'plain');
    const encoded = await codec.encode('cart', cart);
    expect(encoded).toBe(serialize({ value: { schema: 1, type: 'cart', data: cart } }));
    expect(await codec.decode('cart', 'k', 'c1', encoded)).toEqual(cart);
  });

  it.each(names.map((name) => [name]))(
    'decodes keyv text holding %j as keyv does, however it is spaced',
    async (name) => {
      const cart = cartWith(name);
      const compact = serialize({ value: { schema: 1, type: 'cart', data: cart } });
      const spaced = JSON.stringify(JSON.parse(compact), null, 2);
      for (const text of [compact, spaced]) {
        const expected = (deserialize(text) as { value: { data: Cart } }).value.data;
        expect(await codec.decode('cart', 'k', 'c1', text)).toEqual(expected);
      }
      expect(await codec.decode('cart', 'k', 'c1', compact)).toEqual(cart);
    },
  );

  it('decodes a top-level string as keyv does (and refuses it)', async () => {
    await expect(codec.decode('cart', 'k', 'c1', '":x"')).rejects.toThrow(/not a cartkit document/);
  });
});

describe('stored values', () => {
  const dir = createTempDir();
  afterAll(() => dir.remove());

  it('are keyv entries a plain keyv reader understands', async () => {
    const path = dir.file('codec.db');
    const storage = await createSqliteCartStorage({ path });
    const cart = cartWith(':colon', 'Product1');
    await storage.saveCart(cart, { expectedVersion: 0 });
    await storage.close();

    const raw = openRaw(path);
    const [row] = await raw.query('SELECT value FROM cartkit WHERE key = ?', keys.cart('c1'));
    await raw.close();
    expect(deserialize(String(row?.value))).toEqual({
      value: { schema: 1, type: 'cart', data: cart },
    });

    const reopened = await createSqliteCartStorage({ path });
    expect(await reopened.getCart('c1')).toEqual(cart);
    await reopened.close();
  });
});
