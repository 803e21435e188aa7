// Write-back of dirty cache pages: in the background (pages dirty for longer than the dirty age,
// or any dirty pages while writers wait for a frame or half the cache is dirty) and on demand
// (SYNCHRONIZE CACHE, close). Consecutive pages go out as one pwritev straight from the frames.
//
// Ordering: every store write of a page (write-back, write-through, deallocation) holds that
// page exclusively in the cache's page lock, so two writes of one page never overlap and reach
// the store in the order they were issued; reads of missing pages hold it shared. A run
// re-checks its pages once it holds the lock (they may have been written back, copied or
// dropped meanwhile) and pins them while the I/O runs, so the bytes written are the bytes
// that are then marked clean.
import type { Release, RangeLock } from './range-lock.ts';
import { DIRTY, NONE, PAGE_SIZE, type PageCache } from './page-cache.ts';
import type { BlockStore } from './store.ts';

/** What the cache needs from the store underneath: positioned I/O straight into or out of pages. */
export interface PagedStore extends BlockStore {
  readInto(offset: number, bufs: readonly Buffer[]): Promise<void>;
  writeBuffers(offset: number, bufs: readonly Buffer[]): Promise<void>;
  deallocate(offset: number, length: number): Promise<void>;
}

/** Largest run written with one pwritev (256 pages: 1 MiB). */
export const MAX_RUN_PAGES = 256;
/** Background write-back runs in flight at most (the libuv threadpool has 4 threads). */
const BACKGROUND_RUNS = 4;
/** Runs in flight at most for an explicit flush. */
const FLUSH_RUNS = 8;

export interface WritebackStats {
  /** pwritev calls that wrote dirty pages back. */
  runs: number;
  pagesWritten: number;
  errors: number;
  lastError: string | undefined;
}

