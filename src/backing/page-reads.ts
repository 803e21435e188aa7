// The read side of the page cache (cached-store.ts): hits answered with the pinned pages
// themselves, misses read straight into cache frames under the page lock (shared), or around the
// cache when no frame can be had without evicting for a streaming read, or none at all.
import type { RangeLock, LockMode, Release } from './range-lock.ts';
import { PinnedData } from '../scsi/data-in.ts';
import { joinAdjacent } from './buffers.ts';
import { DIRTY, LOADING, NONE, PAGE_SIZE, type PageCache } from './page-cache.ts';
import { MAX_RUN_PAGES, pageBuffers, type PagedStore } from './page-writeback.ts';

const noop = (): void => undefined;

/** Holds pages [first, last] of the page lock: shared to read them in, exclusive to write them to the store. */
export function lockPages(lock: RangeLock, first: number, last: number, mode: LockMode): Release | Promise<Release> {
  return lock.tryAcquire(BigInt(first), last - first + 1, mode);
}

export class PageReader {
  /** Reads (runs of pages) that went around the cache for want of a frame. */
  bypassReads = 0;
  private readonly cache: PageCache;
  private readonly lock: RangeLock;
  private readonly inner: PagedStore;
  private readonly size: number;
  private readonly streamBytes: number;

  constructor(o: { cache: PageCache; lock: RangeLock; store: PagedStore; streamBytes: number }) {
    this.cache = o.cache;
    this.lock = o.lock;
    this.inner = o.store;
    this.size = o.store.size;
    this.streamBytes = o.streamBytes;
  }

  readPinned(offset: number, length: number): Promise<PinnedData> {
    if (length === 0) return Promise.resolve(new PinnedData([], 0, noop));
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((offset + length - 1) / PAGE_SIZE);
    const cache = this.cache;
    if (first === last) {
      // the 4 KiB hit: one lookup, one pin, one view
      const f = cache.get(first);
      if (f !== NONE && cache.state(f) !== LOADING) {
        cache.stats.hits++;
        cache.pin(f);
        const at = offset - first * PAGE_SIZE;
        return Promise.resolve(new PinnedData([cache.view(f, at, at + length)], length, () => cache.unpin(f)));
      }
    } else {
      const frames: number[] = [];
      for (let p = first; p <= last; p++) {
        const f = cache.get(p);
        if (f === NONE || cache.state(f) === LOADING) break;
        frames.push(f);
      }
      if (frames.length === last - first + 1) {
        cache.stats.hits += frames.length;
        for (const f of frames) cache.pin(f);
        const head = offset - first * PAGE_SIZE;
        const tail = offset + length - last * PAGE_SIZE;
        return Promise.resolve(new PinnedData(cache.segments(frames, head, tail), length, () => unpinAll(cache, frames)));
      }
    }
    return this.readSlow(offset, length, first, last);
  }

  /**
   * Some page missing or being read in: under the page lock (shared), hits pinned, misses read
   * in. A large read (a sequential stream) fills only free frames; when there are not enough,
   * it reads the whole range around the cache in one I/O (readStream). A stream larger than the
   * cache would evict every page before its next use (measured: 0.6x of no cache for 1 MiB reads
   * over a file 4x the cache) and push out the pages small random I/O keeps reusing; and reading
   * around each cached page separately cut a 1 MiB read into dozens of small ones (0.3x).
   */
  private async readSlow(offset: number, length: number, first: number, last: number): Promise<PinnedData> {
    const cache = this.cache;
    const stream = length >= this.streamBytes;
    if (stream) {
      let missing = 0;
      for (let p = first; p <= last; p++) if (cache.peek(p) === NONE) missing++;
      if (missing > cache.unusedFrames) return this.readStream(offset, length, first, last);
    }
    const n = last - first + 1;
    // per page: the frame holding it (pinned), or its bytes read around the cache
    const parts = new Array<number | Buffer | undefined>(n);
    const pinned: number[] = [];
    const release = await lockPages(this.lock, first, last, 'shared');
    try {
      for (;;) {
        const jobs: Promise<void>[] = [];
        let waiting = false;
        let run: number[] = [];
        let bypassFrom = -1;
        const endRuns = (i: number): void => {
          if (run.length) jobs.push(this.fill(run));
          run = [];
          if (bypassFrom >= 0) jobs.push(this.readAround(first + bypassFrom, i - bypassFrom, parts, bypassFrom));
          bypassFrom = -1;
        };
        for (let i = 0; i < n; i++) {
          if (parts[i] !== undefined) {
            endRuns(i);
            continue;
          }
          const p = first + i;
          const f = cache.get(p);
          if (f !== NONE && cache.state(f) !== LOADING) {
            cache.stats.hits++;
            cache.pin(f);
            pinned.push(f);
            parts[i] = f;
            endRuns(i);
            continue;
          }
          if (f !== NONE) {
            // being read in by another command: look again when it is there
            jobs.push(cache.loaded(f)!);
            waiting = true;
            endRuns(i);
            continue;
          }
          cache.stats.misses++;
          const g = stream ? cache.allocateUnused() : cache.allocate();
          if (g === NONE) {
            if (run.length) endRuns(i);
            if (bypassFrom < 0) bypassFrom = i;
            continue;
          }
          if (bypassFrom >= 0 || run.length === MAX_RUN_PAGES) endRuns(i);
          cache.insertLoading(p, g);
          cache.pin(g);
          pinned.push(g);
          parts[i] = g;
          run.push(g);
        }
        endRuns(n);
        // allSettled: every read must be over before the page lock is released
        const results = await Promise.allSettled(jobs);
        for (const r of results) if (r.status === 'rejected') throw r.reason;
        if (!waiting) break;
      }
    } catch (e) {
      unpinAll(cache, pinned);
      throw e;
    } finally {
      release();
    }
    return this.pinned(parts as Array<number | Buffer>, pinned, offset, length);
  }

