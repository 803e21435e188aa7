// A block store with an in-process page cache in front of a file store (page-cache.ts holds the
// pages, page-writeback.ts writes dirty ones back).
//
// Reads: hits are answered with the pinned pages themselves (readPinned: no syscall, no copy;
// the link sends them and unpins). Misses are read straight into cache pages (with O_DIRECT when
// the file is open that way, which makes this cache the only one); when no page can be had
// without waiting, the read goes around the cache.
// Writes: write-back by default (the pages become dirty and the write completes; the pages are
// written back after the dirty age, under pressure, on SYNCHRONIZE CACHE and on close). A write
// that must be durable (FUA, write cache disabled) and a large write go through to the store
// under the page lock, updating (or, for a large write, dropping) the cached pages on the way.
// A partial page that is not cached is read in first (read-modify-write) when written back.
// Deallocation drops the pages it covers and zeroes the cached parts of the pages at its ends.
//
// Durability: what was acknowledged after FUA, with the write cache disabled or before a
// SYNCHRONIZE CACHE is in the file (and fdatasync'ed, unless -c) and survives kill -9; other
// acknowledged writes may still be dirty pages here, exactly like a disk's volatile write cache.
// With -c the fdatasync is skipped, but our pages still go to the file: this cache dies with
// the process, so it is never taken for non-volatile.
import { RangeLock, type LockMode, type Release } from '../handlers/disk/range-lock.ts';
import { copySegments, PinnedData } from '../scsi/data-in.ts';
import { joinAdjacent } from './buffers.ts';
import { PAGE_SIZE, PageCache, type Frame } from './page-cache.ts';
import { MAX_RUN_PAGES, pageBuffers, Writeback, type PagedStore } from './page-writeback.ts';
import { StoreError, type BlockStore, type Extent } from './store.ts';

export interface CachedStoreOptions {
  /** Cache size in bytes (a whole number of 4 KiB pages is used). */
  readonly budget: number;
  /** Dirty pages older than this are written back in the background (ms). */
  readonly dirtyAgeMs?: number;
  /**
   * I/O at least this large is streaming: writes go around the cache, read misses only fill free
   * frames (default STREAM_BYTES, at most an eighth of the budget).
   */
  readonly streamBytes?: number;
}

export const DEFAULT_DIRTY_AGE_MS = 1000;
/**
 * Streaming I/O: writes of this size and more go straight to the store (the cached pages they
 * cover are updated or dropped): measured, 1 MiB sequential writes through the cache ran at a
 * quarter of the speed of writing them through (two copies instead of one, then the write-back),
 * while small writes are where write-back pays (O_DIRECT: no wait for the device before GOOD).
 * Read misses this large do not evict (see readSlow).
 */
export const STREAM_BYTES = 256 << 10;
const EMPTY = Buffer.alloc(0);
const noop = (): void => undefined;

export class CachedStore implements BlockStore {
  readonly size: number;
  readonly readOnly: boolean;
  /** Never: acknowledged writes may be dirty pages here until written back. */
  readonly writesAreDurable = false;
  readonly cache: PageCache;
  readonly inner: PagedStore;
  readonly allocationUnit: number | undefined;
  private readonly lock = new RangeLock();
  private readonly writeback: Writeback;
  private readonly streamBytes: number;
  private readonly stats = { bypassReads: 0, writeThroughs: 0, writeArounds: 0 };

  constructor(inner: PagedStore, o: CachedStoreOptions) {
    this.inner = inner;
    this.size = inner.size;
    this.readOnly = inner.readOnly;
    this.allocationUnit = (inner as { allocationUnit?: number }).allocationUnit;
    this.cache = new PageCache(o.budget);
    this.streamBytes = o.streamBytes ?? Math.max(PAGE_SIZE, Math.min(STREAM_BYTES, this.cache.budget / 8));
    this.writeback = new Writeback({ cache: this.cache, lock: this.lock, store: inner, dirtyAgeMs: o.dirtyAgeMs ?? DEFAULT_DIRTY_AGE_MS });
  }

  // ---- reads ------------------------------------------------------------------------------

