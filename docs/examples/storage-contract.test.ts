// A storage adapter's test file: run the shared contract suite against it.
import { MemoryCartStorage } from '@cartkit/core';
import { storageContractSuite } from '@cartkit/testing';
import { afterEach, beforeEach, describe, it } from 'vitest';

storageContractSuite(
  { describe, it, beforeEach, afterEach },
  'docs example (MemoryCartStorage)',
  ({ clock }) => new MemoryCartStorage({ clock }), // ← your adapter, built fresh for each test
);
