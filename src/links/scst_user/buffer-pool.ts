// Data buffers for scst_user: page-aligned native memory (one anonymous mapping each,
// MADV_DONTFORK) that the kernel pins and hands to the target driver as the command's
// scatter-gather list, so data moves without a copy. A buffer is "lent" from the moment its
// address goes to the kernel (ALLOC_MEM reply, EXEC reply, PREALLOC_BUFFER) until the kernel
// gives it back: ON_CACHED_MEM_FREE for buffers in its SGV cache (memory reuse), ON_FREE_CMD for
// the others. Given back, it waits idle for the next command of the same size (bounded), else it
// is unmapped. Lookups are by address, because that is all the kernel sends back.
import { Mapping } from '../../ffi/mmap.ts';

export const PAGE_SIZE = 4096;

export interface NativeBuffer {
  readonly address: bigint;
  /** A whole number of pages. */
  readonly length: number;
  /** The memory itself (a view: reads and writes go straight to the pinned pages). */
  readonly bytes: Buffer;
}

interface Entry extends NativeBuffer {
  readonly map: Mapping;
  lent: boolean;
}

export interface BufferPoolStats {
  /** Mappings made (mmap calls). */
  created: number;
  /** Buffers handed out again from the idle list instead of a new mapping. */
  reused: number;
  /** Buffers given back by the kernel (or by a failed hand-over). */
  released: number;
  unmapped: number;
  lent: number;
  lentBytes: number;
  idle: number;
  idleBytes: number;
}

export interface BufferPoolOptions {
  /** Idle buffers kept for reuse, in bytes; beyond it released buffers are unmapped. */
  readonly maxIdleBytes?: number;
  /** Allocator (tests may count or fail it); default Mapping.anonymous with MADV_DONTFORK. */
  readonly map?: (length: number) => Mapping;
}

export const roundToPages = (n: number): number => Math.max(PAGE_SIZE, Math.ceil(n / PAGE_SIZE) * PAGE_SIZE);

export class BufferPool {
  readonly #byAddress = new Map<bigint, Entry>();
  readonly #idle = new Map<number, Entry[]>();
  readonly #maxIdleBytes: number;
  readonly #map: (length: number) => Mapping;
  #idleBytes = 0;
  #lentBytes = 0;
  #lent = 0;
  readonly counters = { created: 0, reused: 0, released: 0, unmapped: 0 };

  constructor(o: BufferPoolOptions = {}) {
    this.#maxIdleBytes = o.maxIdleBytes ?? 64 << 20;
    this.#map = o.map ?? ((length) => Mapping.anonymous(length, { dontFork: true }));
  }

  /**
   * A buffer of at least `length` bytes (rounded up to whole pages), marked lent: call it before
   * giving its address to the kernel. Undefined when memory cannot be mapped (the kernel then
   * fails the command with BUSY and the initiator retries).
   */
  lend(length: number): NativeBuffer | undefined {
    const size = roundToPages(length);
    const idle = this.#idle.get(size);
    let e = idle?.pop();
    if (e) {
      this.#idleBytes -= size;
      this.counters.reused++;
    } else {
      let map: Mapping;
      try {
        map = this.#map(size);
      } catch {
        return undefined;
      }
      e = { address: map.address, length: size, bytes: Buffer.from(map.buffer, 0, size), map, lent: false };
      this.#byAddress.set(e.address, e);
      this.counters.created++;
    }
    e.lent = true;
    this.#lent++;
    this.#lentBytes += size;
    return e;
  }

  /** The lent buffer at exactly this address (what the kernel sends back), if it is ours and lent. */
  lentAt(address: bigint): NativeBuffer | undefined {
    const e = this.#byAddress.get(address);
    return e?.lent ? e : undefined;
  }

  /** Whether this address is one of our mappings at all (lent or idle). */
  owns(address: bigint): boolean {
    return this.#byAddress.has(address);
  }

  /** The kernel gave the buffer back: keep it for reuse or unmap it. False if it was not lent. */
  release(address: bigint): boolean {
    const e = this.#byAddress.get(address);
    if (!e?.lent) return false;
    e.lent = false;
    this.#lent--;
    this.#lentBytes -= e.length;
    this.counters.released++;
    if (this.#idleBytes + e.length <= this.#maxIdleBytes) {
      const list = this.#idle.get(e.length) ?? [];
      list.push(e);
      this.#idle.set(e.length, list);
      this.#idleBytes += e.length;
    } else {
      this.#unmap(e);
    }
    return true;
  }

  #unmap(e: Entry): void {
    this.#byAddress.delete(e.address);
    e.map.unmap();
    this.counters.unmapped++;
  }

  stats(): BufferPoolStats {
    let idle = 0;
    for (const l of this.#idle.values()) idle += l.length;
    return { ...this.counters, lent: this.#lent, lentBytes: this.#lentBytes, idle, idleBytes: this.#idleBytes };
  }

  /**
   * Unmap everything. Only after the fd is closed: the kernel no longer hands these addresses
   * out, and pages it still has pinned stay valid for it (munmap drops our mapping, not its pin).
   */
  dispose(): void {
    for (const e of this.#byAddress.values()) e.map.unmap();
    this.counters.unmapped += this.#byAddress.size;
    this.#byAddress.clear();
    this.#idle.clear();
    this.#idleBytes = 0;
    this.#lent = 0;
    this.#lentBytes = 0;
  }
}
