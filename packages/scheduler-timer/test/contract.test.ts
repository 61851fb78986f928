import { createSqliteCartStorage } from '@cartkit/storage-sqlite';
import { schedulerContractSuite } from '@cartkit/testing';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { createTimerScheduler } from '../src/index.js';

const api = { describe, it, beforeEach, afterEach };

schedulerContractSuite(api, 'TimerScheduler', (context) => createTimerScheduler(context));

schedulerContractSuite(
  api,
  'TimerScheduler on SQLite',
  (context) => createTimerScheduler(context),
  { storage: ({ clock }) => createSqliteCartStorage({ path: ':memory:', clock }) },
);
