import { defineConfig } from 'vitest/config';
import { workspaceEntries } from './workspace-packages.js';

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

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
    include: [
      'packages/*/test/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
      'docs/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default', './vitest.summary-reporter.ts'],
  },
});
