import { ConflictError, ErrorCode } from '@cartkit/core';
import { HttpErrorCode } from '../errors/http-error-codes.js';
import { HttpProblem } from '../errors/http-problem.js';

/** One entity tag of a conditional header. */
export interface EntityTag {
  readonly weak: boolean;
  readonly opaque: string;
}

/** A parsed `If-Match` / `If-None-Match` header: `*` or a list of entity tags. */
export type EntityTagCondition =
  | { readonly any: true }
  | { readonly any: false; readonly tags: readonly EntityTag[] };

/** The strong `ETag` of a cart version: the version in double quotes. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"/;
const LIST_SEPARATORS = /^[ \t,]+/;

/**
 * Parses an `If-Match` or `If-None-Match` value (RFC 9110 §13.1): `*` or a
 * comma-separated list of entity tags. Repeated headers arrive joined by commas.
 * @returns `undefined` when the header is absent.
 * @throws HttpProblem 400 `INVALID_PRECONDITION` when the value is malformed.
 */
export function parseEntityTagCondition(
  value: string | undefined,
  header: string,
): EntityTagCondition | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '*') return { any: true };
  const tags: EntityTag[] = [];
  let rest = trimmed;
  while (rest.length > 0) {
    const separators = LIST_SEPARATORS.exec(rest);
    if (separators !== null) {
      rest = rest.slice(separators[0].length);
      continue;
    }
    const match = ENTITY_TAG.exec(rest);
    if (
      match === null ||
      (rest.length > match[0].length && !LIST_SEPARATORS.test(rest.slice(match[0].length)))
    ) {
      throw new HttpProblem(
        400,
        HttpErrorCode.INVALID_PRECONDITION,
        `${header} must be "*" or a list of entity tags such as "3".`,
      );
    }
    tags.push({ weak: match[1] !== undefined, opaque: match[2] ?? '' });
    rest = rest.slice(match[0].length);
  }
  if (tags.length === 0) {
    throw new HttpProblem(400, HttpErrorCode.INVALID_PRECONDITION, `${header} must not be empty.`);
  }
  return { any: false, tags };
}

/** The cart version an opaque tag names, or `undefined` if it names none. */
function versionOf(tag: EntityTag): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(tag.opaque)) return undefined;
  const version = Number(tag.opaque);
  return Number.isSafeInteger(version) ? version : undefined;
}

/**
 * Turns an `If-Match` condition into core's `expectedVersion` (strong comparison).
 *
 * - one tag `"n"`: `expectedVersion` n;
 * - several tags: the list of the versions they name, any of which will do.
 *
 * Either way the service checks it in the compare-and-set that saves the write, on
 * the cart as stored: no version is read beforehand, so a change in between cannot
 * slip past the condition or make it fail spuriously.
 * - `*`: the cart must exist (carts are never deleted, so no version is pinned).
 *
 * @throws ConflictError `VERSION_MISMATCH` (412) when the condition cannot hold (`*`
 *   on a cart never written; tags that name no cart version).
 */
export async function expectedVersionFor(
  condition: EntityTagCondition | undefined,
  currentVersion: () => Promise<number>,
): Promise<number | readonly number[] | undefined> {
  if (condition === undefined) return undefined;
  if (condition.any) {
    const current = await currentVersion();
    if (current === 0) throw mismatch('The cart does not exist yet (If-Match: *).', current);
    return undefined;
  }
  const versions = [
    ...new Set(
      condition.tags
        .filter((tag) => !tag.weak)
        .map(versionOf)
        .filter((version): version is number => version !== undefined),
    ),
  ];
  const [only] = versions;
  if (versions.length === 1 && only !== undefined) return only;
  if (versions.length > 1) return versions;
  // Weak or foreign tags only: no version can match (strong comparison).
  const current = await currentVersion();
  throw mismatch(`Cart is at version ${current}, which If-Match does not list.`, current);
}

/** True when `If-None-Match` matches the cart version (weak comparison): answer 304. */
export function notModified(condition: EntityTagCondition | undefined, version: number): boolean {
  if (condition === undefined) return false;
  if (condition.any) return true;
  return condition.tags.some((tag) => versionOf(tag) === version);
}

function mismatch(message: string, currentVersion: number): ConflictError {
  return new ConflictError(ErrorCode.VERSION_MISMATCH, message, { details: { currentVersion } });
}
