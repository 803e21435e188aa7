// One tape cartridge in one file (format described in README.md next to this file): a double
// header (A/B slots, generation + CRC32C, so a torn header write leaves the other slot), then
// self-checking records (data blocks, filemarks, setmarks) back to back. The position index
// (record-index.ts) is read from the trailer a clean unload stored after EOD, or else rebuilt by
// walking the record headers; payload checksums are verified past the last verified offset, and
// a torn or stale tail is cut off there. Everything is little-endian.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import { densityByCode, densityForCapacity, formatCapacity } from './density.ts';
import { CartFlag, DATA_START, SLOT_SIZE, ascii, encodeHeader, readHeader, type CartridgeHeader } from './header.ts';
import { MAX_RECORD, RECORD_HEADER, RecordKind, decodeRecordHeader, encodeRecordHeader, lowerBound, type RecordKindValue } from './record.ts';
import { IndexError, RecordIndex, STRIDE } from './record-index.ts';

export { CartFlag, DATA_START, FORMAT_VERSION, HEADER_MAGIC, SLOT_SIZE, decodeHeader, encodeHeader, type Attribute, type CartridgeHeader } from './header.ts';
export { MAX_RECORD, RECORD_HEADER, RECORD_MAGIC, RecordKind, encodeRecordHeader, lowerBound, type RecordKindValue } from './record.ts';

export interface CreateOptions {
  barcode: string;
  capacity: number;
  worm?: boolean;
  cleaning?: boolean;
  density?: number;
  serial?: string;
  manufacturer?: string;
}

export interface OpenOptions {
  readOnly?: boolean;
  /** Called about once a second during the index rebuild: bytes scanned of total. */
  progress?: (done: number, total: number) => void;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Count this open as a load (load count + 1 in the header). Default true unless read-only. */
  countLoad?: boolean;
}

export class MediumError extends Error {}

const BARCODE = /^[\x21-\x7e]{1,32}$/;

export const RecordFlag = { DEFLATE: 0x01, ENCRYPTED: 0x02, PROTECTED: 0x04 } as const;
const FLAG_DEFLATE = RecordFlag.DEFLATE;

/** A record's payload as stored (checksum verified), before decryption and decompression. */
export interface RawRecord {
  readonly seq: number;
  readonly flags: number;
  readonly payload: Buffer;
  /** Logical (uncompressed, unencrypted) length. */
  readonly logical: number;
}

/** Seals the stored payload of record `seq` (encryption); called after compression. */
export type Sealer = (stored: Buffer, seq: number) => Buffer;

export class Cartridge {
  readonly path: string;
  readonly readOnly: boolean;
  header: CartridgeHeader;
  private fh: FileHandle;
  /** Record positions: checkpoints, marks, EOD (record-index.ts). */
  private index = new RecordIndex(DATA_START);
  /** The stored index trailer is still after EOD (dropped before the first change). */
  private trailer = false;
  /** How this load found its index: read from the trailer, or rebuilt by walking every record. */
  indexSource: 'trailer' | 'rebuilt' = 'rebuilt';
  /** Appended since the last sync. */
  private dirty = false;
  /** Logical bytes written and read through this handle (log page 0Ch). */
  readonly stats = { bytesWritten: 0, bytesRead: 0, storedWritten: 0 };
  /** The previous user did not close it (crash or kill -9): the MOUNTED flag was still set. */
  unclean = false;
  /** Records cut off as a torn or stale tail at open. */
  recoveredTail: { at: number; reason: string } | undefined;
  private closed = false;

  private constructor(path: string, fh: FileHandle, header: CartridgeHeader, readOnly: boolean) {
    this.path = path;
    this.fh = fh;
    this.header = header;
    this.readOnly = readOnly;
  }

  /** Creates a blank cartridge file (fails if it exists). */
  static async create(path: string, o: CreateOptions): Promise<CartridgeHeader> {
    if (!BARCODE.test(o.barcode)) throw new Error(`barcode ${JSON.stringify(o.barcode)} must be 1-32 printable ASCII characters without spaces`);
    if (!Number.isSafeInteger(o.capacity) || o.capacity < 1 << 20) throw new Error(`capacity ${o.capacity} must be at least 1 MiB`);
    const header: CartridgeHeader = {
      generation: 1,
      capacity: o.capacity,
      verifiedEnd: DATA_START,
      loadCount: 0,
      createdAt: Date.now(),
      flags: (o.worm ? CartFlag.WORM : 0) | (o.cleaning ? CartFlag.CLEANING : 0),
      density: o.density ?? densityForCapacity(o.capacity).code,
      epoch: 0,
      barcode: o.barcode,
      serial: o.serial ?? `FT${o.barcode}`.slice(0, 32),
      manufacturer: o.manufacturer ?? 'FILEIO',
      attributes: new Map([[0x0806, { format: 1, value: ascii(o.barcode, 32) }]]),
    };
    const fh = await open(path, 'wx');
    try {
      const img = Buffer.alloc(DATA_START);
      encodeHeader(header).copy(img, (header.generation % 2) * SLOT_SIZE); // slot B; updates alternate
      await fh.write(img, 0, img.length, 0);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    return header;
  }

  /** Reads just the header (for a changer's inventory); undefined if the file is not a cartridge. */
  static async peek(path: string): Promise<CartridgeHeader | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch {
      return undefined;
    }
    try {
      return await readHeader(fh);
    } finally {
      await fh.close();
    }
  }

