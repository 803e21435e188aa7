// The backing store interface the block handlers use. A page cache (lru-cache) will later wrap a
// store with the same interface, so handlers never see file descriptors.

export interface BlockStore {
  /** Capacity in bytes (a multiple of the block size). */
  readonly size: number;
  /** Writes fail: the store was opened read-only. */
  readonly readOnly: boolean;
  /** Every completed write is already durable (O_DSYNC, or nothing to lose): no flush needed after it. */
  readonly writesAreDurable: boolean;
  /** Reads exactly `length` bytes at `offset`. Rejects with a StoreError. */
  read(offset: number, length: number): Promise<Buffer>;
  /** Writes all of `data` at `offset`. Rejects with a StoreError. */
  write(offset: number, data: Buffer): Promise<void>;
  /** Makes completed writes durable (fdatasync); a no-op when the cache is non-volatile (-c). */
  flush(): Promise<void>;
  /** Flushes and releases the store. */
  close(): Promise<void>;
  /** A line for status output. */
  describe(): Record<string, unknown>;
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
