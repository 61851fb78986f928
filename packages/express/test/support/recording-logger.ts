import type { Logger } from '@cartkit/core';

/** One recorded log call. */
export interface LogEntry {
  readonly level: keyof Logger;
  readonly fields: Record<string, unknown>;
  readonly message: string | undefined;
}

/** A Logger that keeps what it is given, for assertions on what was logged. */
export function recordingLogger(): Logger & { readonly entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: keyof Logger) =>
    (fields: Record<string, unknown>, message?: string): void => {
      entries.push({ level, fields, message });
    };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
