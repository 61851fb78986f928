import {
  type Cart,
  ErrorCode,
  type IdempotencyRecord,
  type ReservationTask,
  StorageError,
} from '@cartkit/core';
import type { Deserialize, Serialize } from 'keyv';

/**
 * Version of the document format this release writes and the newest it reads.
 * Raise it when a document's shape changes, and keep reading the older versions.
 */
export const DOCUMENT_SCHEMA = 1;

/** The keyv namespace every key of this adapter lives in. */
export const KEY_NAMESPACE = 'cartkit';

/** What a document holds, by its type name. */
export interface DocumentTypes {
  cart: Cart;
  job: LegacyJob;
  task: ReservationTask;
  idempotency: IdempotencyRecord;
  layout: LayoutInfo;
}

/** A document type name. */
export type DocumentType = keyof DocumentTypes;

/** A job as layout 1 stored it (read once, by the migration to the outbox). */
export interface LegacyJob extends ReservationTask {
  readonly attempts: number;
  readonly runAt: number;
}

/** The meta document that records which table layout a database file uses. */
export interface LayoutInfo {
  /** Version of the tables and indexes (see `LAYOUT_VERSION`). */
  readonly layout: number;
}

/** The value stored under a key, inside keyv's `{ value }` entry. */
interface Envelope {
  readonly schema: number;
  readonly type: DocumentType;
  readonly data: unknown;
}

/**
 * Keys of the key/value table: `cartkit:<type>:<id>`. The id follows the type's
 * fixed prefix verbatim, so carts, jobs and idempotency records can never collide
 * whatever characters their ids hold. This is keyv's own `namespace:key` layout.
 */
export const keys = Object.freeze({
  cart: (cartId: string) => `${KEY_NAMESPACE}:cart:${cartId}`,
  job: (jobId: string) => `${KEY_NAMESPACE}:job:${jobId}`,
  idempotency: (key: string) => `${KEY_NAMESPACE}:idem:${key}`,
  layout: () => `${KEY_NAMESPACE}:meta:layout`,
});

type Validator<T extends DocumentType> = (data: unknown, id: string) => data is DocumentTypes[T];

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isVersion = (value: unknown): boolean =>
  Number.isSafeInteger(value) && (value as number) >= 1;

/** Structural checks: enough to tell a cartkit document from a foreign or damaged value. */
const validators: { [T in DocumentType]: Validator<T> } = {
  cart: (data, id): data is Cart =>
    isObject(data) &&
    data.id === id &&
    isVersion(data.version) &&
    Array.isArray(data.lines) &&
    typeof data.createdAt === 'string' &&
    typeof data.updatedAt === 'string',
  job: (data, id): data is LegacyJob =>
    isObject(data) &&
    data.id === id &&
    isVersion(data.version) &&
    (data.kind === 'reserve' || data.kind === 'release') &&
    typeof data.cartId === 'string' &&
    Number.isFinite(data.runAt) &&
    Number.isFinite(data.createdAt),
  task: (data, id): data is ReservationTask =>
    isObject(data) &&
    data.id === id &&
    (data.kind === 'reserve' || data.kind === 'release') &&
    typeof data.idempotencyKey === 'string' &&
    typeof data.cartId === 'string' &&
    typeof data.itemName === 'string' &&
    Number.isSafeInteger(data.quantity) &&
    (data.reservationId === null || typeof data.reservationId === 'string') &&
    Number.isFinite(data.createdAt),
  idempotency: (data, id): data is IdempotencyRecord =>
    isObject(data) &&
    data.key === id &&
    (data.status === 'in-progress' || data.status === 'completed') &&
    typeof data.fingerprint === 'string' &&
    Number.isFinite(data.expiresAt),
  layout: (data): data is LayoutInfo => isObject(data) && Number.isSafeInteger(data.layout),
};

/**
 * Where keyv's value format differs from plain JSON. keyv's serializer marks its own
 * encodings with a leading `:` (`:base64:` for buffers) and so escapes every string
 * that starts with `:` by doubling it; its deserializer undoes that with a reviver,
 * which makes parsing several times slower than `JSON.parse`. In JSON text a string
 * that starts with `:` shows as `":` right after the `:`, `,` or `[` (and optional
 * whitespace) that precedes a value or key — a quote inside a string is always
 * escaped. Text without that pattern means the same in both formats, so it takes
 * plain JSON; anything else (or a false alarm) goes through keyv's own functions.
 */
