import { FakeClock } from '@cartkit/testing';
import { describe, expect, it } from 'vitest';
import {
  type Cart,
  type DeliveryEvent,
  InProcessScheduler,
  MemoryCartStorage,
  MemoryReserver,
  type SaveCartOptions,
} from '../src/index.js';
import {
  CompleteHookStorage,
  fastRetry,
  ScriptedReserver,
  useRuntimes,
} from './support/reservation-runtime.js';

/** An `onEvent` option that resolves `next(type)` when the next event of that type arrives. */
function eventWaiter() {
  const waiting: Array<{ type: DeliveryEvent['type']; resolve: (e: DeliveryEvent) => void }> = [];
  return {
    onEvent: (event: DeliveryEvent) => {
      const index = waiting.findIndex((w) => w.type === event.type);
      if (index === -1) return;
      const [waiter] = waiting.splice(index, 1);
      waiter?.resolve(event);
    },
    next: (type: DeliveryEvent['type']) =>
      new Promise<DeliveryEvent>((resolve) => waiting.push({ type, resolve })),
  };
}

const start = useRuntimes();

/** In-memory storage that counts the tasks committed with carts. */
class TaskCountingStorage extends MemoryCartStorage {
  tasksSaved = 0;
  override async saveCart(cart: Cart, options: SaveCartOptions): Promise<void> {
    await super.saveCart(cart, options);
    this.tasksSaved += options.tasks?.length ?? 0;
  }
}

describe('background reservation', () => {
  it('adding an item reserves it in the background: pending, then reserved with the id', async () => {
    const reserver = new MemoryReserver();
    const { service, scheduler } = await start({ reserver });
    const { line } = await service.addItem('c1', { name: 'Product1', quantity: 2 });
    expect(line.reservation).toMatchObject({
      status: 'pending',
      quantity: 2,
      attempts: 0,
      reservationId: null,
    });
    await scheduler.whenIdle();
    const reserved = await service.getReservation('c1', 'Product1');
    expect(reserved).toMatchObject({ status: 'reserved', attempts: 1, lastError: null });
    expect(reserver.held()).toEqual([
      expect.objectContaining({
        reservationId: reserved?.reservationId,
        name: 'Product1',
        quantity: 2,
      }),
    ]);
  });

  it('a refused item fails at once with the reason, without retry', async () => {
    const reserver = new MemoryReserver({ refuse: (name) => name === 'Forbidden' });
    const { service, scheduler } = await start({ reserver });
    await service.addItem('c1', { name: 'Forbidden' });
    await scheduler.whenIdle();
    expect(await service.getReservation('c1', 'Forbidden')).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: { code: 'RESERVATION_REFUSED' },
    });
    expect(reserver.calls).toBe(1);
  });

  it('retries transient failures, recording attempts, then reserves once', async () => {
    const reserver = new ScriptedReserver();
    reserver.failuresLeft = 2;
    const { service, scheduler } = await start({ reserver });
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    expect(await service.getReservation('c1', 'A')).toMatchObject({
      status: 'reserved',
      attempts: 3,
      lastError: null,
    });
    expect(reserver.distinctReservations).toBe(1);
  });

  it('fails after the maximum attempts with the last error; nothing stays pending', async () => {
    const reserver = new ScriptedReserver();
    reserver.failuresLeft = 100;
    const { service, scheduler, storage } = await start({ reserver });
    await service.addItem('c1', { name: 'A' });
    await service.addItem('c1', { name: 'B' });
    await scheduler.whenIdle();
    for (const name of ['A', 'B']) {
      expect(await service.getReservation('c1', name)).toMatchObject({
        status: 'failed',
        attempts: fastRetry.maxAttempts,
        lastError: { code: 'RESERVATION_UNAVAILABLE', message: '503 from service' },
      });
    }
    expect(await storage.nextDueAt()).toBeUndefined();
  });

  it('a retry after a lost answer reuses the idempotency key: one reservation at the service', async () => {
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = 1;
    const { service, scheduler } = await start({ reserver });
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    expect(await service.getReservation('c1', 'A')).toMatchObject({
      status: 'reserved',
      attempts: 2,
    });
    expect(reserver.distinctReservations).toBe(1);
    expect(reserver.calls).toBe(2);
  });
});