  readPinned(offset: number, length: number): Promise<PinnedData> {
    if (length === 0) return Promise.resolve(new PinnedData([], 0, noop));
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((offset + length - 1) / PAGE_SIZE);
    const cache = this.cache;
    if (first === last) {
      // the 4 KiB hit: one lookup, one pin, one view
      const f = cache.get(first);
      if (f !== undefined && f.state !== 'loading') {
        cache.stats.hits++;
        cache.pin(f);
        const at = offset - first * PAGE_SIZE;
        const seg = at === 0 && length === PAGE_SIZE ? f.buf : f.buf.subarray(at, at + length);
        return Promise.resolve(new PinnedData([seg], length, () => cache.unpin(f)));
      }
    } else {
      const frames: Frame[] = [];
      for (let p = first; p <= last; p++) {
        const f = cache.get(p);
        if (f === undefined || f.state === 'loading') break;
        frames.push(f);
      }
      if (frames.length === last - first + 1) {
        cache.stats.hits += frames.length;
        for (const f of frames) cache.pin(f);
        return Promise.resolve(this.pinned(frames.map((f) => f.buf), frames, offset, length));
      }
    }
    return this.readSlow(offset, length, first, last);
  }

  /** A copy of the bytes (for commands that keep or change them: COMPARE AND WRITE, VERIFY, ...). */
  read(offset: number, length: number): Promise<Buffer> {
    return this.readPinned(offset, length).then((d) => {
      const out = Buffer.allocUnsafe(length);
      copySegments(d.segments, out, 0);
      d.release();
      return out;
    });
  }

  /**
   * Some page missing or being read in: under the page lock (shared), hits pinned, misses read
   * in. A large read (a sequential stream) only fills free frames and otherwise reads around the
   * cache: a stream larger than the cache would evict every page before its next use (measured:
   * 0.6x of no cache for 1 MiB reads over a file 4x the cache), and it would push out the pages
   * that small random I/O keeps reusing.
   */
  private async readSlow(offset: number, length: number, first: number, last: number): Promise<PinnedData> {
    const cache = this.cache;
    const stream = length >= this.streamBytes;
    const n = last - first + 1;
    const pages = new Array<Buffer | undefined>(n);
    const pinned: Frame[] = [];
    const release = await this.lockPages(first, last, 'shared');
    try {
      for (;;) {
        const jobs: Promise<void>[] = [];
        let waiting = false;
        let run: Frame[] = [];
        let bypassFrom = -1;
        const endRuns = (i: number): void => {
          if (run.length) jobs.push(this.fill(run));
          run = [];
          if (bypassFrom >= 0) jobs.push(this.readAround(first + bypassFrom, i - bypassFrom, pages, bypassFrom));
          bypassFrom = -1;
        };
        for (let i = 0; i < n; i++) {
          if (pages[i] !== undefined) {
            endRuns(i);
            continue;
          }
          const p = first + i;
          const f = cache.get(p);
          if (f !== undefined && f.state !== 'loading') {
            cache.stats.hits++;
            cache.pin(f);
            pinned.push(f);
            pages[i] = f.buf;
            endRuns(i);
            continue;
          }
          if (f !== undefined) {
            // being read in by another command: look again when it is there
            jobs.push(f.loaded!);
            waiting = true;
            endRuns(i);
            continue;
          }
          cache.stats.misses++;
          const g = stream ? cache.allocateUnused() : cache.allocate();
          if (g === undefined) {
            if (run.length) endRuns(i);
            if (bypassFrom < 0) bypassFrom = i;
            continue;
          }
          if (bypassFrom >= 0 || run.length === MAX_RUN_PAGES) endRuns(i);
          cache.insertLoading(p, g);
          cache.pin(g);
          pinned.push(g);
          pages[i] = g.buf;
          run.push(g);
        }
        endRuns(n);
        // allSettled: every read must be over before the page lock is released
        const results = await Promise.allSettled(jobs);
        for (const r of results) if (r.status === 'rejected') throw r.reason;
        if (!waiting) break;
      }
    } catch (e) {
      for (const f of pinned) cache.unpin(f);
      throw e;
    } finally {
      release();
    }
    return this.pinned(pages as Buffer[], pinned, offset, length);
  }

