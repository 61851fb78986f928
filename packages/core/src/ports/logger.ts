/** One log method: pino's `(object, message)` calling convention. */
export type LogFn = (fields: Record<string, unknown>, message?: string) => void;

/**
 * Port: structured logging. The shape of a pino logger (or of a `console`-backed
 * adapter), so apps pass their own.
 */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop: LogFn = () => {};

/** A logger that drops everything. The default. */
export const silentLogger: Logger = Object.freeze({
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
});
