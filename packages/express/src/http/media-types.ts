/** Media type of the cart API's JSON bodies. */
export const JSON_MEDIA_TYPE = 'application/json';

/** Media type of RFC 9457 problem documents. */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** Media types the `POST` routes accept. */
export const POST_MEDIA_TYPES: readonly string[] = [JSON_MEDIA_TYPE];

/** Media types `PATCH /items/:name` accepts (`{quantity}` is also a valid JSON merge patch). */
export const PATCH_MEDIA_TYPES: readonly string[] = [
  JSON_MEDIA_TYPE,
  'application/merge-patch+json',
];