describe('explicit reservation requests', () => {
  it('with reserveOnAdd off, adding does not reserve; requesting does', async () => {
    const reserver = new MemoryReserver();
    const { service, scheduler } = await start({ reserver, reserveOnAdd: false });
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    expect(await service.getReservation('c1', 'A')).toBeNull();
    const requested = await service.requestReservation('c1', 'A');
    expect(requested.created).toBe(true);
    expect(requested.line.reservation?.status).toBe('pending');
    await scheduler.whenIdle();
    expect((await service.getReservation('c1', 'A'))?.status).toBe('reserved');
  });

  it('asking again while pending starts no second task', async () => {
    const reserver = new ScriptedReserver();
    let open: () => void = () => {};
    reserver.gate = new Promise((resolve) => {
      open = resolve;
    });
    const { service, scheduler, storage } = await start({ reserver, reserveOnAdd: false });
    await service.addItem('c1', { name: 'A' });
    const first = await service.requestReservation('c1', 'A');
    const second = await service.requestReservation('c1', 'A');
    expect(second.created).toBe(false);
    expect(second.line.reservation?.jobId).toBe(first.line.reservation?.jobId);
    expect((storage as MemoryCartStorage).outboxTasks()).toHaveLength(1);
    open();
    await scheduler.whenIdle();
    expect(reserver.distinctReservations).toBe(1);
  });

  it('asking again after success returns the existing reservation', async () => {
    const reserver = new MemoryReserver();
    const { service, scheduler } = await start({ reserver });
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    const reserved = await service.getReservation('c1', 'A');
    const again = await service.requestReservation('c1', 'A');
    expect(again.created).toBe(false);
    expect(again.line.reservation).toEqual(reserved);
    expect(again.cart.version).toBe((await service.getCart('c1')).version);
    await scheduler.whenIdle();
    expect(reserver.distinctReservations).toBe(1);
  });

  it('asking after a transient failure starts a new job replaying the same idempotency key', async () => {
    const reserver = new ScriptedReserver();
    reserver.failuresLeft = fastRetry.maxAttempts;
    const { service, scheduler } = await start({ reserver });
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    const failed = await service.getReservation('c1', 'A');
    expect(failed?.status).toBe('failed');
    const again = await service.requestReservation('c1', 'A');
    expect(again.created).toBe(true);
    expect(again.line.reservation).toMatchObject({ status: 'pending', attempts: 0 });
    expect(again.line.reservation?.jobId).not.toBe(failed?.jobId);
    expect(again.line.reservation?.idempotencyKey).toBe(failed?.idempotencyKey);
    await scheduler.whenIdle();
    expect((await service.getReservation('c1', 'A'))?.status).toBe('reserved');
  });

  it('asking after a refusal starts a new job with a new key', async () => {
    let refuse = true;
    const reserver = new MemoryReserver({ refuse: () => refuse });
    const { service, scheduler } = await start({ reserver });
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    const failed = await service.getReservation('c1', 'A');
    expect(failed?.lastError?.code).toBe('RESERVATION_REFUSED');
    refuse = false;
    const again = await service.requestReservation('c1', 'A');
    expect(again.line.reservation?.jobId).not.toBe(failed?.jobId);
    await scheduler.whenIdle();
    expect((await service.getReservation('c1', 'A'))?.status).toBe('reserved');
  });

  it('answers lost until the line failed: asking again recovers the one reservation, not a second', async () => {
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = fastRetry.maxAttempts;
    const { service, scheduler } = await start({ reserver });
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    expect((await service.getReservation('c1', 'A'))?.status).toBe('failed');
    expect(reserver.held()).toHaveLength(1); // the service did reserve
    await service.requestReservation('c1', 'A');
    await scheduler.whenIdle();
    const reservation = await service.getReservation('c1', 'A');
    expect(reservation?.status).toBe('reserved');
    expect(reserver.held().map((h) => h.reservationId)).toEqual([reservation?.reservationId]);
    expect(reserver.distinctReservations).toBe(1);
  });

  it('answers lost until the line failed: removing the line releases what the service holds', async () => {
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = 100;
    const { service, scheduler } = await start({ reserver });
    await service.addItem('c1', { name: 'A' });
    await service.addItem('c1', { name: 'B' });
    await scheduler.whenIdle();
    reserver.loseAnswers = 0;
    expect((await service.listItems('c1')).map((l) => l.reservation?.status)).toEqual([
      'failed',
      'failed',
    ]);
    expect(reserver.held()).toHaveLength(2);
    await service.removeItem('c1', 'A');
    await service.setQuantity('c1', 'B', 2);
    await scheduler.whenIdle();
    expect(reserver.held().map((h) => [h.name, h.quantity])).toEqual([['B', 2]]);
  });
});