  static async open(path: string, o: OpenOptions = {}): Promise<Cartridge> {
    const readOnly = !!o.readOnly;
    const fh = await open(path, readOnly ? 'r' : 'r+');
    try {
      const header = await readHeader(fh);
      if (!header) throw new Error(`${path} is not a fileio_tgt cartridge (no valid header)`);
      const c = new Cartridge(path, fh, header, readOnly);
      c.unclean = (header.flags & CartFlag.MOUNTED) !== 0;
      const stored = await RecordIndex.load(header.verifiedEnd, (await fh.stat()).size, header.epoch, c.reader());
      if (stored) {
        c.index = stored;
        c.trailer = true;
        c.indexSource = 'trailer';
      } else await c.rebuild(o);
      if (!readOnly) {
        await c.sync();
        await c.updateHeader((h) => {
          if (o.countLoad ?? true) h.loadCount++;
          h.verifiedEnd = c.end;
          h.flags |= CartFlag.MOUNTED;
        });
      }
      return c;
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  /** pread of up to `len` bytes at `pos` (short at the end of the file). */
  private reader(): (pos: number, len: number) => Promise<Buffer> {
    return async (pos, len) => {
      const b = Buffer.alloc(len);
      const { bytesRead } = await this.fh.read(b, 0, len, pos);
      return b.subarray(0, bytesRead);
    };
  }

  /** Walks the records from DATA_START, verifying; cuts the tail at the first bad record. */
  private async rebuild(o: OpenOptions): Promise<void> {
    const size = (await this.fh.stat()).size;
    const window = Buffer.alloc(1 << 20);
    let winStart = -1;
    let winLen = 0;
    let off = DATA_START;
    let lastEpoch = 0;
    let lastReport = Date.now();
    const readAt = async (pos: number, len: number): Promise<Buffer> => {
      if (len <= window.length && pos >= winStart && pos + len <= winStart + winLen) return window.subarray(pos - winStart, pos - winStart + len);
      if (len <= window.length) {
        const { bytesRead } = await this.fh.read(window, 0, window.length, pos);
        winStart = pos;
        winLen = bytesRead;
        return window.subarray(0, Math.min(len, bytesRead));
      }
      const b = Buffer.alloc(len);
      const { bytesRead } = await this.fh.read(b, 0, len, pos);
      return b.subarray(0, bytesRead);
    };
    let bad: string | undefined;
    while (off < size) {
      if (o.progress && Date.now() - lastReport > 1000) {
        lastReport = Date.now();
        o.progress(off, size);
      }
      const hb = await readAt(off, RECORD_HEADER);
      const h = hb.length === RECORD_HEADER ? decodeRecordHeader(hb) : undefined;
      const i = this.index.count;
      if (!h) {
        bad = 'bad record header';
        break;
      }
      if (h.seq !== i) {
        bad = `record sequence ${h.seq} where ${i} was expected`;
        break;
      }
      if (h.epoch < lastEpoch || h.epoch > this.header.epoch) {
        bad = `stale record (epoch ${h.epoch})`;
        break;
      }
      if (h.stored > MAX_RECORD || (h.kind !== RecordKind.DATA && h.stored !== 0) || off + RECORD_HEADER + h.stored > size) {
        bad = 'record runs past the end of the file';
        break;
      }
      if (off + RECORD_HEADER + h.stored > this.header.verifiedEnd && h.stored > 0) {
        const payload = await readAt(off + RECORD_HEADER, h.stored);
        if (payload.length !== h.stored || crc32c(payload) !== h.crc) {
          bad = 'payload checksum mismatch';
          break;
        }
      }
      lastEpoch = h.epoch;
      this.index.push(h.kind, RECORD_HEADER + h.stored);
      off += RECORD_HEADER + h.stored;
    }
    if (off < size) {
      this.recoveredTail = { at: off, reason: bad ?? 'trailing bytes' };
      o.log?.('warn', `${this.path}: ${bad ?? 'trailing bytes'} at offset ${off}: cutting the tail (${size - off} bytes) after record ${this.index.count}`);
      if (!this.readOnly) {
        if (off < this.header.verifiedEnd) await this.updateHeader((x) => (x.verifiedEnd = off));
        await this.fh.truncate(off);
        await this.fh.datasync();
      }
    }
    o.progress?.(size, size);
  }

  /** Writes the header into the other slot (generation + 1) and makes it durable. */
  async updateHeader(mutate: (h: CartridgeHeader) => void): Promise<void> {
    if (this.readOnly) throw new Error('cartridge opened read-only');
    const next: CartridgeHeader = { ...this.header, attributes: new Map(this.header.attributes) };
    mutate(next);
    next.generation = this.header.generation + 1;
    const bytes = encodeHeader(next);
    const slot = Buffer.alloc(SLOT_SIZE);
    bytes.copy(slot);
    await this.fh.write(slot, 0, SLOT_SIZE, (next.generation % 2) * SLOT_SIZE);
    await this.fh.datasync();
    this.header = next;
  }

  get barcode(): string {
    return this.header.barcode;
  }
  get worm(): boolean {
    return (this.header.flags & CartFlag.WORM) !== 0;
  }
  get writeProtected(): boolean {
    return (this.header.flags & CartFlag.WRITE_PROTECT) !== 0;
  }
  get cleaning(): boolean {
    return (this.header.flags & CartFlag.CLEANING) !== 0;
  }
  get capacity(): number {
    return this.header.capacity;
  }
  /** Objects (blocks + marks) on the medium; EOD is position `count`. */
  get count(): number {
    return this.index.count;
  }
  /** EOD: end of the last valid record. */
  get end(): number {
    return this.index.end;
  }
  /** Medium bytes in use (records with their headers). */
  get used(): number {
    return this.end - DATA_START;
  }
  get remaining(): number {
    return Math.max(0, this.capacity - this.used);
  }
  /** Medium bytes used by objects before position `pos`. */
  usedBefore(pos: number): number {
    // exact once position `pos` was resolved (resolve()); until then its chunk's checkpoint
    const at = this.index.offsetNow(pos) ?? this.index.checkpoints[Math.floor(pos / STRIDE)]!;
    return at - DATA_START;
  }
  /** Makes usedBefore(pos) exact (walks the headers of pos's chunk unless it is resident). */
  async resolve(pos: number): Promise<void> {
    await this.offsetOf(pos);
  }
  kind(i: number): number {
    return this.index.kind(i);
  }
  filemarksBefore(pos: number): number {
    return lowerBound(this.index.filemarks, pos);
  }
  setmarksBefore(pos: number): number {
    return lowerBound(this.index.setmarks, pos);
  }
  get filemarkCount(): number {
    return this.index.filemarks.length;
  }
  /** Sorted indexes of marks of one kind (or of both, kind undefined); do not modify. */
  markList(kind?: number): readonly number[] {
    const x = this.index;
    return kind === RecordKind.FILEMARK ? x.filemarks : kind === RecordKind.SETMARK ? x.setmarks : x.marks;
  }

  /** File offset of record i (i = count: EOD); a record the stored index does not match is a medium error. */
  private async offsetOf(i: number): Promise<number> {
    try {
      return await this.index.offset(i, this.reader());
    } catch (e) {
      if (e instanceof IndexError) throw new MediumError(e.message);
      throw e;
    }
  }

  /** Reads the payload of data record i (verified, decompressed). */
  async read(i: number): Promise<Buffer> {
    const raw = await this.readRaw(i);
    if (raw.flags & RecordFlag.ENCRYPTED) throw new MediumError(`record ${i} is encrypted`);
    return this.decode(raw, raw.payload);
  }

  /** Inflates a record's (decrypted) payload and checks its logical length. */
  decode(raw: RawRecord, payload: Buffer): Buffer {
    const data = raw.flags & FLAG_DEFLATE ? inflateRawSync(payload) : payload;
    if (data.length !== raw.logical) throw new MediumError(`record ${raw.seq}: length ${data.length}, header says ${raw.logical}`);
    this.stats.bytesRead += data.length;
    return data;
  }

  /** Reads record i's stored payload, its header and payload checksum verified. */
  async readRaw(i: number): Promise<RawRecord> {
    const off = await this.offsetOf(i);
    const next = await this.offsetOf(i + 1);
    const total = next - off;
    const b = Buffer.alloc(total);
    const { bytesRead } = await this.fh.read(b, 0, total, off);
    const h = bytesRead === total ? decodeRecordHeader(b.subarray(0, RECORD_HEADER)) : undefined;
    if (!h || h.seq !== i) throw new MediumError(`record ${i}: bad header at offset ${off}`);
    const payload = b.subarray(RECORD_HEADER);
    if (crc32c(payload) !== h.crc) throw new MediumError(`record ${i}: payload checksum mismatch at offset ${off}`);
    return { seq: i, flags: h.flags, payload, logical: h.logical };
  }

  /** Removes every object at and after `pos` (the new EOD). */
  async truncate(pos: number): Promise<void> {
    if (pos >= this.count) return;
    const off = await this.offsetOf(pos);
    if (pos > 0) await this.offsetOf(pos - 1); // the new tail chunk stays resident
    await this.dropTrailer();
    // A new epoch first: records of the old tail that survive a lost truncate are recognised as stale.
    await this.updateHeader((h) => {
      h.epoch++;
      if (h.verifiedEnd > off) h.verifiedEnd = off;
    });
    await this.fh.truncate(off);
    this.index.truncate(pos, off);
    this.dirty = true;
  }

  /** Stored size a record would take (header + payload, before compression). */
  static recordSize(payload: number): number {
    return RECORD_HEADER + payload;
  }

  /** Appends one record at EOD. Compression is used when `compress` and it helps. */
  async append(kind: RecordKindValue, data?: Buffer, compress = false, seal?: Sealer, extraFlags = 0): Promise<number> {
    const payload = data ?? Buffer.alloc(0);
    let stored = payload;
    let flags = extraFlags;
    if (compress && payload.length >= 256) {
      const z = deflateRawSync(payload, { level: 1 });
      if (z.length < payload.length) {
        stored = z;
        flags |= FLAG_DEFLATE;
      }
    }
    const i = this.count;
    if (seal && kind === RecordKind.DATA) {
      stored = seal(stored, i);
      flags |= RecordFlag.ENCRYPTED;
    }
    await this.dropTrailer();
    const h = encodeRecordHeader(kind, flags, i, stored.length, payload.length, this.header.epoch, stored.length > 0 ? crc32c(stored) : 0);
    const rec = stored.length > 0 ? Buffer.concat([h, stored]) : h;
    const at = this.end;
    await this.fh.write(rec, 0, rec.length, at);
    this.index.push(kind, rec.length);
    this.dirty = true;
    this.stats.bytesWritten += payload.length;
    this.stats.storedWritten += stored.length;
    return rec.length;
  }

  /** Before the first change after a load: the stored index goes (a crash then rebuilds it). */
  private async dropTrailer(): Promise<void> {
    if (!this.trailer) return;
    this.trailer = false;
    await this.fh.truncate(this.end);
  }

  /**
   * At a clean unload: the index trailer after EOD (durable before the header names this EOD as
   * verified, so a trailer the header points to is always whole).
   */
  private async storeTrailer(): Promise<void> {
    if (this.trailer) return;
    const t = this.index.encodeTrailer(this.header.epoch);
    await this.fh.write(t, 0, t.length, this.end);
    await this.fh.truncate(this.end + t.length);
    await this.fh.datasync();
    this.trailer = true;
  }

  /** Makes everything appended so far durable. */
  async sync(): Promise<void> {
    if (!this.dirty || this.readOnly) return;
    this.dirty = false;
    await this.fh.datasync();
  }

  /** Syncs and records the verified end (clean unload), then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.readOnly) {
        this.dirty = true; // a truncate also needs the data sync
        await this.sync();
        await this.storeTrailer();
        await this.updateHeader((h) => {
          h.verifiedEnd = this.end;
          h.flags &= ~CartFlag.MOUNTED;
        });
      }
    } finally {
      await this.fh.close();
    }
  }

  /** One line: generation, capacity, WORM, partitions, use (start-up line, tape info). */
  summary(): string {
    const d = densityByCode(this.header.density);
    const kind = this.cleaning ? 'cleaning cartridge' : this.worm ? 'WORM' : 'rewritable';
    return `${this.barcode}: ${d ? `LTO-${d.generation}` : `density ${this.header.density.toString(16)}h`}, ${formatCapacity(this.capacity)}, ${kind}, 1 partition, ${formatCapacity(this.used)} used in ${this.count} objects`;
  }

  describe(): Record<string, unknown> {
    const d = densityByCode(this.header.density);
    return {
      generation: d?.generation ?? null,
      partitions: 1,
      barcode: this.barcode,
      capacity: this.capacity,
      used: this.used,
      objects: this.count,
      filemarks: this.index.filemarks.length,
      setmarks: this.index.setmarks.length,
      index: this.indexSource,
      worm: this.worm,
      loadCount: this.header.loadCount,
      density: `0x${this.header.density.toString(16)}`,
    };
  }
}

export async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size;
}
