import {
  reserverContractSuite,
  schedulerContractSuite,
  storageContractSuite,
} from '@cartkit/testing';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { InProcessScheduler, MemoryCartStorage, MemoryReserver } from '../src/index.js';

const api = { describe, it, beforeEach, afterEach };

storageContractSuite(api, 'MemoryCartStorage', ({ clock }) => new MemoryCartStorage({ clock }));

reserverContractSuite(
  api,
  'MemoryReserver',
  async () => ({
    reserver: new MemoryReserver({ refuse: (name) => name === 'Forbidden' }),
    refusedName: 'Forbidden',
  }),
  { release: true },
);

schedulerContractSuite(api, 'InProcessScheduler', (context) => new InProcessScheduler(context));
