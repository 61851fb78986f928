import { describe, expect, it } from 'vitest';
import {
  CartError,
  ConfigurationError,
  ConflictError,
  ErrorCode,
  NotFoundError,
  ReservationError,
  StorageError,
  toReservationError,
  ValidationError,
} from '../src/index.js';

describe('errors', () => {
  it('carry a stable code, a kind, details and the standard cause', () => {
    const cause = new Error('root');
    const error = new ValidationError(ErrorCode.INVALID_QUANTITY, 'bad', {
      cause,
      details: { field: 'quantity' },
    });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ValidationError');
    expect(error.code).toBe('INVALID_QUANTITY');
    expect(error.kind).toBe('validation');
    expect(error.cause).toBe(cause);
    expect(error.toJSON()).toEqual({
      name: 'ValidationError',
      code: 'INVALID_QUANTITY',
      kind: 'validation',
      message: 'bad',
      details: { field: 'quantity' },
    });
  });

  it('is() recognises each family, and CartError.is() all of them', () => {
    const all = [
      new ValidationError('X', 'x'),
      new NotFoundError('X', 'x'),
      new ConflictError('X', 'x'),
      ReservationError.refused('x'),
      new StorageError('X', 'x'),
      new ConfigurationError('x'),
    ];
    const classes = [
      ValidationError,
      NotFoundError,
      ConflictError,
      ReservationError,
      StorageError,
      ConfigurationError,
    ];
    for (const [i, error] of all.entries()) {
      expect(CartError.is(error)).toBe(true);
      for (const [j, cls] of classes.entries()) expect(cls.is(error)).toBe(i === j);
    }
    for (const other of [new Error('x'), null, undefined, 'x', { code: 'INVALID_QUANTITY' }]) {
      expect(CartError.is(other)).toBe(false);
    }
  });

  it('is() recognises errors from another copy of the package by their brand', () => {
    // What an error built by a second copy of @cartkit/core looks like to this one.
    const foreign = Object.assign(new Error('x'), {
      [Symbol.for('cartkit.error')]: true,
      kind: 'not-found',
      code: 'ITEM_NOT_FOUND',
    });
    expect(foreign instanceof CartError).toBe(false);
    expect(CartError.is(foreign)).toBe(true);
    expect(NotFoundError.is(foreign)).toBe(true);
    expect(ValidationError.is(foreign)).toBe(false);
  });

  it('reservation errors say whether a retry may help', () => {
    const refused = ReservationError.refused('no', { status: 409 });
    expect(refused).toMatchObject({ code: 'RESERVATION_REFUSED', transient: false, status: 409 });
    const later = ReservationError.unavailable('busy', { retryAfterMs: 2000, status: 429 });
    expect(later).toMatchObject({
      code: 'RESERVATION_UNAVAILABLE',
      transient: true,
      retryAfterMs: 2000,
    });
  });

  it('toReservationError keeps reservation errors and wraps anything else as transient with cause', () => {
    const refused = ReservationError.refused('no');
    expect(toReservationError(refused)).toBe(refused);
    const raw = new TypeError('socket hang up');
    const wrapped = toReservationError(raw);
    expect(wrapped).toMatchObject({
      code: 'RESERVATION_UNAVAILABLE',
      transient: true,
      message: 'socket hang up',
    });
    expect(wrapped.cause).toBe(raw);
  });

  it('configuration errors name the option', () => {
    expect(new ConfigurationError('bad', { option: 'url' })).toMatchObject({
      code: 'INVALID_OPTION',
      kind: 'configuration',
      details: { option: 'url' },
    });
  });

  it('every code is its own UPPER_SNAKE name', () => {
    for (const [key, value] of Object.entries(ErrorCode)) {
      expect(value).toBe(key);
      expect(value).toMatch(/^[A-Z][A-Z0-9_]*$/);
    }
  });
});
