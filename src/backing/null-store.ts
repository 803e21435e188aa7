// nullio: no backing I/O. Reads return zeros (never uninitialised memory), writes are discarded.
import { zeroBuffer } from './buffers.ts';
import type { BlockStore } from './store.ts';

/** 1 TiB, the default size of a nullio device without sizeBytes. */
export const DEFAULT_NULLIO_SIZE = 2 ** 40;

export class NullStore implements BlockStore {
  readonly size: number;
  readonly readOnly: boolean;
  readonly writesAreDurable = true;
  constructor(size: number, readOnly = false) {
    this.size = size;
    this.readOnly = readOnly;
  }
  read(_offset: number, length: number): Promise<Buffer> {
    return Promise.resolve(zeroBuffer(length));
  }
  write(_offset: number, _data: Buffer): Promise<void> {
    return Promise.resolve();
  }
  async flush(): Promise<void> {}
  /** Nothing is stored, so everything already reads as zeros. */
  async deallocate(_offset: number, _length: number): Promise<void> {}
  async close(): Promise<void> {}
  describe(): Record<string, unknown> {
    return { backing: 'nullio', sizeBytes: this.size };
  }
}