const KEYV_ESCAPED = /(?:^|[:,[])[ \t\n\r]*":/;

/**
 * Turns domain objects into stored values and back.
 *
 * A stored value is a standard keyv entry (keyv's serializer, `{ value }` with no
 * `expires`) whose value is `{ schema, type, data }`: `schema` lets later releases
 * read older documents, `type` tells a cart from a job. Decoding never trusts the
 * bytes: anything that is not a document of the expected type and id, or that was
 * written by a newer release, is a `StorageError` (`STORAGE_CORRUPT_DATA`) naming
 * the key. Decoded objects are fresh: callers may mutate them freely.
 */
export class DocumentCodec {
  readonly #serialize: Serialize;
  readonly #deserialize: Deserialize;

  constructor(serialize: Serialize, deserialize: Deserialize) {
    this.#serialize = serialize;
    this.#deserialize = deserialize;
  }

  /** The stored value of a document: keyv's format, byte for byte. */
  async encode<T extends DocumentType>(type: T, data: DocumentTypes[T]): Promise<string> {
    const entry = { value: { schema: DOCUMENT_SCHEMA, type, data } satisfies Envelope };
    // Documents are plain JSON data (no buffers): where no string starts with `:`,
    // keyv's serializer writes exactly what JSON.stringify does.
    const text = JSON.stringify(entry);
    // JSON.stringify writes no whitespace between tokens, so KEYV_ESCAPED comes down to
    // three substrings: found without a regular expression's scan of the whole text.
    return text.includes(':":') || text.includes(',":') || text.includes('[":')
      ? this.#serialize(entry)
      : text;
  }

  /**
   * Reads the document stored under `key`.
   * @param id the id the document must carry (cart id, job id, record key).
   * @throws StorageError `STORAGE_CORRUPT_DATA` naming `key`.
   */
  async decode<T extends DocumentType>(
    type: T,
    key: string,
    id: string,
    stored: unknown,
  ): Promise<DocumentTypes[T]> {
    if (typeof stored !== 'string') {
      throw corrupt(key, `holds a ${stored === null ? 'NULL' : typeof stored}, not text`);
    }
    let entry: unknown;
    try {
      entry = KEYV_ESCAPED.test(stored) ? await this.#deserialize(stored) : JSON.parse(stored);
    } catch (error) {
      throw corrupt(key, 'is not valid JSON', error);
    }
    const envelope = isObject(entry) ? entry.value : undefined;
    if (!isObject(envelope) || !Number.isSafeInteger(envelope.schema)) {
      throw corrupt(key, 'is not a cartkit document');
    }
    const schema = envelope.schema as number;
    if (schema > DOCUMENT_SCHEMA) {
      throw new StorageError(
        ErrorCode.STORAGE_CORRUPT_DATA,
        `The value under key "${key}" was written by a newer release of @cartkit/storage-sqlite ` +
          `(document schema ${schema}; this release reads up to ${DOCUMENT_SCHEMA}). Upgrade the package.`,
        {
          details: { key, reason: 'newer-schema', schema, supportedSchema: DOCUMENT_SCHEMA },
        },
      );
    }
    if (schema < 1) throw corrupt(key, `has an unknown document schema ${schema}`);
    if (envelope.type !== type) {
      throw corrupt(key, `holds a "${String(envelope.type)}" document, not a "${type}"`);
    }
    const validate = validators[type] as Validator<T>;
    if (!validate(envelope.data, id)) throw corrupt(key, `is not a valid ${type} document`);
    return envelope.data;
  }
}

function corrupt(key: string, problem: string, cause?: unknown): StorageError {
  return new StorageError(
    ErrorCode.STORAGE_CORRUPT_DATA,
    `The value under key "${key}" ${problem}.`,
    cause === undefined ? { details: { key } } : { cause, details: { key } },
  );
}
