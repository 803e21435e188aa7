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

interface Entry {
  readonly start: bigint;
  /** Exclusive end. */
  readonly end: bigint;
  readonly mode: LockMode;
  readonly released: Promise<void>;
}

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
  async acquire(lba: bigint, count: number | bigint, mode: LockMode): Promise<() => void> {
    const n = BigInt(count);
    if (n <= 0n) return () => undefined;
    const start = lba;
    const end = lba + n;
    const waitFor: Promise<void>[] = [];
    for (const e of this.entries) {
      if (e.start < end && start < e.end && (mode === 'exclusive' || e.mode === 'exclusive')) waitFor.push(e.released);
    }
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const entry: Entry = { start, end, mode, released };
    this.entries.add(entry);
    if (waitFor.length > 0) await Promise.all(waitFor);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.entries.delete(entry);
      release();
    };
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
