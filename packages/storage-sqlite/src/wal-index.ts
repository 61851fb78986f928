import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';

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
export class WalIndexProbe {
  readonly #fd: number;
  readonly #buffer = Buffer.alloc(READ_BYTES);
  readonly #words: Uint32Array;
  /** The last consistent header seen (its first copy's words). */
  readonly #last = new Uint32Array(WORDS);
  #snapshot = 0;
  #closed = false;

  private constructor(fd: number) {
    this.#fd = fd;
    this.#words = new Uint32Array(this.#buffer.buffer, this.#buffer.byteOffset, READ_BYTES / 4);
  }

  /**
   * Opens the `-shm` file of a WAL database and checks that it holds a valid header
   * for a database of `pageSize` bytes per page (or for an empty WAL, which records none). @returns undefined when it does not
   * (the caller then reads through SQLite every time).
   */
  static open(shmPath: string, pageSize: number): WalIndexProbe | undefined {
    let fd: number;
    try {
      fd = openSync(shmPath, 'r');
    } catch {
      return undefined;
    }
    const probe = new WalIndexProbe(fd);
    // An empty WAL (nothing written since the last connection closed) records no page size.
    const recorded = probe.snapshot() === undefined ? -1 : probe.pageSize();
    if (recorded !== 0 && recorded !== pageSize) {
      probe.close();
      return undefined;
    }
    return probe;
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

  /** The page size the last consistent header records (0: the WAL is empty). */
  pageSize(): number {
    const sz = LITTLE_ENDIAN
      ? this.#buffer.readUInt16LE(PAGE_SIZE)
      : this.#buffer.readUInt16BE(PAGE_SIZE);
    return (sz & 0xfe00) + ((sz & 0x0001) << 16);
  }

  /** Closes the file. Idempotent; later snapshots are `undefined`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
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