describe('releasing reservations', () => {
  it('changing a reserved line releases the old reservation and reserves the new quantity', async () => {
    const reserver = new MemoryReserver();
    const { service, scheduler } = await start({ reserver });
    await service.addItem('c1', { name: 'A', quantity: 1 });
    await scheduler.whenIdle();
    const old = await service.getReservation('c1', 'A');
    await service.setQuantity('c1', 'A', 4);
    await scheduler.whenIdle();
    const now = await service.getReservation('c1', 'A');
    expect(now).toMatchObject({ status: 'reserved', quantity: 4 });
    expect(now?.reservationId).not.toBe(old?.reservationId);
    expect(reserver.held().map((h) => [h.reservationId, h.quantity])).toEqual([
      [now?.reservationId, 4],
    ]);
  });

  it('adding to a reserved line re-reserves the new total', async () => {
    const reserver = new MemoryReserver();
    const { service, scheduler } = await start({ reserver });
    await service.addItem('c1', { name: 'A', quantity: 1 });
    await scheduler.whenIdle();
    await service.addItem('c1', { name: 'A', quantity: 2 });
    await scheduler.whenIdle();
    expect(reserver.held().map((h) => h.quantity)).toEqual([3]);
  });

  it('removing a reserved line releases its reservation', async () => {
    const reserver = new MemoryReserver();
    const { service, scheduler } = await start({ reserver });
    await service.addItem('c1', { name: 'A' });
    await service.addItem('c1', { name: 'B' });
    await scheduler.whenIdle();
    await service.removeItem('c1', 'A');
    await scheduler.whenIdle();
    expect(reserver.held().map((h) => h.name)).toEqual(['B']);
    await service.clear('c1');
    await scheduler.whenIdle();
    expect(reserver.held()).toEqual([]);
  });

  it('a line changed while its first attempt is pending does not reserve the stale quantity', async () => {
    const reserver = new MemoryReserver();
    const storage = new MemoryCartStorage();
    // Not started: jobs wait, as if the scheduler were busy.
    const { service, scheduler } = await start({
      reserver,
      storage,
      scheduler: () => new InProcessScheduler({ outbox: storage, retry: fastRetry }),
    });
    await scheduler.stop();
    await service.addItem('c1', { name: 'A', quantity: 1 });
    await service.setQuantity('c1', 'A', 5);
    const next = await start({ reserver, storage });
    await next.scheduler.whenIdle();
    expect(reserver.calls).toBe(1);
    expect(reserver.held().map((h) => h.quantity)).toEqual([5]);
  });

  it('adds to a pending line create no task; one call reserves the final quantity', async () => {
    const reserver = new MemoryReserver();
    const storage = new TaskCountingStorage();
    const { service, scheduler } = await start({
      reserver,
      storage,
      scheduler: () => new InProcessScheduler({ outbox: storage, retry: fastRetry }),
    });
    await scheduler.stop();
    for (let i = 0; i < 10; i++) await service.addItem('c1', { name: 'A' });
    expect(storage.tasksSaved).toBe(1);
    const cart = await service.getCart('c1');
    expect(cart.lines[0]).toMatchObject({
      quantity: 10,
      reservation: { status: 'pending', quantity: 1 },
    });
    const next = await start({ reserver, storage });
    await next.scheduler.whenIdle();
    expect(reserver.calls).toBe(1);
    expect(reserver.held().map((h) => h.quantity)).toEqual([10]);
    expect((await next.service.getCart('c1')).lines[0]?.reservation).toMatchObject({
      status: 'reserved',
      quantity: 10,
    });
  });

  it('a burst of changes to a reserved line releases once and reserves once', async () => {
    const reserver = new MemoryReserver();
    const storage = new TaskCountingStorage();
    const { service, scheduler } = await start({ reserver, storage });
    await service.addItem('c1', { name: 'A' });
    await scheduler.whenIdle();
    await scheduler.stop();
    const before = storage.tasksSaved;
    for (let i = 0; i < 5; i++) await service.addItem('c1', { name: 'A' });
    // The first change: a release and a reservation; the others ride along.
    expect(storage.tasksSaved - before).toBe(2);
    const next = await start({ reserver, storage });
    await next.scheduler.whenIdle();
    expect(reserver.held().map((h) => h.quantity)).toEqual([6]);
    expect(reserver.calls).toBe(2);
  });

  it('a line changed while its reservation is on the wire is adjusted once, after it', async () => {
    const reserver = new ScriptedReserver();
    let open: () => void = () => {};
    reserver.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let reached: () => void = () => {};
    const onTheWire = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const reserve = reserver.reserve.bind(reserver);
    reserver.reserve = (request, options) => {
      reached();
      return reserve(request, options);
    };
    const storage = new TaskCountingStorage();
    const { service, scheduler } = await start({ reserver, storage });
    await service.addItem('c1', { name: 'A' });
    await onTheWire;
    for (let i = 0; i < 3; i++) await service.addItem('c1', { name: 'A' });
    expect(storage.tasksSaved).toBe(1);
    open();
    await scheduler.whenIdle();
    // Reserved 1 (what was on the wire), then one adjustment to 4: release 1, reserve 4.
    expect(reserver.held().map((h) => h.quantity)).toEqual([4]);
    expect(reserver.distinctReservations).toBe(2);
    expect(storage.tasksSaved).toBe(3);
    expect((await service.getCart('c1')).lines[0]?.reservation).toMatchObject({
      status: 'reserved',
      quantity: 4,
    });
  });

  it('a superseded task whose answer was lost releases what the service reserved', async () => {
    const clock = new FakeClock();
    const reserver = new ScriptedReserver();
    reserver.loseAnswers = 1;
    const events = eventWaiter();
    const { service, scheduler } = await start({
      reserver,
      clock,
      scheduler: (deps) =>
        new InProcessScheduler({
          ...deps,
          retry: { ...fastRetry, baseDelayMs: 200, maxDelayMs: 200 },
          random: () => 1,
          onEvent: events.onEvent,
        }),
    });
    const retried = events.next('retry');
    await service.addItem('c1', { name: 'A', quantity: 1 });
    // First attempt reserved at the service but the answer was lost; change the line before the retry.
    await retried;
    await service.removeItem('c1', 'A');
    await clock.advance(200);
    await scheduler.whenIdle();
    expect(reserver.distinctReservations).toBe(1);
    expect(reserver.held()).toEqual([]);
  });
});

