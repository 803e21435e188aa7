// The page cache's memory and index, without any I/O (cached-store.ts does the I/O).
//
// Pages are PAGE_SIZE (4 KiB) frames carved from large slabs of page-aligned memory, so the
// same frames serve O_DIRECT reads and writes without bounce buffers. 4 KiB because it is the
// kernel page size and the O_DIRECT alignment, the physical block size the disk reports (so
// initiators align to it), and the unit of random I/O: a 4 KiB write never has to read a
// larger page first, and a dirty 4 KiB write costs a 4 KiB write-back, not more.
//
// The budget is a hard bound: at most budget / PAGE_SIZE frames ever exist, whatever their
// state. Clean pages sit in an lru-cache index (maxSize = the budget) and are the only ones
// evicted; dirty pages sit in a separate map (in the order they were dirtied, for the age-based
// write-back) and cannot be evicted, so a writer that finds no free or clean frame waits for the
// write-back instead of growing the cache. Pages being read in sit in a third map.
//
// A pinned frame (referenced by a response on its way to the socket, or by a write-back I/O in
// flight) never changes: a write to it copies the page to a fresh frame first (copy on write)
// and the old frame leaves the index ("detached"); it returns to the free list when unpinned.
import { LRUCache } from 'lru-cache';
import { alignedBuffer } from '../ffi/memory.ts';

export const PAGE_SIZE = 4096;
/** Memory is allocated in slabs of this size (or the budget, when smaller) as the cache fills. */
export const SLAB_BYTES = 8 << 20;

export type FrameState = 'free' | 'loading' | 'clean' | 'dirty' | 'detached';

/** One page-sized piece of a slab and the page it holds. */
export class Frame {
  /** PAGE_SIZE bytes of a slab (page-aligned). */
  readonly buf: Buffer;
  /** Page number held (byte offset / PAGE_SIZE); -1 when free. */
  page = -1;
  state: FrameState = 'free';
  /** Responses being sent and write-back I/Os that read this frame: while > 0 it never changes. */
  pins = 0;
  /** Date.now() when the page became dirty (oldest unwritten change). */
  dirtySince = 0;
  /** Picked by the background write-back (not picked again until it ran). */
  queued = false;
  /** While loading: settles (never rejects) when the read finished or failed. */
  loaded: Promise<void> | undefined;
  /** @internal resolves `loaded`. */
  settleLoad: (() => void) | undefined;

  constructor(buf: Buffer) {
    this.buf = buf;
  }
}

export interface PageCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  /** Pages copied because a write hit a pinned page. */
  copies: number;
  /** Writers that had to wait for a write-back to free a frame. */
  stalls: number;
}

export class PageCache {
  readonly budget: number;
  /** Frames the budget allows. */
  readonly capacity: number;
  readonly stats: PageCacheStats = { hits: 0, misses: 0, evictions: 0, copies: 0, stalls: 0 };
  /** Called when a writer is waiting for a frame or dirty pages pass the high-water mark. */
  onPressure: (() => void) | undefined;

  private readonly slabBytes: number;
  private readonly slabs: Buffer[] = [];
  private allocated = 0;
  /** Free frames, FIFO: frames carved in slab order come out in slab order (adjacent pages merge). */
  private readonly freeRing: Array<Frame | undefined>;
  private freeHead = 0;
  private freeCount = 0;
  private readonly clean: LRUCache<number, Frame>;
  private readonly dirtyPages = new Map<number, Frame>();
  private readonly loadingPages = new Map<number, Frame>();
  private detachedCount = 0;
  private pinnedCount = 0;
  private roomWaiters: Array<() => void> = [];

  constructor(budget: number, slabBytes = SLAB_BYTES) {
    const frames = Math.floor(budget / PAGE_SIZE);
    if (!Number.isSafeInteger(budget) || frames < 1) throw new RangeError(`cache budget ${budget} is smaller than one ${PAGE_SIZE}-byte page`);
    this.capacity = frames;
    this.budget = frames * PAGE_SIZE;
    this.slabBytes = Math.max(PAGE_SIZE, Math.min(this.budget, Math.floor(slabBytes / PAGE_SIZE) * PAGE_SIZE));
    this.freeRing = new Array<Frame | undefined>(frames);
    // lru-cache never evicts on its own here: clean pages are at most `capacity` frames, and
    // eviction is explicit (evictOne) so that dirty and pinned pages are never dropped.
    this.clean = new LRUCache<number, Frame>({ max: frames, maxSize: this.budget, sizeCalculation: () => PAGE_SIZE });
  }

