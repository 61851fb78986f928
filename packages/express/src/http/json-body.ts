import { isUtf8 } from 'node:buffer';
import { ErrorCode, ValidationError } from '@cartkit/core';
import express, { type Request, type Response } from 'express';
import type { z } from 'zod';
import { HttpErrorCode } from '../errors/http-error-codes.js';
import { HttpProblem } from '../errors/http-problem.js';

/** A validated JSON body, with the raw parsed value (for idempotency fingerprints). */
export interface JsonBody<T> {
  /** The body as parsed from JSON, before validation. */
  readonly raw: unknown;
  /** The body after zod validation. */
  readonly value: T;
}

/** Reads and validates JSON request bodies. */
export interface JsonBodyReader {
  /**
   * Checks the media type (415 otherwise), reads at most the body limit (413),
   * parses JSON (400 `MALFORMED_JSON`) and validates it against `schema` (400 with
   * a core code for `name` / `quantity`, `UNKNOWN_PROPERTY`, or `INVALID_BODY`).
   */
  read<S extends z.ZodType>(
    req: Request,
    res: Response,
    schema: S,
    mediaTypes: readonly string[],
  ): Promise<JsonBody<z.output<S>>>;
}

/** Creates a {@link JsonBodyReader} that accepts bodies of at most `limit` bytes. */
export function createJsonBodyReader(limit: number): JsonBodyReader {
  const parse = express.json({
    limit,
    strict: false,
    type: () => true,
    // Runs on the raw bytes, before decoding and parsing: an empty body is missing,
    // not `{}`; JSON is UTF-8 (RFC 8259), so another `utf-*` charset (which the parser
    // would decode) and bytes that are not UTF-8 (which it would turn into U+FFFD,
    // merging distinct names into one line) are refused.
    verify: (_req, _res, buffer, encoding) => {
      if (buffer.length === 0) throw missingBody();
      if (encoding.toLowerCase() !== 'utf-8' && encoding.toLowerCase() !== 'utf8') {
        throw notUtf8(
          'The request body must be JSON in UTF-8; send Content-Type: application/json without another charset.',
        );
      }
      if (!isUtf8(buffer)) throw notUtf8('The request body is not valid UTF-8.');
    },
  });
  return {
    async read(req, res, schema, mediaTypes) {
      if (!hasBody(req)) throw missingBody();
      if (!req.is([...mediaTypes])) {
        throw new HttpProblem(
          415,
          HttpErrorCode.UNSUPPORTED_MEDIA_TYPE,
          `The request body must be ${mediaTypes.join(' or ')}.`,
          {
            headers: {
              [req.method === 'PATCH' ? 'Accept-Patch' : 'Accept-Post']: mediaTypes.join(', '),
            },
          },
        );
      }
      await new Promise<void>((resolve, reject) => {
        parse(req, res, (error?: unknown) => (error ? reject(error) : resolve()));
      });
      const raw: unknown = req.body;
      const result = schema.safeParse(raw);
      if (!result.success) throw toValidationError(result.error);
      return { raw, value: result.data };
    },
  };
}

/** Whether the request announces a body of at least one byte (chunked bodies are checked once read). */
function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) > 0;
}

function notUtf8(detail: string): HttpProblem {
  return new HttpProblem(415, HttpErrorCode.UNSUPPORTED_MEDIA_TYPE, detail);
}

function missingBody(): HttpProblem {
  return new HttpProblem(
    400,
    HttpErrorCode.MISSING_BODY,
    'The request body is missing; send a JSON object.',
  );
}

const FIELD_CODES: Readonly<Record<string, string>> = {
  name: ErrorCode.INVALID_ITEM_NAME,
  quantity: ErrorCode.INVALID_QUANTITY,
};

interface BodyIssue {
  readonly pointer: string;
  readonly code: string;
  readonly detail: string;
}

/**
 * Turns zod issues into a core `ValidationError` whose code and detail are the first
 * issue's. `errors` has one entry per pointer (the first problem found there).
 */
function toValidationError(error: z.ZodError): ValidationError {
  const byPointer = new Map<string, BodyIssue>();
  for (const issue of error.issues.flatMap(toBodyIssues)) {
    if (!byPointer.has(issue.pointer)) byPointer.set(issue.pointer, issue);
  }
  const issues = [...byPointer.values()];
  const first = issues[0] ?? {
    pointer: '',
    code: HttpErrorCode.INVALID_BODY,
    detail: 'The request body is invalid.',
  };
  return new ValidationError(first.code, first.detail, {
    cause: error,
    details: { errors: issues },
  });
}

function toBodyIssues(issue: z.core.$ZodIssue): BodyIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      pointer: pointerOf([...issue.path, key]),
      code: HttpErrorCode.UNKNOWN_PROPERTY,
      detail: `Property ${JSON.stringify(key)} is not allowed here.`,
    }));
  }
  const field = issue.path[0];
  let code: string = HttpErrorCode.INVALID_BODY;
  if (typeof field === 'string') {
    code = FIELD_CODES[field] ?? code;
    if (field === 'quantity' && issue.code === 'too_big' && issue.origin === 'number') {
      code = ErrorCode.QUANTITY_LIMIT_EXCEEDED;
    }
  }
  if (issue.code === 'custom' && typeof issue.params?.code === 'string') code = issue.params.code;
  return [{ pointer: pointerOf(issue.path), code, detail: issue.message }];
}

/** RFC 6901 JSON Pointer of a path. */
function pointerOf(path: readonly PropertyKey[]): string {
  return path
    .map((segment) => `/${String(segment).replaceAll('~', '~0').replaceAll('/', '~1')}`)
    .join('');
}
