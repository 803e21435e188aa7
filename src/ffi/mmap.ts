// One mapping (a shared mapping of a file or device, or anonymous memory), owning the single
// ArrayBuffer view over it. After unmap() every accessor throws: a view over unmapped memory
// would segfault (munmap does not detach koffi views), so the owner drops it first and refuses
// later use.
import { MADV_DONTFORK, MAP_SHARED, PROT_READ, PROT_WRITE, madvise, mmap, mmapAnonymous, munmap, viewOf } from './libc.ts';

export class Mapping {
  readonly length: number;
  #addr: bigint | null;
  #view: ArrayBuffer | null;

  private constructor(addr: bigint, length: number) {
    this.#addr = addr;
    this.length = length;
    this.#view = viewOf(addr, length);
  }

  /** mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_SHARED, fd, offset). */
  static shared(fd: number, length: number, offset = 0): Mapping {
    return new Mapping(mmap(length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset), length);
  }

  /**
   * Zeroed, page-aligned private memory. dontFork: madvise(MADV_DONTFORK), for memory the kernel
   * pins (get_user_pages): a fork would otherwise copy-on-write the pages away from the process.
   */
  static anonymous(length: number, o: { dontFork?: boolean } = {}): Mapping {
    const addr = mmapAnonymous(length);
    try {
      if (o.dontFork) madvise(addr, length, MADV_DONTFORK);
      return new Mapping(addr, length);
    } catch (e) {
      munmap(addr, length);
      throw e;
    }
  }

  get mapped(): boolean {
    return this.#addr !== null;
  }

  /** The one ArrayBuffer aliasing the mapping. Throws after unmap(). */
  get buffer(): ArrayBuffer {
    if (this.#view === null) throw new Error('mapping used after unmap');
    return this.#view;
  }

  get address(): bigint {
    if (this.#addr === null) throw new Error('mapping used after unmap');
    return this.#addr;
  }

  /** Drop the view, then munmap. Idempotent. Callers must hold no views derived from buffer. */
  unmap(): void {
    const a = this.#addr;
    if (a === null) return;
    this.#view = null;
    this.#addr = null;
    munmap(a, this.length);
  }
}