  /**
   * Reads consecutive pages into their loading frames; they become clean pages (or are dropped
   * on error). `then` runs on each in the same turn, before anything else can see or evict it.
   */
  private async fill(run: Frame[], then?: (f: Frame) => void): Promise<void> {
    try {
      await this.inner.readInto(run[0]!.page * PAGE_SIZE, pageBuffers(run, this.size));
    } catch (e) {
      for (const f of run) this.cache.abandonLoad(f);
      throw e;
    }
    for (const f of run) {
      this.cache.settleLoaded(f);
      then?.(f);
    }
  }

  /** No frame to spare: reads `count` pages around the cache into pages[at..]. */
  private async readAround(page: number, count: number, pages: Array<Buffer | undefined>, at: number): Promise<void> {
    this.stats.bypassReads++;
    const start = page * PAGE_SIZE;
    const buf = await this.inner.read(start, Math.min(count * PAGE_SIZE, this.size - start));
    for (let i = 0; i < count; i++) pages[at + i] = buf.subarray(i * PAGE_SIZE, Math.min(buf.length, (i + 1) * PAGE_SIZE));
  }

  /** The requested bytes out of whole-page buffers, pinned until the link releases them. */
  private pinned(pages: Buffer[], frames: Frame[], offset: number, length: number): PinnedData {
    const first = Math.floor(offset / PAGE_SIZE);
    const head = offset - first * PAGE_SIZE;
    const lastIndex = pages.length - 1;
    const tail = offset + length - (first + lastIndex) * PAGE_SIZE;
    const views = new Array<Buffer>(pages.length);
    for (let i = 0; i <= lastIndex; i++) {
      const b = pages[i]!;
      const s = i === 0 ? head : 0;
      const e = i === lastIndex ? tail : Math.min(PAGE_SIZE, b.length);
      views[i] = s === 0 && e === b.length ? b : b.subarray(s, e);
    }
    const cache = this.cache;
    return new PinnedData(joinAdjacent(views), length, () => {
      for (const f of frames) cache.unpin(f);
    });
  }

  // ---- writes -----------------------------------------------------------------------------

  write(offset: number, data: Buffer, sync = false): Promise<void> {
    if (this.readOnly) return Promise.reject(new StoreError('write', 'the store is open read-only', 'EROFS'));
    if (data.length === 0) return Promise.resolve();
    if (sync || data.length >= this.streamBytes) return this.writeToStore(offset, data, sync, data.length < this.streamBytes);
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((offset + data.length - 1) / PAGE_SIZE);
    // Fast path: every page cached and not pinned: copy in, mark dirty, done.
    const cache = this.cache;
    for (let p = first; p <= last; p++) {
      const f = cache.get(p);
      if (f === undefined || f.state === 'loading' || f.pins > 0) return this.writeBack(offset, data, first, last);
    }
    for (let p = first; p <= last; p++) {
      const f = cache.peek(p)!;
      this.copyIn(f, p, offset, data);
      cache.markDirty(f);
    }
    return Promise.resolve();
  }

  /** Write-back, page by page: copy on write for pinned pages, read-modify-write for missing partial ones. */
  private async writeBack(offset: number, data: Buffer, first: number, last: number): Promise<void> {
    const cache = this.cache;
    const end = offset + data.length;
    for (let p = first; p <= last; p++) {
      const start = p * PAGE_SIZE;
      const whole = offset <= start && end >= start + this.pageLength(p);
      for (;;) {
        const f = cache.get(p);
        if (f !== undefined && f.state === 'loading') {
          await f.loaded;
          continue;
        }
        if (f !== undefined && f.pins === 0) {
          this.copyIn(f, p, offset, data);
          cache.markDirty(f);
          break;
        }
        const g = cache.allocate() ?? (await cache.allocateWaiting());
        if (cache.peek(p) !== f || (f !== undefined && f.pins === 0)) {
          cache.release(g); // the page changed while we waited: look again
          continue;
        }
        if (f !== undefined) {
          cache.replace(f, g); // f is being sent or written back: it must not change
          this.copyIn(g, p, offset, data);
          cache.markDirty(g);
          break;
        }
        if (whole) {
          this.copyIn(g, p, offset, data);
          cache.insertDirty(p, g);
          break;
        }
        // read-modify-write; the bytes go in as the page arrives, before anyone can evict it
        const done = await this.readIn(p, g, (r) => {
          this.copyIn(r, p, offset, data);
          cache.markDirty(r);
        });
        if (done) break;
      }
    }
  }

