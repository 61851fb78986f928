// CommonJS consumers: on Node >= 20.19, require() loads the ESM-only packages
// (require(esm)). Run by scripts/consumer-test.mjs in the fresh app.
const assert = require('node:assert/strict');

const expected = {
  '@cartkit/core': ['createCart', 'CartError', 'ErrorCode'],
  '@cartkit/core/inversify': ['cartCoreModule', 'startCart'],
  '@cartkit/express': ['createCartRouter', 'problemErrorHandler'],
  '@cartkit/reserver-http': ['createHttpReserver'],
  '@cartkit/reserver-http/inversify': ['httpReserverModule'],
  '@cartkit/scheduler-timer': ['createTimerScheduler'],
  '@cartkit/scheduler-timer/inversify': ['timerSchedulerModule'],
  '@cartkit/storage-sqlite': ['createSqliteCartStorage'],
  '@cartkit/storage-sqlite/inversify': ['sqliteStorageModule'],
  '@cartkit/testing': ['startFakeReservationService', 'FakeClock'],
};
for (const [specifier, names] of Object.entries(expected)) {
  const loaded = require(specifier);
  for (const name of names) {
    assert.notEqual(loaded[name], undefined, `${specifier} exports ${name}`);
  }
}
// One copy of core, whichever way it was loaded: errors from the ESM graph are the same class.
const { CartError } = require('@cartkit/core');
import('@cartkit/core').then((esm) => {
  assert.equal(esm.CartError, CartError, 'require() and import() give the same @cartkit/core');
  console.log(
    `require(esm) ok: ${Object.keys(expected).length} entry points on Node ${process.version}`,
  );
});
