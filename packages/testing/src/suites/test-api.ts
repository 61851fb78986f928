/** A test body; may be async. */
export type TestFn = () => unknown | Promise<unknown>;

/**
 * The test-runner functions a contract suite needs. vitest, jest, mocha and
 * `node:test` all fit: pass `{ describe, it, beforeEach, afterEach }`.
 * Assertions use `node:assert`, so no `expect` is needed.
 */
export interface TestApi {
  describe(name: string, body: () => void): unknown;
  it(name: string, body: TestFn, timeout?: number): unknown;
  beforeEach(body: TestFn): unknown;
  afterEach(body: TestFn): unknown;
}
