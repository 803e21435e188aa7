// A backing file (or block device) accessed with positioned reads and writes on a FileHandle, so
// the event loop never blocks. -r O_RDONLY, -t O_DSYNC, -o O_DIRECT with aligned buffers.
//
// Caching: this store has no cache of its own; the in-process page cache
// (cached-store.ts) sits in front of it when the device has one (--cache-size; on by default
// with -o, where it is the only cache, off by default for a buffered file, whose pages the kernel
// caches already). For the cache this store reads straight into page frames (readInto) and
// writes dirty pages out of them (writeBuffers, pwritev), aligned for O_DIRECT. Without the
// cache, small reads try preadv2(RWF_NOWAIT) inline, which copies from the kernel page cache in
// ~3 us and never waits for the device (EAGAIN falls back to the threadpool); small buffered
// writes are an inline pwrite. Then an acknowledged write is in the kernel's page cache and
// survives a kill -9 of this process; with the in-process cache in write-back mode it survives
// only once written back (FUA, WCE=0, SYNCHRONIZE CACHE, the ~1 s dirty age, close), exactly
// the guarantee of a disk's volatile write cache. Either way FUA / SYNCHRONIZE CACHE / WCE=0
// end in fdatasync before GOOD (write(..., sync) and flush()), unless -c says the store is
// non-volatile.
import { constants as C, promises as fsp, writeSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { fadvise, NOWAIT_UNSUPPORTED, POSIX_FADV_WILLNEED, preadNoWait, punchHole, seek, SEEK_DATA, SEEK_HOLE } from '../ffi/file-ops.ts';
import { alignedBuffer } from '../ffi/memory.ts';
import { ioBuffer } from './buffers.ts';
import { readBuffers } from './buffer-pool.ts';
import { PinnedData } from '../scsi/data-in.ts';
import { StoreError, type BlockStore, type Extent } from './store.ts';
import { errnoText, isWriteRefusal } from './errno.ts';

export interface FileStoreOptions {
  readonly path: string;
  readonly blockSize: number;
  readonly readOnly: boolean;
  /** O_DSYNC: every write is durable when it completes. */
  readonly writeThrough: boolean;
  /** O_DIRECT: bypass the page cache (buffers and offsets aligned). */
  readonly direct: boolean;
  /** Non-volatile cache: flush() is a no-op. */
  readonly nvCache: boolean;
}

/** Buffer alignment used for O_DIRECT (page size; satisfies every logical sector size up to 4 KiB). */
const DIRECT_ALIGN = 4096;
/**
 * Largest single fallocate(PUNCH_HOLE) call. Measured on ext4 (this repo's CI host): punching a
 * fully allocated, clean 1 GiB file takes ~300 ms in one call (dirty pages: ~45 ms), a 64 MiB
 * chunk at most ~20 ms; the store yields to the event loop between chunks.
 */
export const PUNCH_CHUNK_BYTES = 64 << 20;
/** Chunk for writing zeros where a hole cannot be punched (partial file-system blocks). */
const ZERO_CHUNK_BYTES = 1 << 20;
/**
 * Inline (synchronous, on the event loop) I/O limit. Reads up to this size first try
 * preadv2(RWF_NOWAIT), which only copies out of the kernel page cache and never waits for the
 * device; buffered writes up to this size are plain pwrite(2) into the page cache. Either skips
 * the libuv threadpool round trip (two thread hand-offs and wake-ups per I/O) that dominated the
 * 4 KiB profile. Larger transfers stay on the threadpool so their memcpy overlaps with the loop.
 */
export const INLINE_IO_BYTES = 128 << 10;
/** An inline write slower than this (dirty-page throttling, journal waits) pauses inline writes. */
const INLINE_WRITE_SLOW_NS = 2_000_000n;
const INLINE_WRITE_BACKOFF_MS = 200;

/** The buffers after the first `n` bytes (views; for resuming a short readv/writev). */
function skipBytes(bufs: readonly Buffer[], n: number): Buffer[] {
  if (n === 0) return bufs as Buffer[];
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/** Size of a block device from sysfs (512-byte sectors), since Node cannot issue BLKGETSIZE64. */
async function blockDeviceSize(rdev: number): Promise<number | undefined> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 1048576) & 0xfff) << 8);
  try {
    const s = await fsp.readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
    return Number(s.trim()) * 512;
  } catch {
    return undefined;
  }
}

