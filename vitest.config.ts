import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      {
        find: /^@cartkit\/core\/inversify$/,
        replacement: src('./packages/core/src/inversify/index.ts'),
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
  },
});
