import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { isMainThread } from 'node:worker_threads';

/**
 * The wal-index header at the start of a WAL database's `-shm` file
 * (https://www.sqlite.org/walformat.html, "The WAL-Index Header"): two copies of
 * the same 48 bytes, in the machine's native byte order. Every commit, by any
 * connection of any process, rewrites it — `iChange` is incremented and `mxFrame`
 * grows; a reset of the WAL after a checkpoint changes the salts — writing the
 * second copy first, then (after a memory barrier) the first.
 */
const HEADER_BYTES = 48;
/** Both copies. */
const READ_BYTES = 2 * HEADER_BYTES;
/** The header's 32-bit words. */
const WORDS = HEADER_BYTES / 4;
/** `iVersion` of the only wal-index format there is (SQLite 3.7.0 and later). */
export const WAL_INDEX_VERSION = 3_007_000;
/** Byte offsets inside one copy. */
const I_CHANGE = 8;
const IS_INIT = 12;
const PAGE_SIZE = 14;
/** The checksum (two words) covers the 40 bytes before it. */
const CHECKSUM = 40;

/**
 * Tells, without a round trip to sqlite3, whether anything was committed to a WAL
 * database since an earlier look: a synchronous 96-byte read of the wal-index
 * header in the `-shm` file, which SQLite keeps in shared memory (the file is
 * memory-mapped by every connection; a `pread` of it reads the same pages).
 *
 * {@link snapshot} returns a number that stays the same for as long as the header
 * stays byte for byte the same, and `undefined` when the header cannot be trusted
 * right now — its two copies differ (a commit writing it at this moment: a torn
 * read), its checksum is wrong, it is not initialised, or the read failed — in
 * which case the caller must ask SQLite. The number never comes back after it
 * changed, so a result remembered with one is current exactly while `snapshot()`
 * still returns that number.
 *
 * Why "unchanged header ⇒ nothing committed" holds (SQLite 3.44 `wal.c`): a commit
 * that changes any page writes at least one frame and the header with it
 * (`mxFrame` and `iChange` grow); resetting the WAL changes `salt-1` (incremented)
 * and `mxFrame`; recovery after a crash rewrites it. A transaction rolled back, or
 * one that changed nothing, leaves the data as it was. Nobody can take the file out
 * of WAL mode (or truncate the `-shm` file) while this process keeps a connection on
 * it: that needs an exclusive lock, and a WAL connection holds a shared one for its
 * whole life. What it does not cover, like SQLite itself: the files deleted or
 * replaced while open, another process using another VFS or locking scheme
 * (`unix-dotfile`, `unix-none`), a network file system.
 */
/**
 * One descriptor per `-shm` file for the whole process, shared by every probe on it.
 *
 * POSIX record locks belong to the process and the file, not to a descriptor:
 * closing ANY descriptor of a file drops every lock the process holds on it —
 * SQLite's too (https://www.sqlite.org/howtocorrupt.html, 2.2). SQLite keeps a lock
 * on the `-shm` file for as long as a connection is open (the lock that tells a
 * process opening the file that the wal-index is in use and must not be
 * re-initialised); without it, another process can reset the shared memory under
 * this one's connections (a SIGBUS, or commits that vanish). So a descriptor is
 * opened once per file and closed only when the last probe on it is closed, which
 * {@link SqliteConnection} does after its SQLite connections are closed.
 *
 * The locks, and SQLite's connections whatever thread opened them, belong to the
 * whole process, while this registry knows only the main thread's storages. So the
 * last probe closes the descriptor only when no other descriptor of the process is
 * open on the file (Linux: `/proc/self/fd`): none of SQLite's, i.e. every
 * connection of every thread (a worker's storage included) is closed. Otherwise, or where that cannot be told, it is kept (one per file, until
 * the process exits; a later storage on the file reuses it). Probes are opened on
 * the main thread only ({@link WalIndexProbe.open}).
 */
const shmDescriptors = new Map<string, { readonly fd: number; users: number }>();