export class FileStore implements BlockStore {
  /** Changes only through refreshSize(). */
  size: number;
  readonly readOnly: boolean;
  readonly writesAreDurable: boolean;
  private readonly fh: fsp.FileHandle;
  private readonly o: FileStoreOptions;
  private closed = false;
  /** File-system block size (st_blksize): only whole, aligned ones can be punched. */
  readonly allocationUnit: number;
  /** Cleared when fallocate(PUNCH_HOLE) is not supported here: deallocation writes zeros. */
  private punchSupported = true;
  /** preadv2(RWF_NOWAIT) works on this file (not on tmpfs, for one). */
  private nowait = true;
  readonly stats = { reads: 0, writes: 0, flushes: 0, bytesRead: 0, bytesWritten: 0, bytesDeallocated: 0, inlineReads: 0, inlineWrites: 0 };
  /** Inline writes are paused until this time (ms) after a slow one. */
  private inlineWritesPausedUntil = 0;

  private constructor(fh: fsp.FileHandle, size: number, o: FileStoreOptions, allocationUnit: number) {
    this.fh = fh;
    this.size = size;
    this.o = o;
    this.readOnly = o.readOnly;
    this.writesAreDurable = o.writeThrough || o.nvCache;
    this.allocationUnit = allocationUnit;
  }

