// A per-LU LBA range lock, FIFO-fair. The LU runs SIMPLE commands concurrently; commands whose
// ranges overlap are ordered here instead of serialising the whole task set:
//  - 'shared' (READ, VERIFY, PRE-FETCH, GET LBA STATUS) waits only for earlier overlapping
//    exclusive holders, so reads still run in parallel with each other;
//  - 'exclusive' (every medium write: WRITE, WRITE SAME, UNMAP, COMPARE AND WRITE, ORWRITE,
//    WRITE ATOMIC, WRITE AND VERIFY) waits for every earlier overlapping entry.
// COMPARE AND WRITE holds its exclusive lock from the read through the write, so no other write
// (from any I_T nexus) can slip in between the compare and the write, and no read observes a
// half-applied CAW or WRITE ATOMIC. Waiting only on *earlier* entries means no deadlock: every
// entry waits on a finite set of entries that were queued before it.

export type LockMode = 'shared' | 'exclusive';

/** One holder or waiter. `released` (a promise) is made only when a later entry must wait. */
class Entry {
  readonly start: bigint;
  /** Exclusive end. */
  readonly end: bigint;
  readonly mode: LockMode;
  private promise: Promise<void> | undefined;
  private resolve: (() => void) | undefined;
  private done = false;
  constructor(start: bigint, end: bigint, mode: LockMode) {
    this.start = start;
    this.end = end;
    this.mode = mode;
  }
  get released(): Promise<void> {
    if (!this.promise) this.promise = this.done ? Promise.resolve() : new Promise<void>((r) => (this.resolve = r));
    return this.promise;
  }
  release(): void {
    this.done = true;
    this.resolve?.();
  }
}

export type Release = () => void;

export class RangeLock {
  private readonly entries = new Set<Entry>();

  /** Number of entries held or waiting (for tests and describe()). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Waits until [lba, lba+count) may be used in `mode`; returns the release function (call it
   * exactly once, in a finally). A zero-length range still orders against overlapping writers
   * at its start LBA only when count > 0; count 0 returns at once.
   */
  async acquire(lba: bigint, count: number | bigint, mode: LockMode): Promise<Release> {
    return this.tryAcquire(lba, count, mode);
  }

  /**
   * Like acquire, but returns the release function itself (no promise, no microtask hop) when
   * nothing overlapping is held or queued: the common case on the I/O hot path.
   */
  tryAcquire(lba: bigint, count: number | bigint, mode: LockMode): Release | Promise<Release> {
    const n = typeof count === 'bigint' ? count : BigInt(count);
    if (n <= 0n) return noop;
    const start = lba;
    const end = lba + n;
    let waitFor: Promise<void>[] | undefined;
    const exclusive = mode === 'exclusive';
    for (const e of this.entries) {
      if ((exclusive || e.mode === 'exclusive') && e.start < end && start < e.end) (waitFor ??= []).push(e.released);
    }
    const entry = new Entry(start, end, mode);
    this.entries.add(entry);
    let done = false;
    const release = (): void => {
      if (done) return;
      done = true;
      this.entries.delete(entry);
      entry.release();
    };
    if (!waitFor) return release;
    return (waitFor.length === 1 ? waitFor[0]! : Promise.all(waitFor)).then(() => release);
  }

  /** Runs `fn` holding the range. */
  async with<T>(lba: bigint, count: number | bigint, mode: LockMode, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(lba, count, mode);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

const noop: Release = () => undefined;