export class Writeback {
  readonly stats: WritebackStats = { runs: 0, pagesWritten: 0, errors: 0, lastError: undefined };
  private readonly cache: PageCache;
  private readonly lock: RangeLock;
  private readonly store: PagedStore;
  private readonly dirtyAgeMs: number;
  private readonly size: number;
  private background = 0;
  private pressureQueued = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(o: { cache: PageCache; lock: RangeLock; store: PagedStore; dirtyAgeMs: number }) {
    this.cache = o.cache;
    this.lock = o.lock;
    this.store = o.store;
    this.dirtyAgeMs = o.dirtyAgeMs;
    this.size = o.store.size;
    // Deferred: pressure is noticed in the middle of a write (markDirty) that goes on copying
    // into the following pages; a run started there would pin them and pwritev them while they
    // change, then mark them clean (found by the randomized cache test: stale reads).
    this.cache.onPressure = () => {
      if (this.pressureQueued) return;
      this.pressureQueued = true;
      queueMicrotask(() => {
        this.pressureQueued = false;
        this.kick(true);
      });
    };
    this.timer = setInterval(() => this.kick(false), Math.max(10, this.dirtyAgeMs / 4));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Starts background runs: the oldest dirty pages, all of them under pressure, otherwise only
   * those dirty for longer than the dirty age. Errors are counted; the pages stay dirty.
   */
  kick(pressure: boolean): void {
    if (this.background >= BACKGROUND_RUNS || this.cache.dirtyCount === 0) return;
    const cache = this.cache;
    const cutoff = Date.now() - this.dirtyAgeMs;
    const want = (BACKGROUND_RUNS - this.background) * MAX_RUN_PAGES;
    const picked: number[] = [];
    for (const f of cache.dirtyFrames()) {
      // the map is in dirtying order, so the first young page ends an age-based pick
      if (!pressure && cache.dirtySince(f) > cutoff) break;
      if (cache.queued(f)) continue;
      cache.setQueued(f, true);
      picked.push(f);
      if (picked.length >= want) break;
    }
    for (const run of runsOf(cache, picked)) {
      const first = cache.page(run[0]!);
      const last = cache.page(run[run.length - 1]!);
      this.background++;
      this.writeRun(first, last)
        // counted in stats; the pages stay dirty for the next try, and writers waiting for a
        // frame fail with the error (a WRITE ERROR) rather than wait for a store that fails
        .catch((e: unknown) => cache.failRoomWaiters(e))
        .finally(() => {
          this.background--;
          for (let p = first; p <= last; p++) {
            const f = cache.peek(p);
            if (f !== NONE) cache.setQueued(f, false);
          }
          if (cache.dirtyCount > 0) setImmediate(() => this.kick(cache.dirtyCount * 2 > cache.capacity));
        });
    }
  }

  /** Writes back every page dirty now in [firstPage, lastPage] (all when omitted); rejects on the first error. */
  async flush(firstPage = 0, lastPage = Number.MAX_SAFE_INTEGER): Promise<void> {
    const picked: number[] = [];
    for (const f of this.cache.dirtyFrames()) {
      const p = this.cache.page(f);
      if (p >= firstPage && p <= lastPage) picked.push(f);
    }
    const runs = runsOf(this.cache, picked).map((r) => [this.cache.page(r[0]!), this.cache.page(r[r.length - 1]!)] as const);
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (next < runs.length) {
        const [first, last] = runs[next++]!;
        try {
          await this.writeRun(first, last);
        } catch (e) {
          failure ??= e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FLUSH_RUNS, runs.length) }, worker));
    if (failure !== undefined) throw failure;
  }

  /**
   * Writes the pages of [first, last] that are dirty once the lock is held (one pwritev per run
   * of consecutive ones) and marks them clean. Pages, not frames: while this waited for the lock,
   * a picked frame may have been written back, freed and reused for a page outside the range,
   * which must not be written without its own lock (found by the randomized cache test: two
   * write-backs of one page racing, the older bytes landing last, the page then marked clean).
   */
  private async writeRun(first: number, last: number): Promise<void> {
    const cache = this.cache;
    const held = this.lock.tryAcquire(BigInt(first), last - first + 1, 'exclusive');
    const release: Release = typeof held === 'function' ? held : await held;
    const pinned: number[] = [];
    try {
      for (let p = first; p <= last; p++) {
        const f = cache.peek(p);
        if (f !== NONE && cache.state(f) === DIRTY) {
          cache.pin(f);
          pinned.push(f);
        }
      }
      // pages that dropped out split the run
      for (const sub of runsOf(cache, pinned)) {
        const at = cache.page(sub[0]!) * PAGE_SIZE;
        try {
          await this.store.writeBuffers(at, pageBuffers(cache, sub, this.size));
        } catch (e) {
          this.stats.errors++;
          this.stats.lastError = e instanceof Error ? e.message : String(e);
          throw e;
        }
        this.stats.runs++;
        this.stats.pagesWritten += sub.length;
        for (const f of sub) cache.markClean(f); // a page copied meanwhile is detached: no-op
      }
    } finally {
      for (const f of pinned) cache.unpin(f);
      release();
    }
  }
}

/** Frames sorted by page and cut into runs of consecutive pages (at most MAX_RUN_PAGES each). */
export function runsOf(cache: PageCache, frames: number[]): number[][] {
  if (frames.length === 0) return [];
  const sorted = frames.length > 1 ? [...frames].sort((a, b) => cache.page(a) - cache.page(b)) : frames;
  const runs: number[][] = [];
  let run: number[] = [sorted[0]!];
  for (let i = 1; i < sorted.length; i++) {
    const f = sorted[i]!;
    if (cache.page(f) === cache.page(run[run.length - 1]!) + 1 && run.length < MAX_RUN_PAGES) run.push(f);
    else {
      runs.push(run);
      run = [f];
    }
  }
  runs.push(run);
  return runs;
}

/**
 * The bytes of frames holding consecutive pages as I/O buffers: the last page of a store whose
 * size is not a page multiple is short; frames next to each other in a slab make one buffer
 * (fewer iovecs, and one buffer allows the inline read).
 */
export function pageBuffers(cache: PageCache, frames: readonly number[], storeSize: number): Buffer[] {
  const lastPage = cache.page(frames[frames.length - 1]!);
  return cache.segments(frames, 0, Math.min(PAGE_SIZE, storeSize - lastPage * PAGE_SIZE));
}
