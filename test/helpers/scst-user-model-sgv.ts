// The SGV cache of one device in the scst_user model (scst_mem.c):
// user buffers of 2^n pages up to 1024 pages (4 MiB) are kept after their command and handed
// to later commands of the same size; larger ones are allocated per command and freed at once.
// Each cached buffer remembers the cmd_h of the command (or PREALLOC_BUFFER) that supplied it:
// ON_CACHED_MEM_FREE carries that cmd_h.
export const PAGE = 4096;
export const MAX_CACHED_PAGES = 1024;

export interface CachedBuf {
  readonly pbuf: bigint;
  readonly pages: number;
  readonly ownerH: number;
  readonly cacheable: boolean;
  inUse: boolean;
}

/** Pages an SGV allocation of `bytes` takes: a power of two when cached, else just enough. */
export function sgvPages(bytes: number, cached: boolean): number {
  const pages = Math.max(1, Math.ceil(bytes / PAGE));
  if (!cached || pages > MAX_CACHED_PAGES) return pages;
  return 2 ** Math.ceil(Math.log2(pages));
}

export class SgvCache {
  readonly #bufs = new Map<bigint, CachedBuf>();

  /** An idle cached buffer of exactly `pages`, now in use; undefined on a miss. */
  take(pages: number): CachedBuf | undefined {
    if (pages > MAX_CACHED_PAGES) return undefined;
    for (const b of this.#bufs.values()) {
      if (!b.inUse && b.cacheable && b.pages === pages) {
        b.inUse = true;
        return b;
      }
    }
    return undefined;
  }

  /** A user buffer enters the cache (mapped for a command, or donated with PREALLOC_BUFFER). */
  add(pbuf: bigint, pages: number, ownerH: number, inUse: boolean): CachedBuf {
    const b: CachedBuf = { pbuf, pages, ownerH, cacheable: pages <= MAX_CACHED_PAGES, inUse };
    this.#bufs.set(pbuf, b);
    return b;
  }

  delete(b: CachedBuf): void {
    this.#bufs.delete(b.pbuf);
  }

  idle(): CachedBuf[] {
    return [...this.#bufs.values()].filter((b) => !b.inUse);
  }

  get counts(): { total: number; idle: number } {
    return { total: this.#bufs.size, idle: this.idle().length };
  }

  clear(): void {
    this.#bufs.clear();
  }
}
