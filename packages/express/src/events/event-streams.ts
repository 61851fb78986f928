import type {
  CartChange,
  ChangeFeed,
  ChangeFeedEvent,
  ChangeSubscription,
  Clock,
  ClockTimer,
  Logger,
} from '@cartkit/core';
import type { Request, Response } from 'express';
import { HttpErrorCode } from '../errors/http-error-codes.js';
import { HttpProblem } from '../errors/http-problem.js';

/** Media type of an event stream. */
export const EVENT_STREAM_MEDIA_TYPE = 'text/event-stream';

/** Query parameter that stands in for `Last-Event-ID` (clients that cannot set headers). */
export const LAST_EVENT_ID_PARAMETER = 'lastEventId';

/** What the event streams need. */
export interface EventStreamsOptions {
  readonly changeFeed: ChangeFeed;
  /** Reads the cart's current version (a never-written cart: 0). */
  readonly versionOf: (cartId: string) => Promise<number>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly heartbeatMs: number;
  readonly queueLimit: number;
}

/**
 * The open `GET /events` streams of one router: starts them, and ends them all
 * when the app shuts down (an event stream never finishes on its own).
 */
export class EventStreams {
  readonly #options: EventStreamsOptions;
  readonly #open = new Set<EventStream>();
  #closed = false;

  constructor(options: EventStreamsOptions) {
    this.#options = options;
  }