  /** The frame holding `page` (clean, dirty or loading), marking it recently used. */
  get(page: number): Frame | undefined {
    return this.clean.get(page) ?? this.dirtyPages.get(page) ?? this.loadingPages.get(page);
  }

  /** Like get() without touching the LRU order. */
  peek(page: number): Frame | undefined {
    return this.clean.peek(page) ?? this.dirtyPages.get(page) ?? this.loadingPages.get(page);
  }

  get dirtyCount(): number {
    return this.dirtyPages.size;
  }

  /** Dirty pages in the order they became dirty. */
  dirtyFrames(): IterableIterator<Frame> {
    return this.dirtyPages.values();
  }

  /** Bytes of frames in use (resident, loading, or detached but still pinned): never above the budget. */
  get usedBytes(): number {
    return (this.allocated - this.freeCount) * PAGE_SIZE;
  }

  /** Bytes of slab memory allocated so far (grows up to the budget). */
  get allocatedBytes(): number {
    return this.allocated * PAGE_SIZE;
  }

  get residentPages(): number {
    return this.clean.size + this.dirtyPages.size + this.loadingPages.size;
  }

  get pinnedFrames(): number {
    return this.pinnedCount;
  }

  /** A frame for new contents without waiting: a free one, a new one, or the least recently used clean page's. */
  allocate(): Frame | undefined {
    return this.allocateUnused() ?? this.evictOne();
  }

  /** A free or new frame, never one taken from a cached page (for reads that must not push pages out). */
  allocateUnused(): Frame | undefined {
    if (this.freeCount > 0) return this.popFree();
    if (this.allocated < this.capacity) {
      this.carveSlab();
      return this.popFree();
    }
    return undefined;
  }

  /** A frame, waiting for write-back or unpinning to make one available. */
  async allocateWaiting(): Promise<Frame> {
    for (;;) {
      const f = this.allocate();
      if (f) return f;
      this.stats.stalls++;
      await this.waitForRoom();
    }
  }

  /** Resolves when a frame may have become available (freed or cleaned). */
  waitForRoom(): Promise<void> {
    const p = new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    this.onPressure?.();
    return p;
  }

  /** Puts a frame from allocate() in the index as `page`, being read in. */
  insertLoading(page: number, f: Frame): void {
    f.page = page;
    f.state = 'loading';
    f.loaded = new Promise<void>((resolve) => (f.settleLoad = resolve));
    this.loadingPages.set(page, f);
  }

  /** A loading frame has its bytes: it becomes a clean page. */
  settleLoaded(f: Frame): void {
    this.loadingPages.delete(f.page);
    f.state = 'clean';
    this.clean.set(f.page, f);
    this.finishLoad(f);
    this.wakeRoomWaiters();
  }

  /** A loading frame failed: the page leaves the index (waiters look again and miss). */
  abandonLoad(f: Frame): void {
    this.loadingPages.delete(f.page);
    this.finishLoad(f);
    this.detachOrFree(f);
  }

  private finishLoad(f: Frame): void {
    const settle = f.settleLoad;
    f.settleLoad = undefined;
    f.loaded = undefined;
    settle?.();
  }

  /** Puts a frame from allocate() in the index as `page` with contents that match the store. */
  insertClean(page: number, f: Frame): void {
    f.page = page;
    f.state = 'clean';
    this.clean.set(page, f);
  }

  /** Puts a frame from allocate() in the index as `page` with contents newer than the store. */
  insertDirty(page: number, f: Frame, since = Date.now()): void {
    f.page = page;
    f.state = 'dirty';
    f.dirtySince = since;
    this.dirtyPages.set(page, f);
    this.checkDirtyPressure();
  }

  markDirty(f: Frame): void {
    if (f.state !== 'clean') return;
    this.clean.delete(f.page);
    this.insertDirty(f.page, f);
  }

  /** The page's contents reached the store: it may be evicted again. */
  markClean(f: Frame): void {
    if (f.state !== 'dirty') return;
    this.dirtyPages.delete(f.page);
    f.state = 'clean';
    f.queued = false;
    this.clean.set(f.page, f);
    this.wakeRoomWaiters();
  }