describe('faults around settling a job', () => {
  it('an attempt interrupted by stop after reaching the service is cleaned up if the line goes', async () => {
    const storage = new MemoryCartStorage();
    const reserver = new ScriptedReserver();
    let reached: () => void = () => {};
    const reachedService = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const hang = new Promise<void>(() => {});
    // Reserves at the service, then never answers (until aborted by stop).
    reserver.reserve = async (request, options) => {
      const result = await MemoryReserver.prototype.reserve.call(reserver, request, options);
      reached();
      await Promise.race([
        hang,
        new Promise((_, reject) =>
          options?.signal?.addEventListener('abort', () => reject(options.signal?.reason)),
        ),
      ]);
      return result;
    };
    const first = await start({ storage, reserver });
    await first.service.addItem('c1', { name: 'A' });
    await reachedService;
    await first.scheduler.stop({ timeoutMs: 10 });
    await first.service.removeItem('c1', 'A');
    reserver.reserve = MemoryReserver.prototype.reserve.bind(reserver);
    const second = await start({ storage, reserver });
    await second.scheduler.whenIdle();
    expect(reserver.held()).toEqual([]);
  });

  it('a storage error while completing a succeeded task never turns the reserved line into failed', async () => {
    const clock = new FakeClock();
    const storage = new CompleteHookStorage({ clock });
    storage.failCompletes = 1;
    const reserver = new MemoryReserver();
    const { service, scheduler } = await start({
      storage,
      reserver,
      clock,
      scheduler: (deps) =>
        new InProcessScheduler({
          ...deps,
          retry: { ...fastRetry, maxAttempts: 1 },
          leaseMs: 1_000,
        }),
    });
    const failedCompletion = storage.nextCompletion();
    await service.addItem('c1', { name: 'A' });
    await failedCompletion;
    expect((await service.getReservation('c1', 'A'))?.status).toBe('reserved');
    // The task stays in the outbox under its lease; once that expires it is delivered again.
    expect(storage.outboxTasks().map((t) => [t.attempts, t.leased])).toEqual([[1, true]]);
    await clock.advance(1_000);
    await scheduler.whenIdle();
    expect(storage.outboxTasks()).toEqual([]);
    expect(await service.getReservation('c1', 'A')).toMatchObject({
      status: 'reserved',
      attempts: 2,
    });
    expect(reserver.distinctReservations).toBe(1);
  });

  it('a timed-out attempt whose success is still being recorded is not downgraded to failed', async () => {
    const clock = new FakeClock();
    // Holds the next cart save until `finish()`: recording the success is slow.
    let held: { started: () => void; gate: Promise<void> } | undefined;
    const storage = new (class extends MemoryCartStorage {
      override async saveCart(...args: Parameters<MemoryCartStorage['saveCart']>): Promise<void> {
        const hold = held;
        held = undefined;
        if (hold) {
          hold.started();
          await hold.gate;
        }
        return super.saveCart(...args);
      }
    })({ clock });
    const reserver = new ScriptedReserver();
    let openReserver: () => void = () => {};
    reserver.gate = new Promise((resolve) => {
      openReserver = resolve;
    });
    const events = eventWaiter();
    const { service, scheduler } = await start({
      storage,
      reserver,
      clock,
      scheduler: (deps) =>
        new InProcessScheduler({
          ...deps,
          retry: { ...fastRetry, maxAttempts: 1, attemptTimeoutMs: 50 },
          leaseMs: 1_000,
          onEvent: events.onEvent,
        }),
    });
    await service.addItem('c1', { name: 'A' });
    let finish: () => void = () => {};
    const recording = new Promise<void>((started) => {
      held = {
        started,
        gate: new Promise((resolve) => {
          finish = resolve;
        }),
      };
    });
    const failed = events.next('failure');
    openReserver(); // the service reserves; the worker starts recording it...
    await recording;
    await clock.advance(50); // ...and the attempt times out meanwhile
    finish();
    await failed;
    await scheduler.whenIdle();
    expect((await service.getReservation('c1', 'A'))?.status).toBe('reserved');
    expect(reserver.held()).toHaveLength(1);
  });
});

describe('durability of tasks', () => {
  it('tasks committed while the scheduler is stopped are finished by the next runtime on the same storage', async () => {
    const storage = new MemoryCartStorage();
    const reserver = new MemoryReserver();
    const first = await start({
      storage,
      reserver,
      scheduler: () => new InProcessScheduler({ outbox: storage, retry: fastRetry }),
    });
    await first.scheduler.stop();
    for (let i = 0; i < 20; i++) await first.service.addItem('c1', { name: `item-${i}` });
    expect(storage.outboxTasks()).toHaveLength(20);
    const second = await start({ storage, reserver });
    await second.scheduler.whenIdle();
    const lines = await second.service.listItems('c1');
    expect(lines.every((l) => l.reservation?.status === 'reserved')).toBe(true);
    expect(reserver.distinctReservations).toBe(20);
  });
});