  /** Opens and checks the backing file; rejects with one clear message naming the file. */
  static async open(o: FileStoreOptions): Promise<FileStore> {
    const bs = o.blockSize;
    if (!Number.isInteger(bs) || bs < 512 || (bs & (bs - 1)) !== 0) {
      throw new StoreError('open', `block size ${bs} is not a power of two >= 512`);
    }
    let flags = o.readOnly ? C.O_RDONLY : C.O_RDWR;
    if (o.writeThrough) flags |= C.O_DSYNC;
    if (o.direct) flags |= C.O_DIRECT ?? 0;
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(o.path, flags);
    } catch (e) {
      const code = errCode(e);
      let hint = code === 'EINVAL' && o.direct ? ': the file system does not support O_DIRECT' : '';
      // read-write refused, yet it can be read: the read-only option is the likely intent
      if (!o.readOnly && isWriteRefusal(code) && (await fsp.access(o.path, C.R_OK).then(() => true, () => false))) {
        hint = '; it can be read: -r (readOnly: true) serves it read-only';
      }
      throw new StoreError('open', `cannot open ${o.path}: ${errnoText(e)}${hint}`, code);
    }
    try {
      const st = await fh.stat();
      let size: number;
      if (st.isFile()) size = st.size;
      else if (st.isBlockDevice()) {
        const s = await blockDeviceSize(st.rdev);
        if (s === undefined) throw new StoreError('open', `cannot determine the size of block device ${o.path}`);
        size = s;
      } else throw new StoreError('open', `${o.path} is neither a regular file nor a block device`);
      if (size === 0) throw new StoreError('open', `${o.path} is empty (0 bytes)`);
      if (size % bs !== 0) {
        throw new StoreError('open', `${o.path} is ${size} bytes, not a multiple of the ${bs}-byte block size`);
      }
      const unit = st.blksize > 0 && (st.blksize & (st.blksize - 1)) === 0 ? st.blksize : 4096;
      return new FileStore(fh, size, o, unit);
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  async refreshSize(o: { allowShrink?: boolean } = {}): Promise<number> {
    const st = await this.fh.stat();
    const size = st.isBlockDevice() ? await blockDeviceSize(st.rdev) : st.size;
    if (size === undefined || size === 0 || size % this.o.blockSize !== 0) {
      throw new StoreError('open', `${this.o.path} is now ${size ?? 'of unknown size'} bytes, not a non-zero multiple of the ${this.o.blockSize}-byte block size; keeping ${this.size}`);
    }
    // Initiators may hold data (file systems, caches) past the new end: taking it away under
    // them loses it, so it is done only when asked for.
    if (size < this.size && !o.allowShrink) {
      throw new StoreError('open', `${this.o.path} shrank from ${this.size} to ${size} bytes: refused, initiators would lose what lies past byte ${size} (restore the size, or accept it with: fileio_tgt resize --shrink NAME); keeping ${this.size}`);
    }
    this.size = size;
    return size;
  }

  read(offset: number, length: number): Promise<Buffer> {
    this.stats.reads++;
    if (this.o.direct || length > INLINE_IO_BYTES) return this.readFrom(Buffer.allocUnsafe(0), 0, offset, length);
    const buf = ioBuffer(length);
    let got: number;
    try {
      got = this.readInline(buf, offset, length);
    } catch (e) {
      return Promise.reject(e);
    }
    // Not (all) in the page cache, or at end of file: the rest on the threadpool.
    return got === length ? Promise.resolve(buf) : this.readFrom(buf, got, offset, length);
  }

  /**
   * A READ's data in a pooled buffer, handed back to the pool when the link releases it (no
   * allocation per READ). Inline like read() when the kernel has the pages, else the threadpool.
   */
  readPinned(offset: number, length: number): Promise<PinnedData> {
    this.stats.reads++;
    const owned = readBuffers.take(length);
    const buf = owned.subarray(0, length);
    const pinned = new PinnedData([buf], length, () => readBuffers.give(owned));
    let got: number;
    try {
      got = this.o.direct || length > INLINE_IO_BYTES ? 0 : this.readInline(buf, offset, length);
    } catch (e) {
      pinned.release();
      return Promise.reject(e);
    }
    if (got === length) return Promise.resolve(pinned);
    return this.readFrom(buf, got, offset, length).then(
      () => pinned,
      (e: unknown) => {
        pinned.release();
        throw e;
      },
    );
  }

  /**
   * preadv2(RWF_NOWAIT) of what the kernel's page cache has of [offset, offset+length) into buf:
   * the bytes read (0 when none or it would block); throws a StoreError on an I/O error.
   */
  private readInline(buf: Buffer, offset: number, length: number): number {
    if (!this.nowait) return 0;
    let got: number;
    try {
      got = preadNoWait(this.fh.fd, buf, 0, length, offset);
    } catch (e) {
      throw new StoreError('read', `${this.o.path}: read of ${length} bytes at ${offset} failed: ${errCode(e) ?? e}`, errCode(e));
    }
    if (got === NOWAIT_UNSUPPORTED) this.nowait = false;
    got = Math.max(0, got);
    if (got === length) {
      this.stats.inlineReads++;
      this.stats.bytesRead += length;
    }
    return got;
  }

  /** Reads [offset+done, offset+length) with FileHandle.read into buf (allocated when empty). */
  private async readFrom(buf: Buffer, done: number, offset: number, length: number): Promise<Buffer> {
    if (buf.length < length) buf = this.o.direct ? alignedBuffer(length, DIRECT_ALIGN) : Buffer.allocUnsafe(length);
    try {
      while (done < length) {
        const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) throw new StoreError('read', `${this.o.path}: unexpected end of file at byte ${offset + done}`, 'EOF');
        done += bytesRead;
      }
    } catch (e) {
      if (e instanceof StoreError) throw e;
      throw new StoreError('read', `${this.o.path}: read of ${length} bytes at ${offset} failed: ${errCode(e) ?? e}`, errCode(e));
    }
    this.stats.bytesRead += length;
    return buf;
  }

  /**
   * Fills `bufs`, one after the other, from `offset` (the page cache's miss path: the pages are
   * read into in place). With O_DIRECT the buffers must be aligned, as cache pages are.
   */
  readInto(offset: number, bufs: readonly Buffer[]): Promise<void> {
    this.stats.reads++;
    let length = 0;
    for (const b of bufs) length += b.length;
    let done = 0;
    if (!this.o.direct && bufs.length === 1 && length <= INLINE_IO_BYTES) {
      try {
        done = this.readInline(bufs[0]!, offset, length);
      } catch (e) {
        return Promise.reject(e);
      }
      if (done === length) return Promise.resolve();
    }
    return this.readvFrom(bufs, done, offset, length);
  }

  private async readvFrom(bufs: readonly Buffer[], done: number, offset: number, length: number): Promise<void> {
    await this.vectored('read', bufs, done, offset, length, async (b, at) => (await this.fh.readv(b, at)).bytesRead);
    this.stats.bytesRead += length;
  }

