// The position index of a cartridge without a per-record array in memory: the file offset of
// every STRIDE-th record (checkpoints), the sorted filemark and setmark positions, EOD, and a
// small LRU of resolved chunks (the offsets of STRIDE consecutive records, found by walking their
// headers from the chunk's checkpoint). The chunk holding EOD stays resident, so appends cost
// nothing extra. At a clean unload the checkpoints and marks are stored after EOD as an index
// trailer (format in README.md); the next load reads it instead of walking every record header,
// so loading a full cartridge of small blocks costs O(records / STRIDE), not O(records).
import { crc32c } from '@node-rs/crc32';
import { RECORD_HEADER, RecordKind, decodeRecordHeader, lowerBound } from './record.ts';

/** Records per checkpoint / chunk. */
export const STRIDE = 1024;
/** Resolved chunks kept besides the tail one. */
const CACHED_CHUNKS = 64;
export const TRAILER_MAGIC = 'FTGTIDX1';
const TRAILER_HEAD = 64;

export type ReadAt = (off: number, len: number) => Promise<Buffer>;

export class IndexError extends Error {}

export class RecordIndex {
  /** File offset of record k * STRIDE. */
  readonly checkpoints: number[] = [];
  readonly filemarks: number[] = [];
  readonly setmarks: number[] = [];
  readonly marks: number[] = [];
  count = 0;
  /** EOD: end of the last record. */
  end: number;
  /** chunk number -> offsets of its records (resolved); the map's order is the LRU order. */
  private readonly chunks = new Map<number, Float64Array>();

  constructor(start: number) {
    this.end = start;
  }

  /** Appends a record that starts at the current EOD and is `size` bytes long (header included). */
  push(kind: number, size: number): void {
    const i = this.count;
    const k = Math.floor(i / STRIDE);
    if (i % STRIDE === 0) {
      this.checkpoints.push(this.end);
      this.chunks.set(k, new Float64Array(STRIDE));
      this.evict();
    }
    const chunk = this.chunks.get(k);
    if (chunk) chunk[i % STRIDE] = this.end;
    if (kind === RecordKind.FILEMARK) {
      this.filemarks.push(i);
      this.marks.push(i);
    } else if (kind === RecordKind.SETMARK) {
      this.setmarks.push(i);
      this.marks.push(i);
    }
    this.count = i + 1;
    this.end += size;
  }

  private evict(): void {
    const tail = Math.floor(Math.max(0, this.count - 1) / STRIDE);
    for (const k of this.chunks.keys()) {
      if (this.chunks.size <= CACHED_CHUNKS) break;
      if (k !== tail && k !== this.checkpoints.length - 1) this.chunks.delete(k);
    }
  }

  kind(i: number): number {
    const s = lowerBound(this.setmarks, i);
    if (this.setmarks[s] === i) return RecordKind.SETMARK;
    const f = lowerBound(this.filemarks, i);
    return this.filemarks[f] === i ? RecordKind.FILEMARK : RecordKind.DATA;
  }

  /** The offset of record i when it is known without reading (EOD, a checkpoint, a resident chunk). */
  offsetNow(i: number): number | undefined {
    if (i >= this.count) return this.end;
    if (i % STRIDE === 0) return this.checkpoints[i / STRIDE];
    const chunk = this.chunks.get(Math.floor(i / STRIDE));
    return chunk ? chunk[i % STRIDE] : undefined;
  }

  /** Offset of record i (i = count: EOD), walking its chunk's headers if needed. */
  async offset(i: number, read: ReadAt): Promise<number> {
    const now = this.offsetNow(i);
    if (now !== undefined) {
      const chunk = this.chunks.get(Math.floor(i / STRIDE));
      if (chunk) this.touch(Math.floor(i / STRIDE), chunk);
      return now;
    }
    const k = Math.floor(i / STRIDE);
    return (await this.resolve(k, read))[i % STRIDE]!;
  }

  private touch(k: number, chunk: Float64Array): void {
    this.chunks.delete(k);
    this.chunks.set(k, chunk);
  }

  /** Walks the headers of chunk k from its checkpoint; each must be the next record in sequence. */
  async resolve(k: number, read: ReadAt): Promise<Float64Array> {
    const have = this.chunks.get(k);
    if (have) return have;
    const first = k * STRIDE;
    const n = Math.min(STRIDE, this.count - first);
    const stop = k + 1 < this.checkpoints.length ? this.checkpoints[k + 1]! : this.end;
    const chunk = new Float64Array(STRIDE);
    let off = this.checkpoints[k]!;
    let window: Buffer = Buffer.alloc(0);
    let windowAt = 0;
    for (let j = 0; j < n; j++) {
      if (off < windowAt || off + RECORD_HEADER > windowAt + window.length) {
        windowAt = off;
        window = await read(off, Math.min(1 << 20, Math.max(RECORD_HEADER, stop - off)));
      }
      const h = decodeRecordHeader(window.subarray(off - windowAt, off - windowAt + RECORD_HEADER));
      if (!h || h.seq !== first + j) throw new IndexError(`record ${first + j}: no valid header at offset ${off} (index and records disagree)`);
      chunk[j] = off;
      off += RECORD_HEADER + h.stored;
    }
    if (off !== stop) throw new IndexError(`chunk ${k} ends at ${off}, the index says ${stop}`);
    this.chunks.set(k, chunk);
    this.evict();
    return chunk;
  }