  /**
   * Reads page p into g and runs `then` on it as it settles (a partial write), unless someone
   * else cached the page meanwhile (false: g is released, look again).
   */
  private async readIn(p: number, g: Frame, then: (f: Frame) => void): Promise<boolean> {
    const release = await this.lockPages(p, p, 'shared');
    try {
      if (this.cache.peek(p) !== undefined) {
        this.cache.release(g);
        return false;
      }
      this.cache.stats.misses++;
      this.cache.insertLoading(p, g);
      await this.fill([g], then);
      return true;
    } finally {
      release();
    }
  }

  /**
   * Writes `data` to the store under the page lock (exclusive). Cached pages in the range are
   * updated (or dropped when !keep or when pinned by a send); the unwritten rest of a pinned
   * dirty page at either end goes to the store with the data.
   */
  private async writeToStore(offset: number, data: Buffer, sync: boolean, keep: boolean): Promise<void> {
    if (keep) this.stats.writeThroughs++;
    else this.stats.writeArounds++;
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((offset + data.length - 1) / PAGE_SIZE);
    const release = await this.lockPages(first, last, 'exclusive');
    try {
      const edges = this.updateRange(offset, data.length, (f, p) => this.copyIn(f, p, offset, data), keep ? (p, g) => this.copyIn(g, p, offset, data) : undefined);
      const buf = edges.head.length || edges.tail.length ? Buffer.concat([edges.head, data, edges.tail]) : data;
      await this.inner.write(offset - edges.head.length, buf, sync);
    } catch (e) {
      this.dropClean(first, last); // the cache may hold bytes the store never got
      throw e;
    } finally {
      release();
    }
  }

  /**
   * Brings the cached pages of [offset, offset+length) in line with a store write about to
   * happen (the caller holds the pages exclusively, so none is being read in or written back):
   * `apply` changes an unpinned page that stays; a fully covered page is dropped unless `insert`
   * (then a missing one is cached too, if a frame is free). A pinned page is dropped; if it was
   * dirty and only partly covered, its other bytes are returned as head/tail for the store write.
   */
  private updateRange(offset: number, length: number, apply: (f: Frame, p: number) => void, insert?: (p: number, g: Frame) => void): { head: Buffer; tail: Buffer } {
    const cache = this.cache;
    const end = offset + length;
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((end - 1) / PAGE_SIZE);
    let head = EMPTY;
    let tail = EMPTY;
    for (let p = first; p <= last; p++) {
      const start = p * PAGE_SIZE;
      const pageEnd = start + this.pageLength(p);
      const whole = offset <= start && end >= pageEnd;
      const f = cache.peek(p);
      if (f === undefined) {
        const g = whole && insert ? cache.allocate() : undefined;
        if (g !== undefined) {
          insert!(p, g);
          cache.insertClean(p, g);
        }
        continue;
      }
      if (f.pins === 0 && (!whole || insert)) {
        apply(f, p);
        continue;
      }
      if (f.state === 'dirty' && !whole) {
        if (offset > start) head = Buffer.from(f.buf.subarray(0, offset - start));
        if (end < pageEnd) tail = Buffer.from(f.buf.subarray(end - start, pageEnd - start));
      }
      cache.remove(f);
    }
    return { head, tail };
  }

  /** Copies the part of `data` (written at `offset`) that falls into page p. */
  private copyIn(f: Frame, p: number, offset: number, data: Buffer): void {
    const start = p * PAGE_SIZE;
    const s = Math.max(offset, start);
    const e = Math.min(offset + data.length, start + PAGE_SIZE);
    f.buf.set(data.subarray(s - offset, e - offset), s - start);
  }