  /** Open streams. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Answers `GET /events` for `cartId`. Rejects (before anything is sent) on bad
   * input, after shutdown began, or when the cart cannot be read.
   */
  async open(req: Request, res: Response, cartId: string): Promise<void> {
    const after = lastEventIdOf(req);
    if (this.#closed) throw shuttingDown();
    // The client went away while its cart id was resolved (an asynchronous hook, such
    // as a token check): the response's 'close' has passed, so a stream opened now
    // would never be freed — its subscription and heartbeat would live as long as
    // the process. Nothing to answer.
    if (res.closed) return;
    if (req.method === 'HEAD') {
      writeHead(res);
      res.end();
      return;
    }
    const stream = new EventStream(this.#options, res, cartId, () => this.#open.delete(stream));
    this.#open.add(stream);
    try {
      await stream.start(after);
    } catch (error) {
      stream.close();
      throw error;
    }
    // Shutdown began while the cart was read: end at once, the client reconnects elsewhere.
    if (this.#closed) stream.end();
  }

  /** Ends every open stream and refuses new ones (503 `SHUTTING_DOWN`). Idempotent. */
  closeAll(): void {
    this.#closed = true;
    for (const stream of [...this.#open]) stream.end();
  }
}

/**
 * Feed events held while a stream starts or re-reads the cart (a resume's replay
 * included); past it they are dropped and a resync follows, so even a storage
 * read that hangs under a hot cart costs bounded memory.
 */
const HELD_LIMIT = 1_000;

type Phase = 'starting' | 'live' | 'resyncing' | 'overflowed' | 'closed';

/**
 * One client's stream. Its position is the newest version the client holds
 * (the last `id:` sent). Feed events that arrive while the stream starts or
 * re-reads the cart wait (they are few: the feed delivers one cart's changes);
 * frames the socket has not taken wait in a queue of at most `queueLimit`,
 * beyond which the queue is dropped and, once the client catches up, one
 * `resync` is sent instead — a slow client costs bounded memory and never
 * silently misses a change.
 */
class EventStream {
  readonly #options: EventStreamsOptions;
  readonly #res: Response;
  readonly #cartId: string;
  readonly #onClosed: () => void;
  #phase: Phase = 'starting';
  #position = 0;
  /** Feed events held while starting or resyncing. */
  #held: ChangeFeedEvent[] = [];
  /** Frames the socket has not accepted yet (it asked to wait for `drain`). */
  #queue: string[] = [];
  #waitingForDrain = false;
  #subscription: ChangeSubscription | undefined;
  #heartbeat: ClockTimer | undefined;
  /** True while `changeFeed.subscribe` runs (a feed may deliver its replay synchronously). */
  #subscribing = false;
  /** The feed answered the resume point with `resync` during `subscribe`. */
  #resumeRefused = false;
  /** Held events were dropped (more than {@link HELD_LIMIT}): a resync must follow. */
  #heldDropped = false;

  constructor(options: EventStreamsOptions, res: Response, cartId: string, onClosed: () => void) {
    this.#options = options;
    this.#res = res;
    this.#cartId = cartId;
    this.#onClosed = onClosed;
  }

  async start(after: number | undefined): Promise<void> {
    const { changeFeed, versionOf } = this.#options;
    // Subscribe before reading the version: a change committed after the read is
    // then delivered by the feed (one committed before it is dropped as already held).
    this.#subscribing = true;
    try {
      this.#subscription = changeFeed.subscribe(
        this.#cartId,
        (event) => this.#onFeedEvent(event),
        after === undefined ? {} : { afterVersion: after },
      );
    } finally {
      this.#subscribing = false;
    }
    this.#res.on('close', () => this.close());
    const version = await versionOf(this.#cartId);
    if (this.#phase === 'closed') return;
    writeHead(this.#res);
    this.#res.flushHeaders();
    this.#scheduleHeartbeat();
    const held = this.#held;
    this.#held = [];
    let reason: string | undefined;
    if (after === undefined) {
      this.#position = version;
      this.#send('ready', version, { version });
    } else {
      // No `id:` on a resumed stream's `ready`: the client keeps its Last-Event-ID;
      // the changes after it follow (or a resync).
      this.#send('ready', undefined, { version });
      this.#position = after;
      if (after > version) {
        reason = `Last-Event-ID ${after} is ahead of the cart (version ${version})`;
      } else if (this.#resumeRefused && after < version) {
        reason = `changes after version ${after} are no longer remembered`;
      }
    }
    // A resync the feed sent while the version was read is covered by the read when
    // it names a version the read includes; otherwise (and for a resumed client
    // still behind the read) it is passed on.
    const resync = held.find(
      (event) =>
        event.type === 'resync' &&
        (this.#position < version || event.version === undefined || event.version > version),
    );
    if (reason === undefined && resync?.type === 'resync') reason = resync.reason;
    if (this.#heldDropped) {
      this.#heldDropped = false;
      reason ??= 'too many changes arrived while the stream started';
    }
    this.#phase = 'live';
    const changes = held.filter((event) => event.type === 'change');
    if (reason !== undefined) {
      this.#resync(reason, changes);
      return;
    }
    for (const event of changes) this.#onFeedEvent(event);
  }

  /** Ends the response (shutdown); the client reconnects with its Last-Event-ID. */
  end(): void {
    if (this.#phase === 'closed') return;
    this.close();
    this.#res.end();
  }

  /** Frees the subscription and the timer. Idempotent. */
  close(): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    this.#subscription?.close();
    this.#heartbeat?.clear();
    this.#held = [];
    this.#queue = [];
    this.#onClosed();
  }

  #onFeedEvent(event: ChangeFeedEvent): void {
    switch (this.#phase) {
      case 'closed':
      case 'overflowed':
        // Overflowed: dropped on purpose; a resync follows once the client catches up.
        return;
      case 'starting':
        // A resync during `subscribe` is about the resume point: weighed once the
        // version is read (a client already at it needs none).
        if (this.#subscribing && event.type === 'resync') this.#resumeRefused = true;
        else this.#hold(event);
        return;
      case 'resyncing':
        this.#hold(event);
        return;
    }
    if (event.type === 'resync') {
      this.#resync(event.reason, []);
      return;
    }
    const { version } = event.change;
    if (version <= this.#position) return; // the client has it
    if (version !== this.#position + 1) {
      this.#resync(`versions ${this.#position + 1} to ${version - 1} were not seen`, [event]);
      return;
    }
    this.#position = version;
    this.#send('change', version, changeData(event.change));
  }

  #hold(event: ChangeFeedEvent): void {
    if (this.#held.length < HELD_LIMIT) {
      this.#held.push(event);
    } else {
      this.#held = [];
      this.#heldDropped = true;
    }
  }

  /**
   * Re-reads the cart's version and sends `resync` with it; feed events arriving
   * meanwhile (and `pending`) follow, those at or below that version dropped.
   */
  #resync(reason: string, pending: ChangeFeedEvent[]): void {
    this.#phase = 'resyncing';
    this.#held = [...pending];
    this.#heldDropped = false; // the read covers what was dropped before it
    this.#options.versionOf(this.#cartId).then(
      (version) => {
        if (this.#phase !== 'resyncing') return;
        this.#position = version;
        this.#send('resync', version, { version, reason });
        if (this.#phase !== 'resyncing') return; // the send overflowed the queue
        this.#phase = 'live';
        const held = this.#held;
        this.#held = [];
        if (this.#heldDropped) {
          this.#heldDropped = false;
          this.#resync('too many changes arrived during the resync', []);
          return;
        }
        for (const event of held) {
          if (event.type === 'change') this.#onFeedEvent(event);
          else if (this.#phase === 'live') this.#resync(event.reason, []);
        }
      },
      (error: unknown) => {
        this.#options.logger.warn(
          { err: error, cartId: this.#cartId },
          'event stream: could not re-read the cart to resync; closing the stream',
        );
        this.end();
      },
    );
  }

  #send(event: string, id: number | undefined, data: unknown): void {
    const frame = `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    this.#write(frame);
  }

  #write(frame: string): void {
    if (this.#phase === 'closed' || this.#phase === 'overflowed') return;
    if (this.#waitingForDrain) {
      this.#queue.push(frame);
      if (this.#queue.length > this.#options.queueLimit) this.#overflow();
      return;
    }
    if (!this.#res.write(frame)) {
      this.#waitingForDrain = true;
      this.#res.once('drain', () => this.#onDrain());
    }
  }

  #overflow(): void {
    this.#options.logger.debug(
      { cartId: this.#cartId, queued: this.#queue.length },
      'event stream: the client reads too slowly; queued changes dropped, a resync follows',
    );
    this.#queue = [];
    this.#held = [];
    this.#phase = 'overflowed';
  }

  #onDrain(): void {
    this.#waitingForDrain = false;
    if (this.#phase === 'closed') return;
    while (this.#queue.length > 0 && !this.#waitingForDrain) {
      const frame = this.#queue.shift() as string;
      if (!this.#res.write(frame)) {
        this.#waitingForDrain = true;
        this.#res.once('drain', () => this.#onDrain());
      }
    }
    if (!this.#waitingForDrain && this.#phase === 'overflowed') {
      this.#phase = 'live';
      this.#resync('the client read too slowly: changes were dropped', []);
    }
  }

  #scheduleHeartbeat(): void {
    const { clock, heartbeatMs } = this.#options;
    this.#heartbeat = clock.setTimer(() => {
      if (this.#phase === 'closed') return;
      // A comment line: ignored by clients, keeps proxies from timing the stream out.
      if (!this.#waitingForDrain) this.#write(':\n\n');
      this.#scheduleHeartbeat();
    }, heartbeatMs);
  }
}

/** The data of a `change` event: the change without the cart id (the client knows its cart). */
function changeData(change: CartChange): Record<string, unknown> {
  return {
    version: change.version,
    kind: change.kind,
    ...(change.itemName === undefined ? {} : { itemName: change.itemName }),
    at: change.at,
  };
}

function writeHead(res: Response): void {
  res.status(200);
  res.setHeader('Content-Type', `${EVENT_STREAM_MEDIA_TYPE}; charset=utf-8`);
  res.setHeader('Cache-Control', 'no-store');
  // nginx (and proxies that follow it) would otherwise buffer the stream.
  res.setHeader('X-Accel-Buffering', 'no');
}

function shuttingDown(): HttpProblem {
  return new HttpProblem(
    503,
    HttpErrorCode.SHUTTING_DOWN,
    'The server is shutting down; reconnect to another instance.',
    { headers: { 'Retry-After': '1' } },
  );
}

/**
 * The version to resume after: the `Last-Event-ID` header, else the
 * `lastEventId` query parameter; `undefined` for a fresh stream.
 * @throws HttpProblem 400 `INVALID_LAST_EVENT_ID` when it is not a version
 */
export function lastEventIdOf(req: Request): number | undefined {
  const header = req.headersDistinct['last-event-id'];
  if (header !== undefined && header.length > 1) {
    throw invalidLastEventId(`Send one Last-Event-ID header, not ${header.length}.`);
  }
  const fromHeader = header?.[0];
  if (fromHeader !== undefined && fromHeader !== '') return parseVersion(fromHeader, 'header');
  const query = queryOf(req.originalUrl).getAll(LAST_EVENT_ID_PARAMETER);
  if (query.length > 1) {
    throw invalidLastEventId(`Send one ${LAST_EVENT_ID_PARAMETER} parameter, not ${query.length}.`);
  }
  const fromQuery = query[0];
  if (fromQuery !== undefined && fromQuery !== '') return parseVersion(fromQuery, 'parameter');
  return undefined;
}

/**
 * The query of a request target. Not `new URL(target, base)`: an absolute-form
 * target (`GET http://host:99999/events`) with an authority URL refuses would throw.
 */
function queryOf(target: string): URLSearchParams {
  const start = target.indexOf('?');
  if (start === -1) return new URLSearchParams();
  const end = target.indexOf('#', start);
  return new URLSearchParams(target.slice(start + 1, end === -1 ? undefined : end));
}

function parseVersion(text: string, where: 'header' | 'parameter'): number {
  const value = Number(text);
  if (/^(0|[1-9][0-9]{0,15})$/.test(text) && Number.isSafeInteger(value)) return value;
  const name = where === 'header' ? 'Last-Event-ID' : `The ${LAST_EVENT_ID_PARAMETER} parameter`;
  throw invalidLastEventId(
    `${name} must be a cart version (an event id of this stream: a whole number), not "${text.slice(0, 40)}".`,
  );
}

function invalidLastEventId(detail: string): HttpProblem {
  return new HttpProblem(400, HttpErrorCode.INVALID_LAST_EVENT_ID, detail);
}
