import { randomUUID } from 'node:crypto';
import {
  type ClaimedTask,
  computeRetryDelay,
  ErrorCode,
  isInterruption,
  type Logger,
  ReservationError,
  type ReservationTask,
  type Scheduler,
  type StopOptions,
  StorageError,
  type TaskHandler,
  toReservationError,
} from '@cartkit/core';
import { DelayedError, type Job, Queue, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import {
  type BullmqSchedulerOptions,
  type ResolvedBullmqOptions,
  resolveBullmqOptions,
} from './options.js';

/** What a BullMQ job carries: the task, exactly as the outbox held it. */
interface JobData {
  readonly task: ReservationTask;
}

/** The custom backoff type registered on the worker. */
const BACKOFF = 'cartkit';
/** How long `start` waits for Redis before failing with `STORAGE_UNAVAILABLE`. */
const CONNECT_TIMEOUT_MS = 10_000;
/** How often `whenIdle` looks again (a ref'ed timer: it keeps the process alive). */
const IDLE_POLL_MS = 25;

/**
 * The BullMQ job id of a task: derived from the task id, one to one. Ids BullMQ accepts
 * as they are (no `:`, not an integer) get `t.`; others are base64url-encoded after `b.`.
 */
export function jobIdOf(taskId: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(taskId) && !/^\d+$/.test(taskId)
    ? `t.${taskId}`
    : `b.${Buffer.from(taskId, 'utf8').toString('base64url')}`;
}

/** Resolves `true` if `promise` settles within `ms`, `false` otherwise. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A {@link Scheduler} on BullMQ (Redis), for several application instances.
 *
 * - **Relay.** Committed tasks are claimed from the outbox, added to the queue with
 *   `jobId` derived from the task id, then completed in the outbox. A crash between
 *   `add` and `complete` (of this process, or a Redis outage that fails the `add`)
 *   leaves the task in the outbox; its lease lapses and a relay adds it again, which
 *   BullMQ ignores while the first job is kept (`keepCompletedSeconds`): no task is
 *   lost, none is delivered twice.
 * - **Delivery** is BullMQ's: its `attempts` (the retry policy's `maxAttempts`), a
 *   custom `backoffStrategy` (exponential with jitter, never shorter than the
 *   handler's `Retry-After`), `UnrecoverableError` for refusals, its job locks and
 *   stalled-job recovery when a worker dies, worker `concurrency`, graceful `close`.
 * - **No task left without a verdict.** A job BullMQ fails by itself — stalled more
 *   than `maxStalledCount` times (a task that keeps killing its worker), or an attempt
 *   still running when its time ran out — never reached the handler's last attempt.
 *   The worker that fails it delivers the task once more as the last attempt with its
 *   signal already aborted: the handler records the line `failed` (the error says why)
 *   without calling the service. A last attempt whose outcome could not be recorded
 *   (PostgreSQL away) is postponed, not failed, until it can be.
 */
export class BullmqScheduler implements Scheduler {
  readonly #options: ResolvedBullmqOptions;
  readonly #logger: Logger;
  /** Relay owner id in the outbox. */
  readonly owner: string;
  #queue: Queue | undefined;
  #worker: Worker | undefined;
  #handler: TaskHandler | undefined;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #relaying: Promise<void> | undefined;
  #relayAgain = false;
  #pollTimer: NodeJS.Timeout | undefined;
  /** Aborts of the deliveries running in this process. */
  readonly #active = new Set<(reason: ReservationError) => void>();
  /** Jobs whose final outcome the handler recorded (their `failed` event needs nothing). */
  readonly #recorded = new WeakSet<Job<JobData>>();
  /** Verdicts on jobs BullMQ failed by itself, still being recorded. */
  readonly #verdicts = new Set<Promise<void>>();

  constructor(options: BullmqSchedulerOptions) {
    this.#options = resolveBullmqOptions(options);
    this.#logger = this.#options.logger;
    this.owner = this.#options.owner ?? `bullmq-relay-${randomUUID()}`;
  }

  /** The queue name in Redis. */
  get queueName(): string {
    return this.#options.queueName;
  }

  /**
   * Connects to Redis (failing with `STORAGE_UNAVAILABLE` naming the server when it
   * cannot), starts the worker and the outbox relay.
   */
  async start(handler: TaskHandler): Promise<void> {
    if (this.#state !== 'new') {
      throw new StorageError(ErrorCode.CLOSED, 'This BullMQ scheduler was already started.');
    }
    const o = this.#options;
    await probe(o.url, o.safeUrl);
    this.#handler = handler;
    const connection = { url: o.url, maxRetriesPerRequest: null };
    const queue = new Queue<JobData>(o.queueName, {
      connection: { url: o.url, enableOfflineQueue: false, maxRetriesPerRequest: 1 },
      prefix: o.prefix,
    });
    queue.on('error', (error) =>
      this.#logger.warn({ err: error, queue: o.queueName }, 'cartkit: BullMQ queue error'),
    );
    const worker = new Worker<JobData>(o.queueName, (job, token) => this.#process(job, token), {
      connection,
      prefix: o.prefix,
      concurrency: o.concurrency,
      lockDuration: o.lockDurationMs,
      stalledInterval: o.stalledIntervalMs,
      maxStalledCount: o.maxStalledCount,
      autorun: false,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) =>
          computeRetryDelay(
            o.retry,
            attemptsMade,
            ReservationError.is(error) ? error.retryAfterMs : undefined,
          ),
      },
    });
    worker.on('error', (error) =>
      this.#logger.warn({ err: error, queue: o.queueName }, 'cartkit: BullMQ worker error'),
    );
    worker.on('failed', (job, error) => {
      if (job !== undefined) this.#onFailed(job, error);
    });
    this.#queue = queue;
    this.#worker = worker;
    try {
      await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
    } catch (error) {
      await Promise.allSettled([worker.close(true), queue.close()]);
      throw unavailable(o.safeUrl, error);
    }
    this.#state = 'running';
    worker.run().catch((error: unknown) => {
      this.#logger.error({ err: error }, 'cartkit: BullMQ worker stopped with an error');
    });
    this.#schedulePoll();
    this.notify();
    this.#logger.info(
      { queue: o.queueName, owner: this.owner, concurrency: o.concurrency },
      'cartkit: BullMQ scheduler started',
    );
  }

  notify(): void {
    if (this.#state !== 'running') return;
    if (this.#relaying !== undefined) {
      this.#relayAgain = true;
      return;
    }
    this.#relaying = this.#relayLoop().finally(() => {
      this.#relaying = undefined;
    });
  }

  /**
   * Resolves when the outbox holds nothing and the queue has no waiting, delayed or
   * active job (of any instance sharing it). Keeps the process alive while awaited.
   */
  async whenIdle(): Promise<void> {
    for (;;) {
      if (this.#state !== 'running') return;
      const queue = this.#queue;
      if (queue === undefined) return;
      try {
        const [due, counts] = await Promise.all([
          this.#options.outbox.nextDueAt(),
          queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children'),
        ]);
        const queued = Object.values(counts).reduce((a, b) => a + b, 0);
        if (
          due === undefined &&
          queued === 0 &&
          this.#active.size === 0 &&
          this.#relaying === undefined
        ) {
          return;
        }
      } catch (error) {
        this.#logger.debug({ err: error }, 'cartkit: whenIdle could not read the queue yet');
      }
      await new Promise((resolve) => setTimeout(resolve, IDLE_POLL_MS));
    }
  }

  /**
   * Stops relaying and taking jobs, lets running deliveries finish (bounded by
   * `timeoutMs`, default 5000), then aborts the rest as interruptions: their jobs go
   * back to `wait` for another worker, without counting an attempt.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    const timeoutMs = options.timeoutMs ?? 5_000;
    clearTimeout(this.#pollTimer);
    const worker = this.#worker;
    // Closing first: the worker takes no further job from here on.
    const closing = worker?.close();
    if (this.#relaying !== undefined) await settlesWithin(this.#relaying, timeoutMs);
    if (this.#verdicts.size > 0) await settlesWithin(Promise.all(this.#verdicts), timeoutMs);
    if (worker !== undefined && closing !== undefined) {
      if (!(await settlesWithin(closing, timeoutMs))) {
        this.#logger.warn(
          { running: this.#active.size },
          'cartkit: BullMQ stop timed out; interrupting running deliveries',
        );
        const interruption = new ReservationError(
          ErrorCode.RESERVATION_ABORTED,
          'Scheduler stopped during the attempt.',
          { transient: true, details: { interrupted: true } },
        );
        for (const abort of this.#active) abort(interruption);
        if (!(await settlesWithin(closing, timeoutMs))) {
          this.#logger.warn(
            {},
            'cartkit: BullMQ worker did not close; its jobs will be recovered as stalled',
          );
          await settlesWithin(worker.close(true), 1_000);
        }
      }
    }
    await settlesWithin(this.#queue?.close() ?? Promise.resolve(), timeoutMs);
    this.#state = 'stopped';
    this.#logger.info({ queue: this.#options.queueName }, 'cartkit: BullMQ scheduler stopped');
  }

  // ------------------------------------------------------------ delivery

  async #process(job: Job<JobData>, token: string | undefined): Promise<void> {
    const handler = this.#handler;
    if (handler === undefined) throw new Error('not started');
    const task = job.data.task;
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    const policy = this.#options.retry;
    const controller = new AbortController();
    let rejectAborted: (reason: unknown) => void = () => {};
    const aborted = new Promise<never>((_, reject) => {
      rejectAborted = reject;
    });
    aborted.catch(() => undefined);
    const abort = (reason: ReservationError) => {
      if (controller.signal.aborted) return;
      controller.abort(reason);
      rejectAborted(reason);
    };
    const timer = setTimeout(
      () =>
        abort(
          new ReservationError(
            ErrorCode.RESERVATION_ABORTED,
            `Attempt timed out after ${policy.attemptTimeoutMs} ms.`,
            { transient: true },
          ),
        ),
      policy.attemptTimeoutMs,
    );
    this.#active.add(abort);
    // Whether the handler recorded its outcome: it resolves, or rejects with the
    // ReservationError it recorded; anything else (a StorageError) means it could not.
    let recorded: boolean | undefined;
    const handling = handler
      .handle(task, { attempt, isLastAttempt: attempt >= maxAttempts, signal: controller.signal })
      .then(
        () => {
          recorded = true;
        },
        (error: unknown) => {
          recorded = ReservationError.is(error);
          throw error;
        },
      );
    try {
      await Promise.race([handling, aborted]);
    } catch (error) {
      if (controller.signal.aborted) {
        // A handler that honours the signal records the outcome on its way out; one
        // that ignores it is not waited for any longer than that.
        await settlesWithin(handling, Math.min(5_000, this.#options.lockDurationMs / 2));
      }
      const failure = toReservationError(
        controller.signal.aborted ? controller.signal.reason : error,
      );
      if (isInterruption(failure)) {
        // Shutdown, not a verdict: back to `wait` for another worker, attempt not counted.
        await job.moveToWait(token);
        throw new WaitingError();
      }
      const last = !failure.transient || attempt >= maxAttempts;
      if (last && recorded === false) {
        // The last attempt's outcome could not be recorded on the cart (its storage is
        // away): failing the job would leave the line pending for good. Postponed
        // instead, not counted as an attempt; the same idempotency key goes out again.
        this.#logger.warn(
          { err: error, taskId: task.id, attempt },
          'cartkit: could not record the last attempt of a task; trying it again later',
        );
        await job.moveToDelayed(Date.now() + computeRetryDelay(policy, attempt), token);
        throw new DelayedError();
      }
      if (last && recorded === true) this.#recorded.add(job);
      if (!failure.transient) throw new UnrecoverableError(failure.message);
      throw failure; // the backoff strategy reads its retryAfterMs
    } finally {
      clearTimeout(timer);
      this.#active.delete(abort);
    }
  }

  /**
   * A job failed for good without the handler's verdict on its last attempt: BullMQ
   * failed it by itself (stalled too often) or the attempt outlived its time. Delivers
   * the task once more as its last attempt with an aborted signal, so the handler
   * records the line `failed` (retrying while the storage is away, until stopped).
   */
  #onFailed(job: Job<JobData>, error: Error): void {
    if (job.finishedOn === undefined || this.#recorded.has(job)) return; // retried, or recorded
    const handler = this.#handler;
    const task = job.data?.task;
    if (handler === undefined || task === undefined) return;
    const reason = new ReservationError(
      ErrorCode.RESERVATION_ABORTED,
      `The task's job failed in BullMQ without a verdict: ${error.message}.`,
      { transient: true, details: { bullmq: error.message } },
    );
    // A job that stalled was started, maybe reaching the service, without being counted.
    const attempt = Math.max(1, job.attemptsMade, job.attemptsStarted - 1);
    this.#logger.warn(
      { taskId: task.id, jobId: job.id, attempt, reason: error.message },
      'cartkit: BullMQ failed a job by itself; recording the task as failed',
    );
    const verdict = (async () => {
      for (let tries = 1; this.#state === 'running' || tries === 1; tries++) {
        try {
          await handler.handle(task, {
            attempt,
            isLastAttempt: true,
            signal: AbortSignal.abort(reason),
          });
          return;
        } catch (thrown) {
          if (ReservationError.is(thrown)) return; // recorded (the usual way: it rethrows)
          this.#logger.warn(
            { err: thrown, taskId: task.id },
            'cartkit: could not record a failed job on its line yet; trying again',
          );
          const delay = computeRetryDelay(this.#options.retry, tries);
          await new Promise((resolve) => setTimeout(resolve, delay).unref());
        }
      }
    })();
    this.#verdicts.add(verdict);
    void verdict.finally(() => this.#verdicts.delete(verdict));
  }

  // --------------------------------------------------------------- relay

  #schedulePoll(): void {
    if (this.#state !== 'running') return;
    this.#pollTimer = setTimeout(() => {
      this.notify();
      this.#schedulePoll();
    }, this.#options.pollIntervalMs);
    this.#pollTimer.unref();
  }

  async #relayLoop(): Promise<void> {
    do {
      this.#relayAgain = false;
      try {
        while (this.#state === 'running') {
          const moved = await this.#relayBatch();
          if (moved < this.#options.relayBatch) break;
        }
      } catch (error) {
        this.#logger.warn(
          { err: error },
          'cartkit: outbox relay failed; retrying at the next poll',
        );
      }
    } while (this.#relayAgain && this.#state === 'running');
  }

  async #relayBatch(): Promise<number> {
    const o = this.#options;
    const claimed = await o.outbox.claim({
      owner: this.owner,
      limit: o.relayBatch,
      leaseMs: o.relayLeaseMs,
    });
    await Promise.all(claimed.map((c) => this.#relayOne(c)));
    return claimed.length;
  }

  async #relayOne(claimed: ClaimedTask): Promise<void> {
    const o = this.#options;
    const queue = this.#queue;
    const { task } = claimed;
    if (queue === undefined) return;
    try {
      await queue.add(
        task.kind,
        { task },
        {
          jobId: jobIdOf(task.id),
          attempts: o.retry.maxAttempts,
          backoff: { type: BACKOFF },
          removeOnComplete: { age: o.keepCompletedSeconds },
          removeOnFail: { age: o.keepFailedSeconds },
        },
      );
    } catch (error) {
      // Redis is down or refused: the task stays in the outbox and comes back.
      this.#logger.warn(
        { err: error, taskId: task.id },
        'cartkit: could not add a task to the queue; it stays in the outbox',
      );
      await o.outbox
        .release(task.id, this.owner, Date.now() + o.pollIntervalMs)
        .catch(() => undefined);
      return;
    }
    try {
      await o.outbox.complete(task.id, this.owner);
    } catch (error) {
      // Added but not completed: the lease lapses, a relay adds it again, BullMQ ignores it.
      this.#logger.warn(
        { err: error, taskId: task.id },
        'cartkit: queued a task but could not complete it in the outbox; it will be re-relayed (de-duplicated)',
      );
    }
  }
}

