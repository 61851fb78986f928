import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

/** What the validator looks at in a response. */
export interface ObservedResponse {
  readonly method: string;
  /** Path relative to the router's mount point, without query string. */
  readonly path: string;
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

type Json = Record<string, unknown>;

const DOCUMENT_ID = 'https://cartkit.test/openapi.json';
const OPENAPI_ROOT_KEYWORDS = [
  'openapi',
  'info',
  'jsonSchemaDialect',
  'servers',
  'paths',
  'components',
];

/** RFC 6901 pointer segment, URI-encoded for use in a `$ref` fragment. */
const segment = (key: string) =>
  encodeURIComponent(key.replaceAll('~', '~0').replaceAll('/', '~1'));
const pointer = (...keys: string[]) => `${DOCUMENT_ID}#/${keys.map(segment).join('/')}`;

/**
 * Checks responses against the OpenAPI document with ajv (JSON Schema 2020-12):
 * the status must be documented for the operation, required headers present
 * and valid, the content type documented and the body valid against its schema.
 * Answers without an operation (unknown route, wrong method) must be the
 * API's 404 / 405 / OPTIONS answers, with a valid problem document.
 */
export class OpenApiResponseValidator {
  readonly document: Json;
  readonly #ajv: Ajv2020;
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly #routes: { template: string; pattern: RegExp }[];

  constructor(document: Json) {
    this.document = document;
    this.#ajv = new Ajv2020({ strict: true, allErrors: true });
    this.#ajv.addVocabulary(OPENAPI_ROOT_KEYWORDS);
    this.#ajv.addFormat(
      'date-time',
      (value: string) =>
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(value) &&
        !Number.isNaN(Date.parse(value)),
    );
    this.#ajv.addSchema(document, DOCUMENT_ID);
    this.#routes = Object.keys(this.#paths()).map((template) => ({
      template,
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}/?$`),
    }));
  }

  /** Compiles the schema at a pointer into the document (cached). */
  compile(...keys: string[]): ValidateFunction {
    const ref = pointer(...keys);
    let validate = this.#compiled.get(ref);
    if (validate === undefined) {
      validate = this.#ajv.compile({ $ref: ref });
      this.#compiled.set(ref, validate);
    }
    return validate;
  }

  /** Throws an Error describing every way `response` deviates from the document. */
  check(response: ObservedResponse): void {
    const problems = this.problems(response);
    if (problems.length > 0) {
      throw new Error(
        `${response.method} ${response.path} → ${response.status} does not match the OpenAPI document:\n- ${problems.join('\n- ')}\nbody: ${response.text.slice(0, 500)}`,
      );
    }
  }

  /** Every deviation of `response` from the document (empty when it conforms). */
  problems(response: ObservedResponse): string[] {
    const route = this.#routes.find((r) => r.pattern.test(response.path));
    if (route === undefined) return this.#undocumented(response, 404, 'ROUTE_NOT_FOUND');
    const pathItem = this.#paths()[route.template] as Json;
    const method = response.method.toLowerCase() === 'head' ? 'get' : response.method.toLowerCase();
    const operation = pathItem[method] as Json | undefined;
    if (operation === undefined) {
      // Path parameters are decoded while routing, before the method is looked at.
      if (response.status === 400) return this.#undocumented(response, 400, 'MALFORMED_URI');
      if (response.method === 'OPTIONS') {
        return response.status === 204 && response.headers.get('allow') !== null
          ? []
          : ['OPTIONS must answer 204 with Allow'];
      }
      const issues = this.#undocumented(response, 405, 'METHOD_NOT_ALLOWED');
      if (response.headers.get('allow') === null) issues.push('405 without Allow header');
      return issues;
    }
    const responses = operation.responses as Json;
    const status = String(response.status);
    if (!(status in responses)) return [`status ${status} is not documented`];
    const keys = ['paths', route.template, method, 'responses', status];
    let documented = responses[status] as Json;
    if (typeof documented.$ref === 'string') {
      const name = documented.$ref.replace('#/components/responses/', '');
      keys.splice(0, keys.length, 'components', 'responses', name);
      documented = (this.document.components as Json).responses as Json;
      documented = documented[name] as Json;
    }
    return [
      ...this.#checkHeaders(documented, keys, response),
      ...this.#checkContent(documented, keys, response),
    ];
  }

  #paths(): Json {
    return this.document.paths as Json;
  }

  #undocumented(response: ObservedResponse, status: number, code: string): string[] {
    if (response.status !== status) return [`undocumented route answered ${response.status}`];
    const issues = this.#checkBody(
      ['components', 'schemas', 'Problem'],
      'application/problem+json',
      response,
    );
    const body = safeJson(response.text) as Json | undefined;
    if (response.method !== 'HEAD' && body?.code !== code) issues.push(`expected code ${code}`);
    return issues;
  }

  #checkHeaders(documented: Json, responseKeys: string[], response: ObservedResponse): string[] {
    const issues: string[] = [];
    const headers = (documented.headers ?? {}) as Json;
    const components = (this.document.components as Json).headers as Json;
    for (const [name, spec] of Object.entries(headers)) {
      let header = spec as Json;
      let keys = [...responseKeys, 'headers', name, 'schema'];
      if (typeof header.$ref === 'string') {
        const id = header.$ref.replace('#/components/headers/', '');
        header = components[id] as Json;
        keys = ['components', 'headers', id, 'schema'];
      }
      const value = response.headers.get(name);
      if (value === null) {
        if (header.required === true) issues.push(`required header ${name} missing`);
        continue;
      }
      const validate = this.compile(...keys);
      if (!validate(value)) issues.push(`header ${name}: ${this.#ajv.errorsText(validate.errors)}`);
    }
    return issues;
  }

  #checkContent(documented: Json, keys: string[], response: ObservedResponse): string[] {
    const content = documented.content as Json | undefined;
    const contentType = response.headers.get('content-type');
    if (content === undefined) {
      return response.text.length === 0 ? [] : ['body sent where none is documented'];
    }
    const mediaType = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
    if (!(mediaType in content)) return [`content type ${contentType} is not documented`];
    return this.#checkBody([...keys, 'content', mediaType, 'schema'], mediaType, response);
  }

  #checkBody(keys: string[], mediaType: string, response: ObservedResponse): string[] {
    const contentType = response.headers.get('content-type')?.split(';')[0]?.trim();
    if (contentType !== mediaType) return [`content type ${contentType} instead of ${mediaType}`];
    if (response.method === 'HEAD')
      return response.text === '' ? [] : ['HEAD answered with a body'];
    const body = safeJson(response.text);
    if (body === undefined) return ['body is not JSON'];
    const validate = this.compile(...keys);
    return validate(body) ? [] : [`body: ${this.#ajv.errorsText(validate.errors)}`];
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
