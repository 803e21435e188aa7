// The state of one disk in one place: capacity, store, write cache and protection, power state,
// medium presence. Commands (sbc-*.ts) call these methods; transitions are testable without a network.
import type { BlockStore } from '../../backing/store.ts';
import { StoreError } from '../../backing/store.ts';
import type { ResizeOptions } from '../../scsi/command.ts';
import type { DataIn } from '../../scsi/data-in.ts';
import { Asc, SenseKey } from '../../scsi/constants.ts';
import type { ModePages } from '../../scsi/mode-pages.ts';
import { CheckCondition, invalidCdbField, lbaOutOfRange } from '../../scsi/sense.ts';
import { softwareWriteProtect } from '../../scsi/spc-pages.ts';
import type { LuLogger } from '../../scsi/logical-unit.ts';
import { CACHING_PAGE } from './pages.ts';
import { RangeLock } from '../../backing/range-lock.ts';

export interface DiskSettings {
  readonly name: string;
  readonly blockSize: number;
  /** log2(physical block size / logical block size): LBPPBE of READ CAPACITY(16). */
  readonly physicalExponent: number;
  /** -r: the medium is write protected. */
  readonly readOnly: boolean;
  /** -c: flushes are no-ops (the store knows it too). */
  readonly nvCache: boolean;
  readonly removable: boolean;
  /** MAXIMUM TRANSFER LENGTH (blocks) in VPD B0h; longer transfers are refused. */
  readonly maxTransferBlocks: number;
  /** OPTIMAL TRANSFER LENGTH (blocks) in VPD B0h. */
  readonly optimalTransferBlocks: number;
  /** --thin: LBPME, UNMAP and WRITE SAME with UNMAP deallocate (punch holes). */
  readonly thin: boolean;
  /** MAXIMUM WRITE SAME LENGTH (blocks), VPD B0h. */
  readonly maxWriteSameBlocks: number;
  /** MAXIMUM UNMAP LBA COUNT and MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT, VPD B0h (thin only). */
  readonly maxUnmapBlocks: number;
  readonly maxUnmapDescriptors: number;
  /** OPTIMAL UNMAP GRANULARITY (blocks): the file-system block, the smallest hole. */
  readonly unmapGranularity: number;
  /** MAXIMUM COMPARE AND WRITE LENGTH (blocks). */
  readonly maxCompareAndWriteBlocks: number;
  /** MAXIMUM ATOMIC TRANSFER LENGTH (blocks). */
  readonly maxAtomicBlocks: number;
}

/** Largest chunk VERIFY reads from the store at a time. */
const VERIFY_CHUNK = 1 << 20;
/** Largest buffer WRITE SAME / SANITIZE OVERWRITE repeat their block into, per write call. */
const REPEAT_CHUNK = 1 << 20;

/** 04/1B LOGICAL UNIT NOT READY, SANITIZE IN PROGRESS. */
export const SANITIZE_IN_PROGRESS = Object.freeze({ asc: 0x04, ascq: 0x1b });
/** 31/03 SANITIZE COMMAND FAILED. */
export const SANITIZE_FAILED = Object.freeze({ asc: 0x31, ascq: 0x03 });

/** One LBA status descriptor (GET LBA STATUS). */
export interface LbaStatus {
  readonly lba: bigint;
  readonly blocks: number;
  /** 0 mapped, 1 deallocated. */
  readonly status: 0 | 1;
}

export class DiskDevice {
  readonly settings: DiskSettings;
  readonly store: BlockStore;
  readonly blockSize: number;
  /** Capacity in logical blocks (changes only through resize()). */
  blocks: bigint;
  private readonly log: LuLogger;
  private pages: ModePages | undefined;
  /** Removable medium ejected with LoEj (START STOP UNIT, medium.ts). */
  ejected = false;
  /** Orders overlapping commands (COMPARE AND WRITE atomicity, see src/backing/range-lock.ts). */
  readonly lock = new RangeLock();
  /** A SANITIZE is running: progress 0..65535 (sense-key-specific PROGRESS INDICATION). */
  sanitizing: { progress: number } | undefined;
  /** The last SANITIZE failed: medium access gets 03/31/03 until EXIT FAILURE MODE or a good one. */
  sanitizeFailed = false;

