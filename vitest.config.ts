import { defineConfig } from 'vitest/config';
import { workspaceEntries } from './workspace-packages.js';

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

// Suites that need PostgreSQL and Redis: the `engines` project, whose globalSetup starts throwaway
// servers with scripts/services.sh only when some of these files are selected.
const engineTests = [
  'packages/storage-postgres/test/**/*.test.ts',
  'packages/scheduler-bullmq/test/**/*.test.ts',
  'packages/changefeed-redis/test/**/*.test.ts',
  'examples/*/test/**/*.engines.test.ts',
  'scripts/test/**/*.test.ts',
];

// Tests import packages by name; these aliases, derived from every workspace package's
// `exports`, point them at each package's source (child processes spawned by tests import the
// built `dist` instead). A new package resolves to its source without editing this file.
export default defineConfig({
  resolve: {
    alias: workspaceEntries().map(({ specifier, source }) => ({
      find: new RegExp(`^${escapeRegExp(specifier)}$`),
      replacement: source,
    })),
  },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'packages/*/test/**/*.test.ts',
            'examples/*/test/**/*.test.ts',
            'docs/**/*.test.ts',
            'test/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', ...engineTests],
        },
      },
      {
        extends: true,
        test: {
          name: 'engines',
          include: engineTests,
          globalSetup: ['./scripts/vitest/engines-setup.ts'],
        },
      },
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default', './vitest.summary-reporter.ts'],
  },
});