/** The process's descriptor of `shmPath` (opened on first use), counted as one more user. */
export function acquireShmDescriptor(shmPath: string): number {
  const open = shmDescriptors.get(shmPath);
  if (open !== undefined) {
    if (open.users > 0 || sameFile(open.fd, shmPath)) {
      open.users++;
      return open.fd;
    }
    // A kept descriptor of a file since deleted or replaced: never read it again (not
    // closed either: another realm's connections may still hold locks on that file).
    shmDescriptors.delete(shmPath);
  }
  const fd = openSync(shmPath, 'r');
  shmDescriptors.set(shmPath, { fd, users: 1 });
  return fd;
}

/**
 * One user fewer of `shmPath`'s descriptor; the last one closes it, unless another
 * descriptor of the process is open on the file (see {@link shmDescriptors}).
 */
export function releaseShmDescriptor(shmPath: string): void {
  const open = shmDescriptors.get(shmPath);
  if (open === undefined || open.users === 0) return;
  open.users--;
  if (open.users > 0 || othersOpenOn(open.fd)) return;
  shmDescriptors.delete(shmPath);
  closeSync(open.fd);
}

/** Whether descriptor `fd` is open on the file now at `path`. */
function sameFile(fd: number, path: string): boolean {
  try {
    const held = fstatSync(fd, { bigint: true });
    const named = statSync(path, { bigint: true });
    return held.ino === named.ino && held.dev === named.dev;
  } catch {
    return false;
  }
}

/**
 * Whether a descriptor of this process other than `fd` is open on `fd`'s file (SQLite's
 * own, or another realm's probe). `true` when that cannot be told (no `/proc/self/fd`).
 */
function othersOpenOn(fd: number): boolean {
  let names: string[];
  let file: { ino: bigint; dev: bigint };
  try {
    file = fstatSync(fd, { bigint: true });
    names = readdirSync('/proc/self/fd');
  } catch {
    return true;
  }
  for (const name of names) {
    const other = Number(name);
    if (other === fd || !Number.isInteger(other)) continue;
    try {
      const stat = fstatSync(other, { bigint: true });
      if (stat.ino === file.ino && stat.dev === file.dev) return true;
    } catch {
      // closed meanwhile (the directory's own descriptor, another thread's)
    }
  }
  return false;
}

/**
 * A consistent wal-index header as seen at one moment: its {@link WalIndexProbe.snapshot}
 * number and its `iChange` word, the counter every commit increments by one.
 */
export interface CommitMark {
  readonly snapshot: number;
  readonly change: number;
}

/**
 * Whether the database went from the header of `before` to the header of `after` through
 * exactly `commits` commits (0 or 1) — those the caller made between the two looks. True
 * when the headers are the same (nothing at all happened: `commits` must be 0), or when
 * `commits` is 1 and `iChange` grew by exactly one: any other commit in between, by any
 * connection of any process, would have incremented it too (SQLite 3.44 `wal.c`,
 * `sqlite3WalFrames`: `hdr.iChange++` on every commit; a WAL reset after a checkpoint
 * changes the salts and `mxFrame`, not the data nor `iChange`). SQLite's recovery of a
 * damaged header restarts `iChange` at 0, so a header whose counter is 0 proves nothing.
 */
export function onlyOwnCommits(before: CommitMark, after: CommitMark, commits: 0 | 1): boolean {
  if (after.snapshot === before.snapshot) return commits === 0;
  return commits === 1 && after.change !== 0 && after.change === (before.change + 1) >>> 0;
}

/** Attempts to read a consistent header at open (a commit may be writing it then). */
const OPEN_ATTEMPTS = 5;

export class WalIndexProbe {
  readonly #shmPath: string;
  readonly #fd: number;
  readonly #buffer = Buffer.alloc(READ_BYTES);
  readonly #words: Uint32Array;
  /** The last consistent header seen (its first copy's words). */
  readonly #last = new Uint32Array(WORDS);
  #snapshot = 0;
  #closed = false;

  /**
   * Whether the header can be relied on for this database (valid, and for its page
   * size). When it cannot, the probe is still kept open until its connection closes
   * (see {@link acquireShmDescriptor}), but reads always ask SQLite.
   */
  readonly usable: boolean;

