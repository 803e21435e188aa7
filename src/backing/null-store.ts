// nullio: no backing I/O. Reads return zeros (never uninitialised memory), writes are discarded.
import { zeroBuffer } from './buffers.ts';
import type { BlockStore } from './store.ts';
import { PinnedData } from '../scsi/data-in.ts';

const ZEROS = Buffer.alloc(1 << 20);
const noop = (): void => undefined;

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
  /** READ data: views of one shared zero buffer (nobody writes into pinned data-in). */
  readPinned(_offset: number, length: number): Promise<PinnedData> {
    const segments: Buffer[] = [];
    for (let left = length; left > 0; left -= ZEROS.length) segments.push(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
    return Promise.resolve(new PinnedData(segments, length, noop));
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