  /**
   * Reads consecutive pages into their loading frames; they become clean pages (or are dropped
   * on error). `then` runs on each in the same turn, before anything else can see or evict it.
   */
  async fill(run: number[], then?: (f: number) => void): Promise<void> {
    const cache = this.cache;
    try {
      await this.inner.readInto(cache.page(run[0]!) * PAGE_SIZE, pageBuffers(cache, run, this.size));
    } catch (e) {
      for (const f of run) cache.abandonLoad(f);
      throw e;
    }
    for (const f of run) {
      cache.settleLoaded(f);
      then?.(f);
    }
  }

  /**
   * A streaming read that does not fit: one read of the whole range from the store, under the
   * page lock (shared: no store write of these pages runs meanwhile, so the store has every page
   * that is not dirty here), with the bytes of the range's dirty pages copied over it.
   */
  private async readStream(offset: number, length: number, first: number, last: number): Promise<PinnedData> {
    const cache = this.cache;
    const release = await lockPages(this.lock, first, last, 'shared');
    try {
      this.bypassReads++;
      const buf = await this.inner.read(offset, length);
      const end = offset + length;
      for (let p = first; p <= last; p++) {
        const f = cache.peek(p);
        if (f === NONE || cache.state(f) !== DIRTY) continue;
        const start = p * PAGE_SIZE;
        const s = Math.max(offset, start);
        const e = Math.min(end, start + PAGE_SIZE);
        buf.set(cache.view(f, s - start, e - start), s - offset);
      }
      return new PinnedData([buf], length, noop);
    } finally {
      release();
    }
  }

  /** No frame to spare: reads `count` pages around the cache into parts[at..]. */
  private async readAround(page: number, count: number, parts: Array<number | Buffer | undefined>, at: number): Promise<void> {
    this.bypassReads++;
    const start = page * PAGE_SIZE;
    const buf = await this.inner.read(start, Math.min(count * PAGE_SIZE, this.size - start));
    for (let i = 0; i < count; i++) parts[at + i] = buf.subarray(i * PAGE_SIZE, Math.min(buf.length, (i + 1) * PAGE_SIZE));
  }

  /** The requested bytes out of the pages' frames and read-around buffers, pinned until the link releases them. */
  private pinned(parts: Array<number | Buffer>, frames: number[], offset: number, length: number): PinnedData {
    const cache = this.cache;
    const n = parts.length;
    const head = offset % PAGE_SIZE;
    const tail = offset + length - (Math.floor(offset / PAGE_SIZE) + n - 1) * PAGE_SIZE;
    const out: Buffer[] = [];
    let run: number[] = [];
    let runStart = 0;
    const endRun = (end: number): void => {
      if (run.length) out.push(...cache.segments(run, runStart === 0 ? head : 0, end === n ? tail : PAGE_SIZE));
      run = [];
    };
    for (let i = 0; i < n; i++) {
      const part = parts[i]!;
      if (typeof part === 'number') {
        if (run.length === 0) runStart = i;
        run.push(part);
        continue;
      }
      endRun(i);
      out.push(part.subarray(i === 0 ? head : 0, i === n - 1 ? tail : part.length));
    }
    endRun(n);
    return new PinnedData(joinAdjacent(out), length, () => unpinAll(cache, frames));
  }
}

function unpinAll(cache: PageCache, frames: readonly number[]): void {
  for (const f of frames) cache.unpin(f);
}