  private constructor(shmPath: string, fd: number, pageSize: number) {
    this.#shmPath = shmPath;
    this.#fd = fd;
    this.#words = new Uint32Array(this.#buffer.buffer, this.#buffer.byteOffset, READ_BYTES / 4);
    let consistent = false;
    for (let attempt = 0; attempt < OPEN_ATTEMPTS && !consistent; attempt++) {
      consistent = this.snapshot() !== undefined;
    }
    // An empty WAL (nothing written since the last connection closed) records no page size.
    const recorded = consistent ? this.pageSize() : -1;
    this.usable = recorded === 0 || recorded === pageSize;
  }

  /**
   * Opens the `-shm` file of a WAL database (through the process's shared descriptor)
   * and checks whether it holds a valid header for a database of `pageSize` bytes per
   * page, or for an empty WAL, which records none ({@link usable}). @returns
   * undefined when the file cannot be opened. Call only while a SQLite connection of
   * this process is open on the database, and {@link close} only after they closed.
   */
  static open(shmPath: string, pageSize: number): WalIndexProbe | undefined {
    // Node closes the descriptors a worker thread opened when the worker exits (or is
    // terminated) — for this file, dropping the process's locks under the connections
    // of other threads: in a worker, reads always ask SQLite.
    if (!isMainThread) return undefined;
    let fd: number;
    try {
      fd = acquireShmDescriptor(shmPath);
    } catch {
      return undefined;
    }
    return new WalIndexProbe(shmPath, fd, pageSize);
  }

  /**
   * A number that is the same as long as nothing was committed to the database,
   * or `undefined` when the header cannot be trusted right now.
   */
  snapshot(): number | undefined {
    if (this.#closed) return undefined;
    const buffer = this.#buffer;
    let read: number;
    try {
      read = readSync(this.#fd, buffer, 0, READ_BYTES, 0);
    } catch {
      return undefined;
    }
    if (read !== READ_BYTES || !isConsistent(buffer, this.#words)) return undefined;
    const words = this.#words;
    const last = this.#last;
    let same = this.#snapshot !== 0;
    for (let i = 0; i < WORDS; i++) {
      if (last[i] !== words[i]) {
        same = false;
        last[i] = words[i] as number;
      }
    }
    if (!same) this.#snapshot++;
    return this.#snapshot;
  }

  /**
   * {@link snapshot} with the header's commit counter (`iChange`), to tell afterwards
   * whether the commits in between were only the caller's ({@link onlyOwnCommits}).
   * `undefined` when the header cannot be trusted right now.
   */
  mark(): CommitMark | undefined {
    const snapshot = this.snapshot();
    if (snapshot === undefined) return undefined;
    return { snapshot, change: this.#last[I_CHANGE / 4] as number };
  }

  /** The page size the last consistent header records (0: the WAL is empty). */
  pageSize(): number {
    const sz = LITTLE_ENDIAN
      ? this.#buffer.readUInt16LE(PAGE_SIZE)
      : this.#buffer.readUInt16BE(PAGE_SIZE);
    return (sz & 0xfe00) + ((sz & 0x0001) << 16);
  }

  /**
   * Stops using the file (its descriptor is closed when no other probe of this
   * process uses it). Idempotent; later snapshots are `undefined`.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    releaseShmDescriptor(this.#shmPath);
  }
}

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * SQLite's own test of a header read while a writer may be writing it
 * (`walIndexTryHdr`): both copies equal, initialised, version known, checksum right.
 * `words` views `buffer` as native-order 32-bit words.
 */
export function isConsistent(buffer: Buffer, words: Uint32Array): boolean {
  for (let i = 0; i < WORDS; i++) {
    if (words[i] !== words[i + WORDS]) return false;
  }
  if (buffer[IS_INIT] === 0 || words[0] !== WAL_INDEX_VERSION) return false;
  const [s1, s2] = checksum(words, CHECKSUM / 4);
  return s1 === words[CHECKSUM / 4] && s2 === words[CHECKSUM / 4 + 1];
}

/** `walChecksumBytes` in native byte order over the first `count` words (an even number). */
export function checksum(words: Uint32Array, count: number): [number, number] {
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < count; i += 2) {
    s1 = (s1 + (words[i] as number) + s2) >>> 0;
    s2 = (s2 + (words[i + 1] as number) + s1) >>> 0;
  }
  return [s1, s2];
}