  constructor(settings: DiskSettings, store: BlockStore, log: LuLogger) {
    this.settings = settings;
    this.store = store;
    this.blockSize = settings.blockSize;
    this.blocks = BigInt(store.size / settings.blockSize);
    this.log = log;
  }

  /**
   * Adopts the backing store's current size (the image was grown, or shrunk with `allowShrink`).
   * Resolves true when the capacity changed; the LU then raises CAPACITY DATA HAS CHANGED.
   */
  async resize(o: ResizeOptions = {}): Promise<boolean> {
    if (!this.store.refreshSize) return false;
    const blocks = BigInt((await this.store.refreshSize(o)) / this.blockSize);
    if (blocks === this.blocks) return false;
    // the host puts the device name in front of every line a handler logs
    this.log('info', `capacity ${this.blocks} -> ${blocks} blocks`);
    this.blocks = blocks;
    return true;
  }

  /** Binds the LU's mode pages (WCE and SWP live there). */
  attach(pages: ModePages): void {
    this.pages = pages;
  }

  /** WCE of the current caching page: false means every write is durable before GOOD. */
  get writeCacheEnabled(): boolean {
    const c = this.pages?.current(CACHING_PAGE, 0);
    return c !== undefined && (c[2]! & 0x04) !== 0;
  }

  get writeProtected(): boolean {
    return this.settings.readOnly || (this.pages !== undefined && softwareWriteProtect(this.pages));
  }

  /** 05/21/00 unless lba..lba+count-1 lies within the capacity (overflow-safe with bigint). */
  checkRange(lba: bigint, count: number | bigint): void {
    if (lba + BigInt(count) > this.blocks) throw lbaOutOfRange(lba > 0xffffffffffffffffn ? undefined : lba);
  }

  /** 05/24/00 at the transfer length field when above the block limits. */
  checkTransferLength(count: number, lengthOffset: number): void {
    if (count > this.settings.maxTransferBlocks) throw invalidCdbField(lengthOffset);
  }