  /** Runs readv/writev until `length` bytes moved (short transfers resume where they stopped). */
  private async vectored(kind: 'read' | 'write', bufs: readonly Buffer[], done: number, offset: number, length: number, io: (bufs: Buffer[], at: number) => Promise<number>): Promise<void> {
    try {
      while (done < length) {
        const n = await io(skipBytes(bufs, done), offset + done);
        if (n === 0) {
          throw kind === 'read'
            ? new StoreError('read', `${this.o.path}: unexpected end of file at byte ${offset + done}`, 'EOF')
            : new StoreError('write', `${this.o.path}: write made no progress at byte ${offset + done}`, 'EIO');
        }
        done += n;
      }
    } catch (e) {
      if (e instanceof StoreError) throw e;
      throw new StoreError(kind, `${this.o.path}: ${kind} of ${length} bytes at ${offset} failed: ${errCode(e) ?? e}`, errCode(e));
    }
  }

  /**
   * Writes `bufs`, one after the other, at `offset` with pwritev (the page cache's write-back:
   * dirty pages go out in place, aligned for O_DIRECT, without being copied).
   */
  async writeBuffers(offset: number, bufs: readonly Buffer[]): Promise<void> {
    if (this.readOnly) throw new StoreError('write', `${this.o.path} is open read-only`, 'EROFS');
    this.stats.writes++;
    let length = 0;
    for (const b of bufs) length += b.length;
    await this.vectored('write', bufs, 0, offset, length, async (b, at) => (await this.fh.writev(b, at)).bytesWritten);
    this.stats.bytesWritten += length;
  }

  /** Writes `data`; with `sync`, fdatasync before resolving unless writes are durable anyway. */
  write(offset: number, data: Buffer, sync = false): Promise<void> {
    const p = this.writeData(offset, data);
    return sync && !this.writesAreDurable ? p.then(() => this.flush()) : p;
  }

  private writeData(offset: number, data: Buffer): Promise<void> {
    if (this.readOnly) return Promise.reject(new StoreError('write', `${this.o.path} is open read-only`, 'EROFS'));
    this.stats.writes++;
    // Inline pwrite into the page cache (not with O_DSYNC/O_DIRECT, which wait for the device).
    if (
      !this.o.direct &&
      !this.o.writeThrough &&
      data.length <= INLINE_IO_BYTES &&
      (this.inlineWritesPausedUntil === 0 || this.inlinePauseOver())
    ) {
      const t0 = process.hrtime.bigint();
      let n: number;
      try {
        n = writeSync(this.fh.fd, data, 0, data.length, offset);
      } catch (e) {
        return Promise.reject(new StoreError('write', `${this.o.path}: write of ${data.length} bytes at ${offset} failed: ${errCode(e) ?? e}`, errCode(e)));
      }
      if (process.hrtime.bigint() - t0 > INLINE_WRITE_SLOW_NS) this.inlineWritesPausedUntil = Date.now() + INLINE_WRITE_BACKOFF_MS;
      this.stats.inlineWrites++;
      if (n === data.length) {
        this.stats.bytesWritten += data.length;
        return Promise.resolve();
      }
      return this.writeFrom(data, n, offset);
    }
    return this.writeFrom(data, 0, offset);
  }

  private inlinePauseOver(): boolean {
    if (Date.now() < this.inlineWritesPausedUntil) return false;
    this.inlineWritesPausedUntil = 0;
    return true;
  }

  private async writeFrom(data: Buffer, done: number, offset: number): Promise<void> {
    let src = data;
    if (this.o.direct) {
      src = alignedBuffer(data.length, DIRECT_ALIGN);
      data.copy(src);
    }
    try {
      while (done < src.length) {
        const { bytesWritten } = await this.fh.write(src, done, src.length - done, offset + done);
        if (bytesWritten === 0) throw new StoreError('write', `${this.o.path}: write made no progress at byte ${offset + done}`, 'EIO');
        done += bytesWritten;
      }
    } catch (e) {
      if (e instanceof StoreError) throw e;
      throw new StoreError('write', `${this.o.path}: write of ${data.length} bytes at ${offset} failed: ${errCode(e) ?? e}`, errCode(e));
    }
    this.stats.bytesWritten += data.length;
  }

