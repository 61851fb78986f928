// Keeps docs/http-api.md true to the OpenAPI document the router serves.
import { readFileSync } from 'node:fs';
import { buildOpenApiDocument, HttpErrorCode } from '@cartkit/express';
import { describe, expect, it } from 'vitest';

const page = readFileSync(new URL('./http-api.md', import.meta.url), 'utf8');
const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'];

function documentedOperations(): Map<string, string> {
  const doc = buildOpenApiDocument({}) as {
    paths: Record<string, Record<string, { responses?: object }>>;
  };
  const operations = new Map<string, string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.includes(method) || op.responses === undefined) continue;
      operations.set(
        `${method.toUpperCase()} ${path}`,
        Object.keys(op.responses).sort().join(', '),
      );
    }
  }
  return operations;
}

function pageOperations(): Map<string, string> {
  const operations = new Map<string, string>();
  for (const section of page.split(/^### /m).slice(1)) {
    const heading = section.split('\n')[0]?.trim() ?? '';
    const responses = /^Responses: (.+)$/m.exec(section)?.[1] ?? '';
    operations.set(heading, responses.split(', ').sort().join(', '));
  }
  return operations;
}

describe('docs/http-api.md', () => {
  it('lists exactly the operations of the OpenAPI document, with the same responses', () => {
    expect(pageOperations()).toEqual(documentedOperations());
  });

  it('names every HTTP problem code', () => {
    for (const code of Object.values(HttpErrorCode)) expect(page, code).toContain(`\`${code}\``);
  });
});