  /**
   * Copy on write: `fresh` (from allocate) takes the place of the pinned `old`, with its bytes
   * and its state; `old` is detached and freed once unpinned.
   */
  replace(old: Frame, fresh: Frame): void {
    this.stats.copies++;
    fresh.buf.set(old.buf);
    const page = old.page;
    if (old.state === 'dirty') {
      // keep the place in the dirty order and the age of the oldest unwritten change
      this.dirtyPages.set(page, fresh);
      fresh.page = page;
      fresh.state = 'dirty';
      fresh.dirtySince = old.dirtySince;
    } else {
      this.clean.delete(page);
      this.insertClean(page, fresh);
    }
    old.state = 'detached';
    old.queued = false;
    this.detachedCount++;
  }

  /** Drops a page from the index (invalidation); a pinned frame stays valid until unpinned. */
  remove(f: Frame): void {
    if (f.state === 'clean') this.clean.delete(f.page);
    else if (f.state === 'dirty') this.dirtyPages.delete(f.page);
    else if (f.state === 'loading') throw new Error(`page ${f.page} is being read in and cannot be removed`);
    else return;
    this.detachOrFree(f);
    this.wakeRoomWaiters();
  }

  pin(f: Frame): void {
    if (f.pins++ === 0) this.pinnedCount++;
  }

  unpin(f: Frame): void {
    if (f.pins <= 0) throw new Error(`page ${f.page}: unpinned more often than pinned`);
    if (--f.pins > 0) return;
    this.pinnedCount--;
    if (f.state === 'detached') {
      this.detachedCount--;
      this.free(f);
    }
  }

  /** Returns an unused frame from allocate() (e.g. the page was read in by someone else meanwhile). */
  release(f: Frame): void {
    if (f.state !== 'free' || f.pins !== 0) throw new Error('only an unused frame from allocate() can be released');
    this.free(f);
  }

  /** Internal consistency, for tests: every frame is accounted for exactly once. */
  check(): void {
    const resident = this.residentPages;
    if (resident + this.detachedCount + this.freeCount !== this.allocated) {
      throw new Error(`frames: ${resident} resident + ${this.detachedCount} detached + ${this.freeCount} free != ${this.allocated} allocated`);
    }
    if (this.allocated > this.capacity || this.usedBytes > this.budget) throw new Error(`budget exceeded: ${this.usedBytes} > ${this.budget}`);
    if (this.clean.calculatedSize !== this.clean.size * PAGE_SIZE) throw new Error('lru-cache size accounting is off');
    for (const f of this.clean.values()) if (f.state !== 'clean') throw new Error(`page ${f.page} in the clean index is ${f.state}`);
    for (const f of this.dirtyPages.values()) if (f.state !== 'dirty') throw new Error(`page ${f.page} in the dirty map is ${f.state}`);
  }

  // ---- internals ------------------------------------------------------------------------

  private carveSlab(): void {
    const frames = Math.min(this.slabBytes / PAGE_SIZE, this.capacity - this.allocated);
    const slab = alignedBuffer(frames * PAGE_SIZE, PAGE_SIZE);
    this.slabs.push(slab);
    for (let i = 0; i < frames; i++) this.pushFree(new Frame(slab.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE)));
    this.allocated += frames;
  }

  /** Evicts least recently used clean pages until one is unpinned; pinned ones are detached. */
  private evictOne(): Frame | undefined {
    for (;;) {
      const f = this.clean.pop();
      if (f === undefined) return undefined;
      this.stats.evictions++;
      if (f.pins > 0) {
        f.state = 'detached';
        this.detachedCount++;
        continue;
      }
      f.state = 'free';
      f.page = -1;
      return f;
    }
  }

  private detachOrFree(f: Frame): void {
    if (f.pins > 0) {
      f.state = 'detached';
      this.detachedCount++;
    } else this.free(f);
  }

  private free(f: Frame): void {
    f.state = 'free';
    f.page = -1;
    f.queued = false;
    this.pushFree(f);
    this.wakeRoomWaiters();
  }

  private pushFree(f: Frame): void {
    this.freeRing[(this.freeHead + this.freeCount) % this.capacity] = f;
    this.freeCount++;
  }

  private popFree(): Frame {
    const f = this.freeRing[this.freeHead]!;
    this.freeRing[this.freeHead] = undefined;
    this.freeHead = (this.freeHead + 1) % this.capacity;
    this.freeCount--;
    return f;
  }

  private wakeRoomWaiters(): void {
    if (this.roomWaiters.length === 0) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }

  private checkDirtyPressure(): void {
    if (this.dirtyPages.size * 2 > this.capacity) this.onPressure?.();
  }
}