  async flush(): Promise<void> {
    if (this.o.nvCache || this.readOnly || this.closed) return;
    this.stats.flushes++;
    try {
      await this.fh.datasync();
    } catch (e) {
      throw new StoreError('flush', `${this.o.path}: fdatasync failed: ${errCode(e) ?? e}`, errCode(e));
    }
  }

  /**
   * Punches whole file-system blocks (chunked, yielding between chunks) and writes zeros over
   * the partial blocks at either end; falls back to zeros where punching is unsupported.
   */
  async deallocate(offset: number, length: number): Promise<void> {
    if (this.readOnly) throw new StoreError('write', `${this.o.path} is open read-only`, 'EROFS');
    if (length <= 0) return;
    const end = offset + length;
    const u = this.allocationUnit;
    const a = Math.ceil(offset / u) * u;
    const b = Math.floor(end / u) * u;
    if (!this.punchSupported || a >= b) {
      await this.writeZeros(offset, length);
      return;
    }
    if (a > offset) await this.writeZeros(offset, a - offset);
    for (let pos = a; pos < b; ) {
      const n = Math.min(PUNCH_CHUNK_BYTES, b - pos);
      try {
        punchHole(this.fh.fd, pos, n);
      } catch (e) {
        const code = errCode(e);
        if (code === 'EOPNOTSUPP' || code === 'ENOSYS' || (code === 'EINVAL' && pos === a)) {
          this.punchSupported = false;
          await this.writeZeros(pos, b - pos);
          break;
        }
        throw new StoreError('write', `${this.o.path}: punching ${n} bytes at ${pos} failed: ${code ?? e}`, code);
      }
      this.stats.bytesDeallocated += n;
      pos += n;
      if (pos < b) await yieldToLoop();
    }
    if (end > b) await this.writeZeros(b, end - b);
  }

  private async writeZeros(offset: number, length: number): Promise<void> {
    const zeros = Buffer.alloc(Math.min(length, ZERO_CHUNK_BYTES));
    for (let pos = offset; pos < offset + length; pos += zeros.length) {
      const n = Math.min(zeros.length, offset + length - pos);
      await this.writeData(pos, n === zeros.length ? zeros : zeros.subarray(0, n));
    }
  }

  /** Extents from lseek SEEK_DATA/SEEK_HOLE (a block device reports everything as data). */
  async allocationMap(offset: number, length: number, maxExtents: number): Promise<Extent[]> {
    const end = Math.min(this.size, offset + length);
    const out: Extent[] = [];
    let pos = offset;
    try {
      while (pos < end && out.length < maxExtents) {
        const data = seek(this.fh.fd, pos, SEEK_DATA);
        if (data === undefined || data >= end) {
          out.push({ offset: pos, length: end - pos, mapped: false });
          break;
        }
        if (data > pos) {
          out.push({ offset: pos, length: data - pos, mapped: false });
          pos = data;
          continue;
        }
        const hole = Math.min(end, seek(this.fh.fd, pos, SEEK_HOLE) ?? end);
        out.push({ offset: pos, length: hole - pos, mapped: true });
        pos = hole;
      }
    } catch (e) {
      const code = errCode(e);
      // no SEEK_DATA support: everything is data
      if (code === 'EINVAL' || code === 'EOPNOTSUPP') return [{ offset, length: end - offset, mapped: true }];
      throw new StoreError('read', `${this.o.path}: lseek failed: ${code ?? e}`, code);
    }
    return out;
  }

  async prefetch(offset: number, length: number): Promise<void> {
    if (length > 0 && !this.o.direct) fadvise(this.fh.fd, offset, length, POSIX_FADV_WILLNEED);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.readOnly) await this.fh.datasync();
    } finally {
      this.closed = true;
      await this.fh.close();
    }
  }

  describe(): Record<string, unknown> {
    return {
      backing: this.o.path,
      sizeBytes: this.size,
      readOnly: this.o.readOnly,
      writeThrough: this.o.writeThrough,
      direct: this.o.direct,
      nvCache: this.o.nvCache,
      ...this.stats,
    };
  }
}
