// A block store with an in-process page cache in front of a file store (page-cache.ts holds the
// pages, page-reads.ts serves reads, page-writeback.ts writes dirty pages back).
//
// Reads: hits are answered with the pinned pages themselves (readPinned: no syscall, no copy;
// the link sends them and unpins). Misses are read straight into cache pages (with O_DIRECT when
// the file is open that way, which makes this cache the only one); when no page can be had
// without waiting (or without evicting, for a streaming read), the read goes around the cache.
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
import { RangeLock, type LockMode, type Release } from './range-lock.ts';
import { copySegments, type PinnedData } from '../scsi/data-in.ts';
import { CLEAN, DIRTY, LOADING, NONE, PAGE_SIZE, PageCache } from './page-cache.ts';
import { lockPages, PageReader } from './page-reads.ts';
import { Writeback, type PagedStore } from './page-writeback.ts';
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

export class CachedStore implements BlockStore {
  readonly size: number;
  readonly readOnly: boolean;
  /** Never: acknowledged writes may be dirty pages here until written back. */
  readonly writesAreDurable = false;
  readonly volatileCache = true;
  readonly cache: PageCache;
  readonly inner: PagedStore;
  readonly allocationUnit: number | undefined;
  private readonly lock = new RangeLock();
  private readonly writeback: Writeback;
  private readonly reader: PageReader;
  private readonly streamBytes: number;
  private readonly stats = { writeThroughs: 0, writeArounds: 0 };

  constructor(inner: PagedStore, o: CachedStoreOptions) {
    this.inner = inner;
    this.size = inner.size;
    this.readOnly = inner.readOnly;
    this.allocationUnit = (inner as { allocationUnit?: number }).allocationUnit;
    this.cache = new PageCache(o.budget);
    this.streamBytes = o.streamBytes ?? Math.max(PAGE_SIZE, Math.min(STREAM_BYTES, this.cache.budget / 8));
    this.writeback = new Writeback({ cache: this.cache, lock: this.lock, store: inner, dirtyAgeMs: o.dirtyAgeMs ?? DEFAULT_DIRTY_AGE_MS });
    this.reader = new PageReader({ cache: this.cache, lock: this.lock, store: inner, streamBytes: this.streamBytes });
  }

  // ---- reads ------------------------------------------------------------------------------

  /** The bytes as pinned cache pages (READ: the link sends and releases them). */
  readPinned(offset: number, length: number): Promise<PinnedData> {
    return this.reader.readPinned(offset, length);
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
      if (f === NONE || cache.state(f) === LOADING || cache.pins(f) > 0) return this.writeBack(offset, data, first, last);
    }
    for (let p = first; p <= last; p++) {
      const f = cache.peek(p);
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
        if (f !== NONE && cache.state(f) === LOADING) {
          await cache.loaded(f);
          continue;
        }
        if (f !== NONE && cache.pins(f) === 0) {
          this.copyIn(f, p, offset, data);
          cache.markDirty(f);
          break;
        }
        let g = cache.allocate();
        if (g === NONE) g = await cache.allocateWaiting();
        if (g === NONE) return this.writeToStore(offset, data, false, false); // every frame pinned by sends
        if (cache.peek(p) !== f || (f !== NONE && cache.pins(f) === 0)) {
          cache.release(g); // the page changed while we waited: look again
          continue;
        }
        if (f !== NONE) {
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
  private async readIn(p: number, g: number, then: (f: number) => void): Promise<boolean> {
    const release = await this.lockPages(p, p, 'shared');
    try {
      if (this.cache.peek(p) !== NONE) {
        this.cache.release(g);
        return false;
      }
      this.cache.stats.misses++;
      this.cache.insertLoading(p, g);
      await this.reader.fill([g], then);
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
  private updateRange(offset: number, length: number, apply: (f: number, p: number) => void, insert?: (p: number, g: number) => void): { head: Buffer; tail: Buffer } {
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
      if (f === NONE) {
        const g = whole && insert ? cache.allocate() : NONE;
        if (g !== NONE) {
          insert!(p, g);
          cache.insertClean(p, g);
        }
        continue;
      }
      if (cache.pins(f) === 0 && (!whole || insert)) {
        apply(f, p);
        continue;
      }
      if (cache.state(f) === DIRTY && !whole) {
        if (offset > start) head = Buffer.from(cache.view(f, 0, offset - start));
        if (end < pageEnd) tail = Buffer.from(cache.view(f, end - start, pageEnd - start));
      }
      cache.remove(f);
    }
    return { head, tail };
  }

  /** Copies the part of `data` (written at `offset`) that falls into page p. */
  private copyIn(f: number, p: number, offset: number, data: Buffer): void {
    const start = p * PAGE_SIZE;
    const s = Math.max(offset, start);
    const e = Math.min(offset + data.length, start + PAGE_SIZE);
    this.cache.copyIn(f, s - start, data.subarray(s - offset, e - offset));
  }

  // ---- deallocation, flush, the rest ----------------------------------------------------------

  /** Drops the pages the range covers, zeroes the cached parts of its end pages, then deallocates in the store. */
  async deallocate(offset: number, length: number): Promise<void> {
    if (length <= 0) return;
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((offset + length - 1) / PAGE_SIZE);
    const release = await this.lockPages(first, last, 'exclusive');
    try {
      const zero = (f: number, p: number): void => {
        const start = p * PAGE_SIZE;
        this.cache.zero(f, Math.max(offset, start) - start, Math.min(offset + length, start + PAGE_SIZE) - start);
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
        bypassReads: this.reader.bypassReads,
        ...this.stats,
      },
    };
  }

  // ---- helpers ----------------------------------------------------------------------------

  private pageLength(p: number): number {
    return Math.min(PAGE_SIZE, this.size - p * PAGE_SIZE);
  }

  private lockPages(first: number, last: number, mode: LockMode): Release | Promise<Release> {
    return lockPages(this.lock, first, last, mode);
  }

  /** Forgets clean pages of the range (after a failed store write they may not match the store). */
  private dropClean(first: number, last: number): void {
    for (let p = first; p <= last; p++) {
      const f = this.cache.peek(p);
      if (f !== NONE && this.cache.state(f) === CLEAN) this.cache.remove(f);
    }
  }
}
