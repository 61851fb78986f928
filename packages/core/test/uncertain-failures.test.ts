import { FakeClock } from '@cartkit/testing';
import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  InProcessScheduler,
  MemoryCartStorage,
  ReservationError,
} from '../src/index.js';
import {
  CompleteHookStorage,
  fastRetry,
  ScriptedReserver,
  useRuntimes,
} from './support/reservation-runtime.js';

const start = useRuntimes(50);

describe('recovering reservations after uncertain failures', () => {
  it('re-requested after an uncertain failure, then removed before the new task ran: what the service holds is released', async () => {
    const storage = new MemoryCartStorage();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = fastRetry.maxAttempts;
    const first = await start({ storage, reserver });
    await first.service.addItem('c1', { name: 'A' });
    await first.scheduler.whenIdle();
    expect((await first.service.getReservation('c1', 'A'))?.status).toBe('failed');
    expect(reserver.held()).toHaveLength(1); // held at the service under the old key
    // The scheduler is busy/stopped: the re-request's task (replaying the key) has not run yet...
    await first.scheduler.stop();
    await first.service.requestReservation('c1', 'A');
    // ...when the user removes the line. The line is `pending`, so no release task is queued.
    await first.service.removeItem('c1', 'A');
    expect(storage.outboxTasks().map((t) => [t.task.kind, t.attempts])).toEqual([['reserve', 0]]);
    const second = await start({ storage, reserver });
    await second.scheduler.whenIdle();
    // Superseded before it ran, but it replays a key that may hold a reservation: it must release it.
    expect(reserver.held()).toEqual([]);
  });

  it('a reserve cut short by closing the reserver (CLOSED) may have reached the service: removing the failed line releases it', async () => {
    const storage = new MemoryCartStorage();
    const reserver = new ScriptedReserver();
    // The call was sent, then the reserver closed under it (as @cartkit/reserver-http does).
    reserver.loseAnswers = fastRetry.maxAttempts;
    reserver.lostAnswer = () =>
      new ReservationError(ErrorCode.CLOSED, 'reserve failed: the HTTP reserver is closed.', {
        transient: true,
      });
    const { service, scheduler } = await start({ storage, reserver });
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    expect(await service.getReservation('c1', 'A')).toMatchObject({
      status: 'failed',
      lastError: { code: 'CLOSED' },
    });
    expect(reserver.held()).toHaveLength(1);
    await service.removeItem('c1', 'A');
    await scheduler.whenIdle();
    expect(reserver.held()).toEqual([]);
  });

  it('removing a failed line works while its settled task is still stored (its completion hit a storage error)', async () => {
    const storage = new CompleteHookStorage();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = 1;
    storage.failCompletes = 1;
    const completion = storage.nextCompletion();
    const { service } = await start({
      storage,
      reserver,
      maxSaveAttempts: 5,
      scheduler: (deps) =>
        new InProcessScheduler({
          ...deps,
          retry: { ...fastRetry, maxAttempts: 1, maxDelayMs: 5_000 },
        }),
    });
    await service.addItem('c1', { name: 'A' });
    await completion;
    expect((await service.getReservation('c1', 'A'))?.status).toBe('failed');
    expect(storage.outboxTasks()).toHaveLength(1); // the settled task is still stored
    await expect(service.removeItem('c1', 'A')).resolves.toBeDefined();
  });

  it('emptying the cart works at once while a settled task is still stored', async () => {
    const storage = new CompleteHookStorage();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = 1;
    storage.failCompletes = 1;
    const completion = storage.nextCompletion();
    const { service } = await start({
      storage,
      reserver,
      scheduler: (deps) =>
        new InProcessScheduler({
          ...deps,
          retry: { ...fastRetry, maxAttempts: 1, maxDelayMs: 30_000 },
        }),
    });
    await service.addItem('c1', { name: 'A' });
    await service.addItem('c1', { name: 'B' });
    await completion;
    const outcome = await service.clear('c1').then(
      () => 'ok',
      (e: { code?: string }) => e.code,
    );
    expect(outcome).toBe('ok');
  }, 20_000);

  it('a re-request landing while the failed attempt is still settling runs and reserves', async () => {
    // A delete commits; its caller resumes a little later (I/O latency) and another request gets in.
    const storage = new CompleteHookStorage();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = fastRetry.maxAttempts;
    const { service, scheduler } = await start({ storage, reserver });
    let hookRan = false;
    storage.onCompleted = async () => {
      await service.requestReservation('c1', 'A');
      hookRan = true;
    };
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    expect(hookRan).toBe(true);
    const r = await service.getReservation('c1', 'A');
    expect(storage.outboxTasks()).toEqual([]);
    expect(r?.status).toBe('reserved');
  });

  it('a removal landing while the failed attempt is still settling releases what the service holds', async () => {
    // A delete commits; its caller resumes a little later (I/O latency) and another request gets in.
    const storage = new CompleteHookStorage();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = fastRetry.maxAttempts;
    const { service, scheduler } = await start({ storage, reserver });
    let hookRan = false;
    storage.onCompleted = async () => {
      await service.removeItem('c1', 'A');
      hookRan = true;
    };
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    expect(hookRan).toBe(true);
    expect(await service.listItems('c1')).toEqual([]);
    expect(storage.outboxTasks()).toEqual([]);
    expect(reserver.held()).toEqual([]);
  });

  it('a superseded task whose every answer is lost leaves a cleanup that releases the reservation, without a cart change', async () => {
    const clock = new FakeClock();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = fastRetry.maxAttempts; // every attempt of the task loses its answer
    let retried: () => void = () => {};
    const firstRetry = new Promise<void>((resolve) => {
      retried = resolve;
    });
    const { service, scheduler } = await start({
      reserver,
      clock,
      scheduler: (deps) =>
        new InProcessScheduler({
          ...deps,
          retry: { ...fastRetry, baseDelayMs: 100, maxDelayMs: 100 },
          random: () => 1,
          onEvent: (event) => {
            if (event.type === 'retry') retried();
          },
        }),
    });
    await service.addItem('c1', { name: 'A' });
    await firstRetry; // first attempt reserved, answer lost; retry pending
    const { version } = await service.removeItem('c1', 'A').then((r) => r.cart);
    for (let i = 0; i < fastRetry.maxAttempts; i++) await clock.advance(100);
    await scheduler.whenIdle();
    expect(reserver.held()).toEqual([]);
    // The cleanup went into the outbox on its own: the cart did not move.
    expect((await service.getCart('c1')).version).toBe(version);
  });
});
