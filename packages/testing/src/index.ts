/**
 * Test tools for cartkit adapters and apps: one contract suite per port, a
 * controllable clock and (soon) a fake reservation service.
 * @packageDocumentation
 */
export { FakeClock } from './fake-clock.js';
export type { FakeFaults, LatencyMs } from './fake-faults.js';
export {
  type FakeReservation,
  type FakeReservationService,
  type FakeReservationServiceOptions,
  type FakeReservationStats,
  startFakeReservationService,
} from './fake-reservation-service.js';
export { inertScheduler } from './inert-scheduler.js';
export { seededRandom } from './seeded-random.js';
export {
  type ChangeFeedCapabilities,
  type ChangeFeedFactory,
  type ChangeFeedHarness,
  changeFeedContractSuite,
} from './suites/change-feed-suite.js';
export {
  type IdempotencyStoreCapabilities,
  type IdempotencyStoreFactory,
  type IdempotencyStoreFactoryContext,
  type IdempotencyStoreHarness,
  idempotencyStoreContractSuite,
} from './suites/idempotency-suite.js';
export {
  type ReserverCapabilities,
  type ReserverFactory,
  type ReserverHarness,
  reserverContractSuite,
} from './suites/reserver-suite.js';
export {
  type SchedulerFactory,
  type SchedulerFactoryContext,
  type SchedulerSuiteOptions,
  schedulerContractSuite,
} from './suites/scheduler-suite.js';
export {
  type StorageCapabilities,
  type StorageFactory,
  type StorageFactoryContext,
  storageContractSuite,
} from './suites/storage-suite.js';
export type { TestApi, TestFn } from './suites/test-api.js';
