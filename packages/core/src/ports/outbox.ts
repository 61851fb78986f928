import type { ReservationTask } from '../domain/task.js';

/** Options of {@link Outbox.claim}. */
export interface ClaimOptions {
  /** Who claims (a scheduler instance / process). Leases are per owner. */
  readonly owner: string;
  /** At most this many tasks (>= 1). */
  readonly limit: number;
  /** How long the claim lasts, in milliseconds; afterwards anyone may take the task over. */
  readonly leaseMs: number;
}

/** A task claimed from the {@link Outbox}, with its delivery state. */
export interface ClaimedTask {
  /** The task as written with its cart change. */
  readonly task: ReservationTask;
  /** Deliveries started so far, including this one (1 = first). */
  readonly attempt: number;
  /** The claim expires at this time (epoch ms, on the store's clock). */
  readonly leaseUntil: number;
}

/**
 * Port: how a scheduler takes the tasks a {@link CartStore} committed. Implemented
 * by storage adapters over the same tables/keys as their carts.
 *
 * A task is *due* when its `availableAt` has passed and nobody holds a live lease
 * on it; it stays in the outbox until its holder completes it. Delivery is
 * at-least-once: a holder that dies loses its lease and the task is claimed again
 * (with a higher attempt number).
 *
 * Contract (checked by the outbox part of `storageContractSuite` in
 * `@cartkit/testing`): claims are atomic (two owners — in one process or several
 * sharing the database — never hold the same task at once), due tasks come out
 * oldest first, `complete` and `release` only act for the current holder.
 */
export interface Outbox {
  /**
   * Atomically claims up to `limit` due tasks (available and not leased) for
   * `owner`, leasing them for `leaseMs` and incrementing their attempt count.
   * Takes those due longest first; returns them in `createdAt` order.
   */
  claim(options: ClaimOptions): Promise<ClaimedTask[]>;

  /**
   * Deletes a task `owner` holds (its delivery settled).
   * @returns `false` if `owner` no longer holds it (lease lost and taken over, or gone).
   */
  complete(taskId: string, owner: string): Promise<boolean>;

  /**
   * Gives a held task back, due again at `availableAt` (epoch ms): a retry after
   * backoff, or work interrupted by shutdown (`availableAt` = now). The attempt
   * count is kept.
   * @returns `false` if `owner` no longer holds it.
   */
  release(taskId: string, owner: string, availableAt: number): Promise<boolean>;

  /**
   * The earliest time a stored task becomes claimable (its `availableAt`, or its
   * lease expiry when leased), or `undefined` when the outbox is empty. May be in
   * the past (something is due now). For timers; never blocks on a lease.
   */
  nextDueAt(): Promise<number | undefined>;
}
