import { describe, expect, it } from 'vitest';
import { InProcessScheduler, MemoryCartStorage } from '../src/index.js';
import {
  DeleteHookStorage,
  fastRetry,
  ScriptedReserver,
  sleep,
  useRuntimes,
} from './support/reservation-runtime.js';

const start = useRuntimes(50);

describe('recovering reservations after uncertain failures', () => {
  it('re-requested after an uncertain failure, then removed before the new job ran: what the service holds is released', async () => {
    const storage = new MemoryCartStorage();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = fastRetry.maxAttempts;
    const first = await start({ storage, reserver });
    await first.service.addItem('c1', { name: 'A' });
    await first.scheduler.whenIdle();
    expect((await first.service.getReservation('c1', 'A'))?.status).toBe('failed');
    expect(reserver.held()).toHaveLength(1); // held at the service under the old key
    // The scheduler is busy/stopped: the re-request's job (replaying the key) has not run yet...
    await first.scheduler.stop();
    await first.service.requestReservation('c1', 'A');
    // ...when the user removes the line. The line is `pending`, so no release job is queued.
    await first.service.removeItem('c1', 'A');
    expect((await storage.listJobs()).map((j) => [j.kind, j.attempts])).toEqual([['reserve', 0]]);
    const second = await start({ storage, reserver });
    await second.scheduler.whenIdle();
    // Superseded before it ran, but it replays a key that may hold a reservation: it must release it.
    expect(reserver.held()).toEqual([]);
  });

  it('removing a failed line works while its settled job is still stored (its delete hit a storage error)', async () => {
    const storage = new DeleteHookStorage();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = 1;
    storage.failDeletes = 1;
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
    await sleep(50);
    expect((await service.getReservation('c1', 'A'))?.status).toBe('failed');
    expect(await storage.listJobs()).toHaveLength(1); // the settled job is still stored
    await expect(service.removeItem('c1', 'A')).resolves.toBeDefined();
  });

  it('emptying the cart works at once while a settled job is still stored', async () => {
    const storage = new DeleteHookStorage();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = 1;
    storage.failDeletes = 1;
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
    await sleep(50);
    const outcome = await service.clear('c1').then(
      () => 'ok',
      (e: { code?: string }) => e.code,
    );
    expect(outcome).toBe('ok');
  }, 20_000);

  it('a re-request landing while the failed attempt is still settling runs and reserves', async () => {
    // A delete commits; its caller resumes a little later (I/O latency) and another request gets in.
    const storage = new DeleteHookStorage();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = fastRetry.maxAttempts;
    const { service, scheduler } = await start({ storage, reserver });
    storage.onDeleted = async () => {
      await service.requestReservation('c1', 'A');
    };
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    await sleep(100);
    await scheduler.whenIdle();
    const r = await service.getReservation('c1', 'A');
    expect(await storage.listJobs()).toEqual([]);
    expect(r?.status).toBe('reserved');
  });

  it('a removal landing while the failed attempt is still settling releases what the service holds', async () => {
    // A delete commits; its caller resumes a little later (I/O latency) and another request gets in.
    const storage = new DeleteHookStorage();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = fastRetry.maxAttempts;
    const { service, scheduler } = await start({ storage, reserver });
    storage.onDeleted = async () => {
      await service.removeItem('c1', 'A');
    };
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    await sleep(100);
    await scheduler.whenIdle();
    expect(await service.listItems('c1')).toEqual([]);
    expect(await storage.listJobs()).toEqual([]);
    expect(reserver.held()).toEqual([]);
  });

  it('a superseded job whose every answer is lost leaves a cleanup that releases the reservation', async () => {
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = fastRetry.maxAttempts; // every attempt of the job loses its answer
    const { service, scheduler } = await start({
      reserver,
      scheduler: (deps) =>
        new InProcessScheduler({
          ...deps,
          retry: { ...fastRetry, baseDelayMs: 100, maxDelayMs: 100 },
          random: () => 1,
        }),
    });
    await service.addItem('c1', { name: 'A' });
    await sleep(30); // first attempt reserved, answer lost; retry pending
    await service.removeItem('c1', 'A');
    await scheduler.whenIdle();
    expect(reserver.held()).toEqual([]);
  });
});
