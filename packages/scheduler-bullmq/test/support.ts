import { randomBytes } from 'node:crypto';

/** A queue name no other test uses. */
export function freshQueue(): string {
  return `q-${randomBytes(6).toString('hex')}`;
}