  /** 07/27/00 when the medium is write protected (-r or SWP). */
  checkWritable(): void {
    if (this.writeProtected) throw new CheckCondition(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
  }

  /** 02/3A/00 MEDIUM NOT PRESENT while the removable medium is ejected. */
  checkReady(): void {
    if (this.ejected) throw new CheckCondition(SenseKey.NOT_READY, Asc.MEDIUM_NOT_PRESENT);
  }

  private offset(lba: bigint): number {
    return Number(lba) * this.blockSize;
  }

  private ioError(e: unknown, op: 'read' | 'write'): CheckCondition {
    if (e instanceof CheckCondition) return e;
    this.log('error', e instanceof Error ? e.message : String(e));
    if (!(e instanceof StoreError)) return new CheckCondition(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE);
    return new CheckCondition(SenseKey.MEDIUM_ERROR, op === 'read' ? Asc.UNRECOVERED_READ_ERROR : Asc.WRITE_ERROR);
  }

  /** Reads whole blocks into a buffer of its own (shared range lock: never sees half of a CAW or WRITE ATOMIC). */
  read(lba: bigint, count: number): Promise<Buffer> {
    return this.readWith(lba, count, false) as Promise<Buffer>;
  }

  /**
   * Reads whole blocks for a READ command: pinned data when the store has it (cache pages, a
   * pooled buffer: the link sends and releases them), otherwise a buffer.
   */
  readData(lba: bigint, count: number): Promise<DataIn> {
    return this.readWith(lba, count, this.store.readPinned !== undefined);
  }

  /**
   * READ with FUA (SBC-4): a newer version of a block in a volatile cache must reach the medium
   * before it is read. Only our page cache holds such blocks (the kernel's page cache is coherent
   * with the file), so only then are the range's dirty pages written back first.
   */
  async readDataForceUnitAccess(lba: bigint, count: number): Promise<DataIn> {
    if (this.store.volatileCache === true && count > 0) await this.store.flush(this.offset(lba), count * this.blockSize);
    return this.readData(lba, count);
  }

  private readWith(lba: bigint, count: number, pinned: boolean): Promise<DataIn> {
    if (count === 0) return Promise.resolve(Buffer.alloc(0));
    // Hot path: no async function frames; the lock is usually free (no promise), the store
    // usually answers from a page cache (an already resolved promise).
    const lock = this.lock.tryAcquire(lba, count, 'shared');
    if (typeof lock === 'function') return this.readLocked(lock, lba, count, pinned);
    return lock.then((release) => this.readLocked(release, lba, count, pinned));
  }

  private readLocked(release: () => void, lba: bigint, count: number, pinned: boolean): Promise<DataIn> {
    let p: Promise<DataIn>;
    try {
      const offset = this.offset(lba);
      const length = count * this.blockSize;
      p = pinned ? this.store.readPinned!(offset, length) : this.store.read(offset, length);
    } catch (e) {
      release();
      return Promise.reject(this.ioError(e, 'read'));
    }
    return p.then(
      (b) => {
        release();
        return b;
      },
      (e: unknown) => {
        release();
        throw this.ioError(e, 'read');
      },
    );
  }

  private async readUnlocked(lba: bigint, count: number): Promise<Buffer> {
    try {
      return await this.store.read(this.offset(lba), count * this.blockSize);
    } catch (e) {
      throw this.ioError(e, 'read');
    }
  }

  /** Writes whole blocks; durable before returning when FUA is set or the write cache is off. */
  write(lba: bigint, data: Buffer, fua: boolean): Promise<void> {
    if (data.length === 0) return Promise.resolve();
    const lock = this.lock.tryAcquire(lba, data.length / this.blockSize, 'exclusive');
    if (typeof lock === 'function') return this.writeLocked(lock, lba, data, fua);
    return lock.then((release) => this.writeLocked(release, lba, data, fua));
  }

  private writeLocked(release: () => void, lba: bigint, data: Buffer, fua: boolean): Promise<void> {
    let p: Promise<void>;
    try {
      // FUA or WCE=0: the store makes the data durable before the write completes
      p = this.store.write(this.offset(lba), data, fua || !this.writeCacheEnabled);
    } catch (e) {
      release();
      return Promise.reject(this.ioError(e, 'write'));
    }
    return p.then(release, (e: unknown) => {
      release();
      throw this.ioError(e, 'write');
    });
  }

  private async writeUnlocked(lba: bigint, data: Buffer, fua: boolean): Promise<void> {
    try {
      await this.store.write(this.offset(lba), data, fua || !this.writeCacheEnabled);
    } catch (e) {
      throw this.ioError(e, 'write');
    }
  }

  /** After a multi-write command: flush when the write cache is off (and writes are not already durable). */
  private async syncIf(fua: boolean): Promise<void> {
    if ((fua || !this.writeCacheEnabled) && !this.store.writesAreDurable) await this.store.flush();
  }

  /**
   * WRITE SAME: `block` (or zeros when undefined) repeated over count blocks, written in large
   * chunks. With `deallocate` (UNMAP=1 on a thin LU, data all zeros) the range is punched instead.
   */
  async writeSame(lba: bigint, count: number, block: Buffer | undefined, deallocate: boolean): Promise<void> {
    if (count === 0) return;
    const release = await this.lock.acquire(lba, count, 'exclusive');
    try {
      if (deallocate && this.store.deallocate) {
        await this.deallocateUnlocked(lba, count);
        await this.syncIf(false);
        return;
      }
      await this.writeRepeated(lba, count, block);
      await this.syncIf(false);
    } catch (e) {
      throw this.ioError(e, 'write');
    } finally {
      release();
    }
  }

  /** Writes `pattern` (one block; zeros if undefined) over the range, REPEAT_CHUNK at a time. */
  private async writeRepeated(lba: bigint, count: number, pattern: Buffer | undefined, onProgress?: (done: number) => void): Promise<void> {
    const bs = this.blockSize;
    const chunkBlocks = Math.max(1, Math.min(count, Math.floor(REPEAT_CHUNK / bs)));
    const chunk = pattern ? Buffer.allocUnsafe(chunkBlocks * bs).fill(pattern) : Buffer.alloc(chunkBlocks * bs);
    for (let done = 0; done < count; ) {
      const n = Math.min(chunkBlocks, count - done);
      await this.store.write(this.offset(lba + BigInt(done)), n === chunkBlocks ? chunk : chunk.subarray(0, n * bs));
      done += n;
      onProgress?.(done);
    }
  }

  private async deallocateUnlocked(lba: bigint, count: number): Promise<void> {
    if (this.store.deallocate) await this.store.deallocate(this.offset(lba), count * this.blockSize);
    else await this.writeRepeated(lba, count, undefined);
  }

  /** UNMAP: deallocates every range (each under the range lock); ranges are pre-validated. */
  async unmap(ranges: ReadonlyArray<{ lba: bigint; count: number }>): Promise<void> {
    for (const r of ranges) {
      if (r.count === 0) continue;
      const release = await this.lock.acquire(r.lba, r.count, 'exclusive');
      try {
        await this.deallocateUnlocked(r.lba, r.count);
      } catch (e) {
        throw this.ioError(e, 'write');
      } finally {
        release();
      }
    }
    try {
      await this.syncIf(false);
    } catch (e) {
      throw this.ioError(e, 'write');
    }
  }

  /**
   * COMPARE AND WRITE: under one exclusive range lock, reads the blocks, compares them with
   * `expected` (0E/1D/00 with INFORMATION = offset of the first differing byte; nothing written),
   * then writes `data`.
   */
  async compareAndWrite(lba: bigint, expected: Buffer, data: Buffer, fua: boolean): Promise<void> {
    const count = expected.length / this.blockSize;
    if (count === 0) return;
    const release = await this.lock.acquire(lba, count, 'exclusive');
    try {
      const got = await this.readUnlocked(lba, count);
      if (!got.equals(expected)) {
        let i = 0;
        while (got[i] === expected[i]) i++;
        throw new CheckCondition(SenseKey.MISCOMPARE, Asc.MISCOMPARE_DURING_VERIFY, { information: i });
      }
      await this.writeUnlocked(lba, data, fua);
    } finally {
      release();
    }
  }

  /** ORWRITE (SBC-4 BMOP 000b): new = old OR data, atomically under the range lock. */
  async orWrite(lba: bigint, data: Buffer, fua: boolean): Promise<void> {
    const count = data.length / this.blockSize;
    if (count === 0) return;
    const release = await this.lock.acquire(lba, count, 'exclusive');
    try {
      const got = await this.readUnlocked(lba, count);
      for (let i = 0; i < got.length; i++) got[i]! |= data[i]!;
      await this.writeUnlocked(lba, got, fua);
    } finally {
      release();
    }
  }

  /** PRE-FETCH: posix_fadvise(WILLNEED) on the range (no-op with O_DIRECT or nullio). */
  async prefetch(lba: bigint, count: number): Promise<void> {
    if (count === 0 || !this.store.prefetch) return;
    try {
      await this.store.prefetch(this.offset(lba), count * this.blockSize);
    } catch (e) {
      throw this.ioError(e, 'read');
    }
  }

  /**
   * GET LBA STATUS: up to `max` descriptors starting at `lba`, from the store's allocation map
   * (holes = deallocated). A block is mapped when any byte of it is allocated.
   */
  async lbaStatus(lba: bigint, max: number): Promise<LbaStatus[]> {
    const bs = BigInt(this.blockSize);
    const end = this.blocks;
    const out: LbaStatus[] = [];
    const push = (start: bigint, stop: bigint, status: 0 | 1): void => {
      while (start < stop && out.length < max) {
        const last = out[out.length - 1];
        if (last && last.status === status && last.lba + BigInt(last.blocks) === start && last.blocks < 0xffffffff) {
          const n = Number(stop - start < BigInt(0xffffffff - last.blocks) ? stop - start : BigInt(0xffffffff - last.blocks));
          out[out.length - 1] = { ...last, blocks: last.blocks + n };
          start += BigInt(n);
          continue;
        }
        const n = Number(stop - start < 0xffffffffn ? stop - start : 0xffffffffn);
        out.push({ lba: start, blocks: n, status });
        start += BigInt(n);
      }
    };
    if (!this.store.allocationMap) {
      push(lba, end, 0);
      return out;
    }
    let pos = lba;
    try {
      while (pos < end && out.length < max) {
        const extents = await this.store.allocationMap(Number(pos * bs), Number((end - pos) * bs), Math.max(4, max + 1));
        if (extents.length === 0) break;
        for (const x of extents) {
          // deallocated only for whole blocks inside the hole; partially allocated blocks are mapped
          const a = BigInt(x.offset);
          const b = BigInt(x.offset + x.length);
          let s = x.mapped ? a / bs : (a + bs - 1n) / bs;
          let t = x.mapped ? (b + bs - 1n) / bs : b / bs;
          if (s < pos) s = pos;
          if (t > end) t = end;
          if (!x.mapped && s > pos) push(pos, s, 0);
          if (t > s) push(s, t, x.mapped ? 0 : 1);
          if (t > pos) pos = t;
          if (out.length >= max) break;
        }
      }
    } catch (e) {
      throw this.ioError(e, 'read');
    }
    return out;
  }

  /**
   * SANITIZE OVERWRITE / BLOCK ERASE over the whole medium, tracking progress. Nothing else can
   * touch the medium meanwhile (the LU hook answers 02/04/1B), so no range lock is needed.
   */
  async sanitize(kind: 'overwrite' | 'block-erase', pattern?: Buffer, passes = 1, invert = false): Promise<void> {
    const total = this.blocks;
    this.sanitizing = { progress: 0 };
    this.sanitizeFailed = false;
    const step = BigInt(Math.max(1, Math.floor((64 << 20) / this.blockSize)));
    try {
      for (let pass = 0; pass < passes; pass++) {
        // INVERT: the pattern is inverted between consecutive passes
        const block = pattern && invert && pass % 2 === 1 ? Buffer.from(pattern.map((x) => ~x & 0xff)) : pattern;
        for (let lba = 0n; lba < total; lba += step) {
          const n = Number(total - lba < step ? total - lba : step);
          if (kind === 'block-erase') await this.deallocateUnlocked(lba, n);
          else await this.writeRepeated(lba, n, block);
          const done = BigInt(pass) * total + lba + BigInt(n);
          this.sanitizing.progress = Math.min(0xffff, Number((done * 65536n) / (total * BigInt(passes))));
        }
        // every pass has to reach the medium, or the page cache would fold the passes into one
        await this.store.flush();
      }
    } catch (e) {
      this.sanitizeFailed = true;
      this.log('error', `SANITIZE failed: ${e instanceof Error ? e.message : String(e)}`);
      throw e;
    } finally {
      this.sanitizing = undefined;
    }
  }

  /** FORMAT UNIT on a thin LU: every block deallocated (reads return zeros). */
  async deallocateAll(): Promise<void> {
    const release = await this.lock.acquire(0n, this.blocks, 'exclusive');
    try {
      await this.deallocateUnlocked(0n, Number(this.blocks));
      await this.store.flush();
    } catch (e) {
      throw this.ioError(e, 'write');
    } finally {
      release();
    }
  }

  /** SYNCHRONIZE CACHE (a range of blocks, or everything) and shutdown. */
  async flush(lba?: bigint, count?: number): Promise<void> {
    try {
      if (lba === undefined || count === undefined) await this.store.flush();
      else await this.store.flush(this.offset(lba), count * this.blockSize);
    } catch (e) {
      throw this.ioError(e, 'write');
    }
  }

  /**
   * Compares `count` blocks at `lba` with `expected` (whole data, or one block repeated when
   * `repeat`): throws 0E/1D/00 MISCOMPARE with INFORMATION = byte offset of the first difference.
   * With no `expected`, only checks that the blocks can be read.
   */
  async verify(lba: bigint, count: number, expected?: Buffer, repeat = false): Promise<void> {
    const bs = this.blockSize;
    const chunkBlocks = Math.max(1, Math.floor(VERIFY_CHUNK / bs));
    for (let done = 0; done < count; done += chunkBlocks) {
      const n = Math.min(chunkBlocks, count - done);
      const got = await this.read(lba + BigInt(done), n);
      if (!expected) continue;
      for (let i = 0; i < got.length; i++) {
        const pos = done * bs + i;
        const want = repeat ? expected[pos % bs]! : expected[pos]!;
        if (got[i] !== want) {
          throw new CheckCondition(SenseKey.MISCOMPARE, Asc.MISCOMPARE_DURING_VERIFY, { information: pos });
        }
      }
    }
  }

  describe(): Record<string, unknown> {
    return {
      blockSize: this.blockSize,
      blocks: this.blocks.toString(),
      writeCache: this.writeCacheEnabled,
      writeProtected: this.writeProtected,
      ...this.store.describe(),
    };
  }
}