  // ---- deallocation, flush, the rest ----------------------------------------------------------

  /** Drops the pages the range covers, zeroes the cached parts of its end pages, then deallocates in the store. */
  async deallocate(offset: number, length: number): Promise<void> {
    if (length <= 0) return;
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((offset + length - 1) / PAGE_SIZE);
    const release = await this.lockPages(first, last, 'exclusive');
    try {
      const zero = (f: Frame, p: number): void => {
        const start = p * PAGE_SIZE;
        f.buf.fill(0, Math.max(offset, start) - start, Math.min(offset + length, start + PAGE_SIZE) - start);
      };
      const edges = this.updateRange(offset, length, zero);
      await this.inner.deallocate(offset, length);
      // the unwritten rest of pinned dirty end pages
      if (edges.head.length) await this.inner.write(offset - edges.head.length, edges.head);
      if (edges.tail.length) await this.inner.write(offset + length, edges.tail);
    } catch (e) {
      this.dropClean(first, last);
      throw e;
    } finally {
      release();
    }
  }

  /** Writes back the dirty pages (of the range, when given), then fdatasync (skipped with -c). */
  async flush(offset?: number, length?: number): Promise<void> {
    if (this.readOnly) return;
    if (offset !== undefined && length !== undefined && length > 0) {
      await this.writeback.flush(Math.floor(offset / PAGE_SIZE), Math.floor((offset + length - 1) / PAGE_SIZE));
    } else await this.writeback.flush();
    await this.inner.flush();
  }

  /** The store's map, after writing back the range's dirty pages (written holes are allocated). */
  async allocationMap(offset: number, length: number, maxExtents: number): Promise<Extent[]> {
    if (!this.readOnly && length > 0) await this.writeback.flush(Math.floor(offset / PAGE_SIZE), Math.floor((offset + length - 1) / PAGE_SIZE));
    return this.inner.allocationMap ? this.inner.allocationMap(offset, length, maxExtents) : [{ offset, length, mapped: true }];
  }

  /** PRE-FETCH: reads the range into the cache when it fits comfortably, else hints the store. */
  async prefetch(offset: number, length: number): Promise<void> {
    if (length <= this.cache.budget / 4) (await this.readPinned(offset, length)).release();
    else await this.inner.prefetch?.(offset, length);
  }

  async close(): Promise<void> {
    this.writeback.stop();
    try {
      await this.flush();
    } finally {
      await this.inner.close();
    }
  }

  describe(): Record<string, unknown> {
    const c = this.cache;
    return {
      ...this.inner.describe(),
      cache: {
        budget: c.budget,
        used: c.usedBytes,
        pages: c.residentPages,
        hits: c.stats.hits,
        misses: c.stats.misses,
        dirty: c.dirtyCount,
        evictions: c.stats.evictions,
        flushes: this.writeback.stats.runs,
        pagesWritten: this.writeback.stats.pagesWritten,
        writebackErrors: this.writeback.stats.errors,
        ...(this.writeback.stats.lastError !== undefined ? { lastWritebackError: this.writeback.stats.lastError } : {}),
        copies: c.stats.copies,
        stalls: c.stats.stalls,
        pinned: c.pinnedFrames,
        ...this.stats,
      },
    };
  }

  // ---- helpers ----------------------------------------------------------------------------

  private pageLength(p: number): number {
    return Math.min(PAGE_SIZE, this.size - p * PAGE_SIZE);
  }

  private lockPages(first: number, last: number, mode: LockMode): Release | Promise<Release> {
    return this.lock.tryAcquire(BigInt(first), last - first + 1, mode);
  }

  /** Forgets clean pages of the range (after a failed store write they may not match the store). */
  private dropClean(first: number, last: number): void {
    for (let p = first; p <= last; p++) {
      const f = this.cache.peek(p);
      if (f !== undefined && f.state === 'clean') this.cache.remove(f);
    }
  }
}
