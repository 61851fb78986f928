import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// Tests import packages by name; these aliases point them at each package's source
// (child processes spawned by tests import the built `dist` instead).
export default defineConfig({
  resolve: {
    alias: [
      {
        find: /^@cartkit\/core\/inversify$/,
        replacement: src('./packages/core/src/inversify/index.ts'),
      },
      {
        find: /^@cartkit\/([\w-]+)\/inversify$/,
        replacement: src('./packages/$1/src/inversify.ts'),
      },
      {
        find: /^@cartkit\/(core|testing|storage-sqlite|reserver-http|scheduler-timer|express)$/,
        replacement: src('./packages/$1/src/index.ts'),
      },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'docs/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default', './vitest.summary-reporter.ts'],
  },
});
