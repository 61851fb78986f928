import { reserverContractSuite, startFakeReservationService } from '@cartkit/testing';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { createHttpReserver } from '../src/index.js';
import { closedPort } from './support/scripted-server.js';

const api = { describe, it, beforeEach, afterEach };

reserverContractSuite(
  api,
  'createHttpReserver against the fake reservation service',
  async () => {
    const service = await startFakeReservationService({ faults: { refuse: ['Forbidden'] } });
    return {
      reserver: createHttpReserver({ url: service.url }),
      refusedName: 'Forbidden',
      close: () => service.close(),
    };
  },
  {
    release: true,
    unavailable: async () => ({
      reserver: createHttpReserver({
        url: `http://127.0.0.1:${await closedPort()}/reservations`,
        timeoutMs: 2_000,
      }),
      refusedName: 'Forbidden',
    }),
  },
);