  /** Cuts the index at record `pos` (the new EOD), whose offset the caller resolved. */
  truncate(pos: number, at: number): void {
    if (pos >= this.count) return;
    this.count = pos;
    this.end = at;
    this.checkpoints.length = Math.ceil(pos / STRIDE);
    for (const k of [...this.chunks.keys()]) if (k >= this.checkpoints.length) this.chunks.delete(k);
    for (const a of [this.filemarks, this.setmarks, this.marks]) a.length = lowerBound(a, pos);
  }

  /** The trailer stored after EOD at a clean unload (README.md: index trailer). */
  encodeTrailer(epoch: number): Buffer {
    const n = this.checkpoints.length;
    const body = Buffer.alloc(8 * (n + this.filemarks.length + this.setmarks.length));
    let o = 0;
    for (const list of [this.checkpoints, this.filemarks, this.setmarks]) for (const v of list) o = body.writeBigUInt64LE(BigInt(v), o);
    const head = Buffer.alloc(TRAILER_HEAD);
    head.write(TRAILER_MAGIC, 0, 'latin1');
    head.writeUInt32LE(1, 8);
    head.writeUInt32LE(STRIDE, 12);
    head.writeBigUInt64LE(BigInt(this.count), 16);
    head.writeBigUInt64LE(BigInt(this.end), 24);
    head.writeUInt32LE(epoch, 32);
    head.writeUInt32LE(n, 36);
    head.writeUInt32LE(this.filemarks.length, 40);
    head.writeUInt32LE(this.setmarks.length, 44);
    head.writeBigUInt64LE(BigInt(TRAILER_HEAD + body.length), 48);
    head.writeUInt32LE(crc32c(body), 56);
    head.writeUInt32LE(crc32c(head.subarray(0, 60)), 60);
    return Buffer.concat([head, body]);
  }

  /**
   * Reads the trailer at `at` (the header's verified end) in a file of `size` bytes; undefined
   * unless it is whole, checks out (CRCs, epoch, EOD = its own offset, nothing after it) and its
   * last chunk walks to EOD exactly.
   */
  static async load(at: number, size: number, epoch: number, read: ReadAt): Promise<RecordIndex | undefined> {
    if (size - at < TRAILER_HEAD) return undefined;
    const head = await read(at, TRAILER_HEAD);
    if (head.length < TRAILER_HEAD || head.toString('latin1', 0, 8) !== TRAILER_MAGIC) return undefined;
    if (crc32c(head.subarray(0, 60)) !== head.readUInt32LE(60) || head.readUInt32LE(8) !== 1 || head.readUInt32LE(12) !== STRIDE) return undefined;
    const count = Number(head.readBigUInt64LE(16));
    const end = Number(head.readBigUInt64LE(24));
    const n = head.readUInt32LE(36);
    const nf = head.readUInt32LE(40);
    const ns = head.readUInt32LE(44);
    const length = Number(head.readBigUInt64LE(48));
    if (end !== at || head.readUInt32LE(32) !== epoch || at + length !== size) return undefined;
    if (length !== TRAILER_HEAD + 8 * (n + nf + ns) || n !== Math.ceil(count / STRIDE) || nf + ns > count) return undefined;
    const body = await read(at + TRAILER_HEAD, length - TRAILER_HEAD);
    if (body.length !== length - TRAILER_HEAD || crc32c(body) !== head.readUInt32LE(56)) return undefined;
    const x = new RecordIndex(end);
    x.count = count;
    let o = 0;
    const take = (list: number[], k: number) => {
      for (let j = 0; j < k; j++, o += 8) list.push(Number(body.readBigUInt64LE(o)));
    };
    take(x.checkpoints, n);
    take(x.filemarks, nf);
    take(x.setmarks, ns);
    for (const v of mergeSorted(x.filemarks, x.setmarks)) x.marks.push(v);
    // the chunk holding EOD must walk to EOD: appends continue from it
    if (count > 0) {
      try {
        await x.resolve(Math.floor((count - 1) / STRIDE), read);
      } catch {
        return undefined;
      }
    }
    return x;
  }
}

function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}
