import { ReservationError } from '@cartkit/core';

/** The `ReservationError` a call rejects with; anything else (or success) fails the test. */
export async function failure(promise: Promise<unknown>): Promise<ReservationError> {
  try {
    await promise;
  } catch (error) {
    if (ReservationError.is(error)) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}