/** Connects once to check the server and the credentials, with a clear error. */
async function probe(url: string, safeUrl: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: () => null,
  });
  // The socket's own error (ECONNREFUSED, WRONGPASS…) says more than "Connection is closed".
  let socketError: unknown;
  client.on('error', (error) => {
    socketError ??= error;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw unavailable(safeUrl, socketError ?? error);
  } finally {
    client.disconnect();
  }
}

function unavailable(safeUrl: string, error: unknown): StorageError {
  const code = (error as { code?: unknown } | null)?.code;
  const message = (error instanceof Error ? error.message : String(error)).replace(/\.$/, '');
  const reason =
    code === 'ECONNREFUSED'
      ? 'connection refused (is the server running, on this host and port?)'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'the host name does not resolve'
        : /WRONGPASS|NOAUTH|invalid password|invalid username/i.test(message)
          ? `authentication failed: ${message}`
          : message;
  return new StorageError(
    ErrorCode.STORAGE_UNAVAILABLE,
    `Cannot connect to Redis at ${safeUrl}: ${reason}.`,
    { cause: error, details: { url: safeUrl, ...(typeof code === 'string' ? { code } : {}) } },
  );
}

/**
 * Creates a {@link BullmqScheduler} (validating its options; nothing connects until
 * `start`).
 *
 * @example
 * ```ts
 * const storage = await createPostgresCartStorage({ url: process.env.DATABASE_URL! });
 * const cart = await createCart({
 *   storage,
 *   scheduler: ({ outbox, logger }) =>
 *     createBullmqScheduler({ outbox, url: process.env.REDIS_URL!, logger }),
 * });
 * ```
 * @throws ConfigurationError naming an invalid option.
 */
export function createBullmqScheduler(options: BullmqSchedulerOptions): BullmqScheduler {
  return new BullmqScheduler(options);
}
