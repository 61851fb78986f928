import { schedulerContractSuite } from '@cartkit/testing';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { createTimerScheduler } from '../src/index.js';

schedulerContractSuite(
  { describe, it, beforeEach, afterEach },
  'TimerScheduler',
  ({ storage, retry, concurrency, leaseMs }) =>
    createTimerScheduler({ storage, retry, concurrency, leaseMs }),
);
