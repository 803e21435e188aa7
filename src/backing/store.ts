// The backing store interface the block handlers use. The page cache (cached-store.ts) wraps a
// file store with the same interface, so handlers never see file descriptors or cache pages.
import type { PinnedData } from '../scsi/data-in.ts';

export interface BlockStore {
  /** Capacity in bytes (a multiple of the block size). */
  readonly size: number;
  /** Writes fail: the store was opened read-only. */
  readonly readOnly: boolean;
  /** Every completed write is already durable (O_DSYNC, or nothing to lose): no flush needed after it. */
  readonly writesAreDurable: boolean;
  /**
   * Acknowledged writes may be held in this process (our page cache) and not be in the backing
   * file yet: READ with FUA writes its range back first. The kernel's page cache does not count
   * (reads through it see every write).
   */
  readonly volatileCache?: boolean;
  /** Reads exactly `length` bytes at `offset`. Rejects with a StoreError. */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Writes all of `data` at `offset`. With `sync` (FUA, or the write cache disabled) the data is
   * durable when the promise resolves. Rejects with a StoreError.
   */
  write(offset: number, data: Buffer, sync?: boolean): Promise<void>;
  /**
   * Makes completed writes durable (cached data written back, then fdatasync; no fdatasync when
   * the backing store is non-volatile, -c). A range limits what must be written back; the
   * fdatasync always covers the whole file.
   */
  flush(offset?: number, length?: number): Promise<void>;
  /**
   * Reads like read(), but answers with pinned data the link sends and then releases: cache pages,
   * a pooled buffer, shared zeros. Its bytes must not be changed (read() gives a buffer to keep).
   */
  readPinned?(offset: number, length: number): Promise<PinnedData>;
  /** Flushes and releases the store. */
  close(): Promise<void>;
  /** A line for status output. */
  describe(): Record<string, unknown>;
  /**
   * Thin provisioning: deallocates [offset, offset+length) (byte offsets, whole logical blocks);
   * afterwards the range reads as zeros. Absent when the store cannot deallocate.
   */
  deallocate?(offset: number, length: number): Promise<void>;
  /**
   * Allocation state of [offset, offset+length) as consecutive extents (at most `maxExtents`,
   * the last one may end before offset+length). Absent: everything counts as mapped.
   */
  allocationMap?(offset: number, length: number, maxExtents: number): Promise<Extent[]>;
  /** Hint that the range will be read soon (PRE-FETCH). */
  prefetch?(offset: number, length: number): Promise<void>;
  /**
   * Re-reads the backing size (the image was grown or shrunk underneath) and adopts it: `size`
   * then reports it. Rejects with a StoreError when it is not a multiple of the block size, or
   * smaller than before without `allowShrink`.
   */
  refreshSize?(o?: { allowShrink?: boolean }): Promise<number>;
}

/** A run of bytes that is all mapped (allocated) or all deallocated. */
export interface Extent {
  readonly offset: number;
  readonly length: number;
  readonly mapped: boolean;
}

export type StoreOperation = 'open' | 'read' | 'write' | 'flush';

/** An I/O failure of the backing store, with the errno code when there is one. */
export class StoreError extends Error {
  readonly operation: StoreOperation;
  readonly code: string | undefined;
  constructor(operation: StoreOperation, message: string, code?: string) {
    super(message);
    this.name = 'StoreError';
    this.operation = operation;
    this.code = code;
  }
}
