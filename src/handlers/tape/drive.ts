// The state of one tape drive (SSC-4): which cartridge is in it, whether it is loaded (threaded),
// the logical position, fixed/variable block mode, buffered mode, PREVENT per nexus, counters.
// Positions are logical object numbers: record i of the cartridge is object i; BOP is 0 and EOD
// is `cart.count`. Commands run one at a time (every tape command is exclusive in the task set).
import { crc32c } from '@node-rs/crc32';
import { Cartridge, MediumError, RecordFlag, RecordKind, lowerBound } from '../../media/cartridge.ts';
import { compatibility, densityByCode } from '../../media/density.ts';
import { formatBlank, missingCartridgeMessage } from '../../media/blank.ts';
import { TapeEncryption } from './encryption.ts';
import { Asc, SenseKey } from '../../scsi/constants.ts';
import { TapeAsc, VOLUME_OVERFLOW_KEY, checkProtection, exists, info, rebuildProgress, type DriveListener, type DriveSettings } from './drive-support.ts';
import { CheckCondition } from '../../scsi/sense.ts';
import { PreventTracker } from '../../scsi/prevent.ts';
import type { LuLogger } from '../../scsi/logical-unit.ts';

export { TapeAsc, VOLUME_OVERFLOW_KEY, rebuildProgress, signed24, type DriveListener, type DriveSettings } from './drive-support.ts';

export class TapeDrive {
  readonly settings: DriveSettings;
  readonly log: LuLogger;
  cart: Cartridge | undefined;
  /** Loaded = threaded and ready; a cartridge may sit unloaded in the drive (after UNLOAD). */
  loaded = false;
  pos = 0;
  /** Mode parameter block descriptor BLOCK LENGTH: 0 = variable block mode. */
  blockLength = 0;
  /** Device-specific parameter BUFFERED MODE (0: a WRITE is durable before GOOD). */
  bufferedMode = 1;
  compression = true;
  readonly preventers = new PreventTracker();
  /** TapeAlert flags currently set (1..64). */
  readonly tapeAlert = new Set<number>();
  /**
   * What the drive's generation allows with the loaded cartridge's (density.ts compatibility).
   * Enforced when the drive's generation is configured; a drive without one takes every
   * generation up to its own, as before (cartridges made with a small --size are LTO-1).
   */
  access: 'read-write' | 'read-only' | 'none' = 'read-write';
  /** Called when a cartridge is loaded (for the unit attention) or removed. */
  onMediumChange: (present: boolean) => void = () => undefined;
  listener: DriveListener | undefined;
  /** Library element this drive is bound to (for DVCID and the log). */
  element: number | undefined;
  readonly counters = { bytesFromInitiator: 0, bytesToInitiator: 0, writeErrors: 0, readErrors: 0 };
  /**
   * Logical block protection (SSC-4 logical block protection, mode page 0Ah/F0h, CRC32C): LBP_W = every block
   * written carries its CRC32C (4 bytes, little-endian, as LTO drives and LTFS exchange it),
   * checked and kept on the medium; LBP_R = every block read is returned with it.
   */
  lbp = { write: false, read: false };
  /** Position ALLOW OVERWRITE permitted the next write at (WORM). */
  private allowOverwriteAt: number | undefined;
  /** Data encryption parameters and key (SSC-4 data encryption), in memory only. */
  readonly encryption: TapeEncryption;
  private pendingSync: Promise<void> | undefined;

  constructor(settings: DriveSettings, log: LuLogger) {
    this.settings = settings;
    this.log = log;
    this.encryption = new TapeEncryption((m) => log('info', m));
  }

  get prevented(): boolean {
    return this.preventers.prevented;
  }

  get present(): boolean {
    return this.cart !== undefined;
  }

  /** Inserts and loads a cartridge file (from the command line or the changer). */
  async insert(path: string): Promise<void> {
    if (this.cart) throw new Error(`drive ${this.settings.name} is full (${this.cart.barcode})`);
    if (!(await exists(path))) throw new Error(missingCartridgeMessage(path, this.settings.blankGeneration));
    const blank = await formatBlank(path, this.settings.blankGeneration);
    if (blank) this.log('info', blank.message);
    const peek = await Cartridge.peek(path);
    if (!peek) throw new Error(`${path} is not a fileio_tgt cartridge (create one with: fileio_tgt tape create --barcode LABEL FILE; an empty file is formatted on first load)`);
    const d = densityByCode(peek.density);
    const readOnly = this.settings.readOnly || (peek.flags & 2) !== 0;
    const cart = await Cartridge.open(path, { readOnly, log: (l, m) => this.log(l, m), countLoad: !readOnly, progress: rebuildProgress(path, this.log) });
    this.access = d && this.settings.blankGeneration !== undefined ? compatibility(this.settings.generation, d.generation) : 'read-write';
    if (this.access !== 'read-write') this.log('warn', `cartridge ${cart.barcode} is LTO-${d!.generation}: an LTO-${this.settings.generation} drive ${this.access === 'none' ? 'can neither read nor write it' : 'reads it but does not write it'}`);
    this.cart = cart;
    this.loaded = true;
    // After a crash the host may still think it is writing (st writes a filemark when it closes
    // the device): start at EOD rather than BOP, so nothing acknowledged can be overwritten.
    this.pos = cart.unclean ? cart.count : 0;
    if (cart.unclean) this.log('warn', `${cart.barcode} was not unloaded cleanly; positioned at end of data (object ${cart.count})`);
    this.log('info', `loaded ${cart.barcode} (${cart.count} objects, ${cart.used} bytes used${cart.recoveredTail ? `, torn tail cut at offset ${cart.recoveredTail.at}` : ''})`);
    this.onMediumChange(true);
  }

  /** Syncs and closes the cartridge: the drive is empty afterwards. */
  async remove(): Promise<string | undefined> {
    const c = this.cart;
    if (!c) return undefined;
    await this.settle();
    this.cart = undefined;
    this.loaded = false;
    this.pos = 0;
    this.encryption.unloaded();
    await c.close();
    this.onMediumChange(false);
    return c.path;
  }

  /** Waits for an IMMED flush still in flight. */
  async settle(): Promise<void> {
    const ps = this.pendingSync;
    if (ps) await ps.catch(() => undefined);
  }

  /** NOT READY unless a cartridge is loaded. */
  checkReady(): Cartridge {
    if (!this.cart || !this.loaded) throw new CheckCondition(SenseKey.NOT_READY, TapeAsc.MEDIUM_NOT_PRESENT);
    return this.cart;
  }

  /** For reads and writes: a cleaning cartridge cannot be read or written. */
  dataCartridge(): Cartridge {
    const c = this.checkReady();
    // a generation the drive cannot read (an incompatible medium)
    if (this.access === 'none') throw new CheckCondition(SenseKey.MEDIUM_ERROR, TapeAsc.INCOMPATIBLE_MEDIUM_INSTALLED);
    if (c.cleaning) throw new CheckCondition(SenseKey.NOT_READY, TapeAsc.CLEANING_CARTRIDGE_INSTALLED);
    return c;
  }

  get writeProtected(): boolean {
    const c = this.cart;
    return !!c && (c.readOnly || c.writeProtected || this.settings.readOnly || this.access !== 'read-write');
  }

  /** Early-warning zone before the end of the partition. */
  earlyWarningZone(c: Cartridge): number {
    return Math.min(Math.floor(c.capacity / 32), 64 << 20);
  }

  /** Beyond early warning at the current position. */
  beyondEarlyWarning(): boolean {
    const c = this.cart;
    if (!c) return false;
    return c.usedBefore(this.pos) >= c.capacity - this.earlyWarningZone(c);
  }

  /** Checks that the medium may be written at the current position. */
  private writable(c: Cartridge): void {
    if (this.access === 'read-only') throw new CheckCondition(SenseKey.DATA_PROTECT, TapeAsc.CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT);
    if (this.writeProtected) this.tapeAlert.add(0x09); // write protect
    if (this.writeProtected) throw new CheckCondition(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    if (c.worm && this.pos < c.count && !this.overwriteAllowed(c)) throw new CheckCondition(SenseKey.DATA_PROTECT, TapeAsc.WORM_OVERWRITE_ATTEMPTED);
    this.allowOverwriteAt = undefined; // one write or WRITE FILEMARKS uses the permission
  }

  /**
   * WORM: ALLOW OVERWRITE (current position) for this position lets the next write replace what
   * follows it, when that is nothing but filemarks (the trailing filemarks an application backs
   * over to append to its last file); data blocks are never overwritten.
   */
  private overwriteAllowed(c: Cartridge): boolean {
    if (this.allowOverwriteAt !== this.pos) return false;
    const fms = c.markList(RecordKind.FILEMARK);
    return c.count - this.pos === fms.length - lowerBound(fms, this.pos);
  }

  /** ALLOW OVERWRITE with CURRENT POSITION for logical object `id` (it must be the current position). */
  allowOverwrite(id: bigint | undefined): void {
    this.checkReady();
    if (id === undefined) {
      this.allowOverwriteAt = undefined;
      return;
    }
    if (id !== BigInt(this.pos)) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, TapeAsc.SEQUENTIAL_POSITIONING_ERROR);
    this.allowOverwriteAt = this.pos;
  }

  /** Makes the current position EOD (a write anywhere but EOD discards what follows). */
  private async cutHere(c: Cartridge): Promise<void> {
    if (this.pos < c.count) await c.truncate(this.pos);
  }

  private async durable(c: Cartridge, immed: boolean): Promise<void> {
    if (immed) {
      const p = c.sync().catch((e: Error) => this.log('error', `flush failed: ${e.message}`));
      this.pendingSync = p.then(() => undefined);
      return;
    }
    await c.sync();
  }

  /**
   * Writes `blocks` (one per element) at the current position. Returns normally, or throws the
   * early-warning / overflow condition after writing what fits.
   */
  async write(blocks: Buffer[], fixed: boolean, nexus = ''): Promise<void> {
    const c = this.dataCartridge();
    const seal = this.encryption.sealer(nexus);
    if (this.lbp.write) for (const b of blocks) checkProtection(b);
    this.writable(c);
    await this.settle();
    await this.cutHere(c);
    let written = 0;
    for (const b of blocks) {
      if (c.used + Cartridge.recordSize(b.length) > c.capacity) {
        this.counters.writeErrors++;
        const residue = fixed ? blocks.length - written : b.length;
        if (this.bufferedMode === 0) await c.sync();
        throw new CheckCondition(VOLUME_OVERFLOW_KEY, TapeAsc.VOLUME_OVERFLOW, { eom: true, information: info(residue) });
      }
      await c.append(RecordKind.DATA, b, this.compression, seal, this.lbp.write ? RecordFlag.PROTECTED : 0);
      this.counters.bytesFromInitiator += b.length;
      this.pos = c.count;
      written++;
    }
    if (this.bufferedMode === 0) await c.sync();
    if (this.beyondEarlyWarning()) {
      throw new CheckCondition(SenseKey.NO_SENSE, TapeAsc.END_OF_PARTITION_MEDIUM_DETECTED, { eom: true, information: 0 });
    }
  }

  /** WRITE FILEMARKS: `count` marks (0 = flush only); durable unless IMMED. */
  async writeMarks(count: number, setmark: boolean, immed: boolean): Promise<void> {
    const c = this.dataCartridge();
    if (count === 0) {
      await this.durable(c, immed);
      return;
    }
    this.writable(c);
    await this.settle();
    await this.cutHere(c);
    for (let i = 0; i < count; i++) {
      if (c.used + Cartridge.recordSize(0) > c.capacity) {
        throw new CheckCondition(VOLUME_OVERFLOW_KEY, TapeAsc.VOLUME_OVERFLOW, { eom: true, information: info(count - i) });
      }
      await c.append(setmark ? RecordKind.SETMARK : RecordKind.FILEMARK);
      this.pos = c.count;
    }
    await this.durable(c, immed);
    if (this.beyondEarlyWarning()) {
      throw new CheckCondition(SenseKey.NO_SENSE, TapeAsc.END_OF_PARTITION_MEDIUM_DETECTED, { eom: true, information: 0 });
    }
  }

  /** A mark at position i, as the sense it produces when a read or block space runs into it. */
  private markSense(i: number, residue: number): CheckCondition {
    const c = this.cart!;
    const code = c.kind(i) === RecordKind.SETMARK ? TapeAsc.SETMARK_DETECTED : TapeAsc.FILEMARK_DETECTED;
    return new CheckCondition(SenseKey.NO_SENSE, code, { filemark: true, information: info(residue) });
  }

  private async readRecord(c: Cartridge, i: number, nexus: string): Promise<Buffer> {
    try {
      const raw = await c.readRaw(i);
      let opened: { payload: Buffer; raw: boolean };
      try {
        opened = this.encryption.open(nexus, raw);
      } catch (e) {
        this.pos = i + 1; // SSC-4: the position is after the block that could not be decrypted
        throw e;
      }
      if (opened.raw) return opened.payload;
      return this.protection(raw.flags, c.decode(raw, opened.payload), i);
    } catch (e) {
      if (!(e instanceof MediumError)) throw e;
      this.counters.readErrors++;
      this.tapeAlert.add(0x03); // hard error
      this.tapeAlert.add(0x05); // read failure
      this.log('error', `${c.barcode}: ${e.message}`);
      this.pos = i + 1;
      throw new CheckCondition(SenseKey.MEDIUM_ERROR, TapeAsc.UNRECOVERED_READ_ERROR, { information: i });
    }
  }

  /**
   * A block as read: its stored CRC32C (written with LBP_W) checked, then returned with the block
   * when LBP_R is set, without it otherwise; a block written without one gets it computed.
   */
  private protection(flags: number, data: Buffer, i: number): Buffer {
    if (flags & RecordFlag.PROTECTED) {
      const block = data.subarray(0, data.length - 4);
      if (data.length < 4 || crc32c(block) !== data.readUInt32LE(data.length - 4)) {
        this.counters.readErrors++;
        this.pos = i + 1;
        throw new CheckCondition(SenseKey.MEDIUM_ERROR, TapeAsc.LOGICAL_BLOCK_GUARD_CHECK_FAILED, { information: i });
      }
      return this.lbp.read ? data : block;
    }
    if (!this.lbp.read) return data;
    const pi = Buffer.alloc(4);
    pi.writeUInt32LE(crc32c(data));
    return Buffer.concat([data, pi]);
  }

  /**
   * READ in variable mode: one block, up to `length` bytes. Returns the data and the sense to
   * report with it, if any (ILI, filemark, EOD).
   */
  async readVariable(length: number, sili: boolean, nexus = ''): Promise<{ data: Buffer; sense?: CheckCondition }> {
    const c = this.dataCartridge();
    await this.settle();
    if (this.pos >= c.count) return { data: Buffer.alloc(0), sense: this.eodSense(length) };
    const i = this.pos;
    if (c.kind(i) !== RecordKind.DATA) {
      this.pos = i + 1;
      return { data: Buffer.alloc(0), sense: this.markSense(i, length) };
    }
    const block = await this.readRecord(c, i, nexus);
    this.pos = i + 1;
    const data = block.length > length ? block.subarray(0, length) : block;
    this.counters.bytesToInitiator += data.length;
    if (block.length === length) return { data };
    const under = block.length < length;
    // SILI suppresses the incorrect-length condition for short blocks, and for long ones in
    // variable mode (block length 0 in the descriptor)
    if (sili && (under || this.blockLength === 0)) return { data };
    return { data, sense: new CheckCondition(SenseKey.NO_SENSE, Asc.NO_ADDITIONAL_SENSE, { ili: true, information: info(length - block.length) }) };
  }

  /** READ in fixed mode: `count` blocks of blockLength bytes. */
  async readFixed(count: number, nexus = ''): Promise<{ data: Buffer; sense?: CheckCondition }> {
    const c = this.dataCartridge();
    await this.settle();
    const len = this.blockLength;
    const parts: Buffer[] = [];
    for (let n = 0; n < count; n++) {
      if (this.pos >= c.count) return { data: Buffer.concat(parts), sense: this.eodSense(count - n) };
      const i = this.pos;
      if (c.kind(i) !== RecordKind.DATA) {
        this.pos = i + 1;
        return { data: Buffer.concat(parts), sense: this.markSense(i, count - n) };
      }
      const block = await this.readRecord(c, i, nexus);
      this.pos = i + 1;
      if (block.length !== len) {
        // the incorrect-length block is transferred (as much as fits) and not counted
        parts.push(block.length > len ? block.subarray(0, len) : block);
        this.counters.bytesToInitiator += Math.min(len, block.length);
        return { data: Buffer.concat(parts), sense: new CheckCondition(SenseKey.NO_SENSE, Asc.NO_ADDITIONAL_SENSE, { ili: true, information: info(count - n) }) };
      }
      parts.push(block);
      this.counters.bytesToInitiator += len;
    }
    return { data: Buffer.concat(parts) };
  }

  private eodSense(residue: number): CheckCondition {
    const c = this.cart!;
    const eom = c.usedBefore(this.pos) >= c.capacity;
    return new CheckCondition(SenseKey.BLANK_CHECK, TapeAsc.END_OF_DATA_DETECTED, { eom, information: info(residue) });
  }

  private bopSense(residue: number): CheckCondition {
    return new CheckCondition(SenseKey.NO_SENSE, TapeAsc.BEGINNING_OF_PARTITION_MEDIUM_DETECTED, { eom: true, information: info(residue) });
  }

  /** SPACE over `count` blocks (negative: toward BOP); stops at marks, EOD, BOP. */
  spaceBlocks(count: number): void {
    const c = this.checkReady();
    if (count === 0) return;
    const marks = c.markList();
    if (count > 0) {
      const next = marks[lowerBound(marks, this.pos)]; // first mark at or after pos
      const limit = Math.min(next ?? c.count, c.count);
      if (this.pos + count <= limit) {
        this.pos += count;
        return;
      }
      const spaced = limit - this.pos;
      if (next !== undefined && next < c.count && limit === next) {
        this.pos = next + 1; // EOM side of the mark
        throw this.markSense(next, count - spaced);
      }
      this.pos = c.count;
      throw this.eodSense(count - spaced);
    }
    const want = -count;
    const k = lowerBound(marks, this.pos) - 1; // last mark before pos
    const prev = k >= 0 ? marks[k]! : -1;
    if (this.pos - want > prev) {
      this.pos -= want;
      return;
    }
    const spaced = this.pos - prev - 1;
    if (prev >= 0) {
      this.pos = prev; // BOP side of the mark
      throw this.markSense(prev, want - spaced);
    }
    this.pos = 0;
    throw this.bopSense(want - spaced);
  }

  /** SPACE over `count` filemarks or setmarks (negative: toward BOP). */
  spaceMarks(count: number, kind: number): void {
    const c = this.checkReady();
    if (count === 0) return;
    const list = c.markList(kind);
    if (count > 0) {
      const first = lowerBound(list, this.pos);
      const target = first + count - 1;
      if (target < list.length) {
        this.pos = list[target]! + 1;
        return;
      }
      const spaced = list.length - first;
      this.pos = c.count;
      throw this.eodSense(count - spaced);
    }
    const want = -count;
    const before = lowerBound(list, this.pos); // marks before pos
    if (before >= want) {
      this.pos = list[before - want]!; // BOP side of the mark
      return;
    }
    this.pos = 0;
    throw this.bopSense(want - before);
  }

  /** SPACE to the first run of `count` consecutive filemarks (negative: toward BOP). */
  spaceSequentialFilemarks(count: number): void {
    const c = this.checkReady();
    if (count === 0) return;
    const list = c.markList(RecordKind.FILEMARK);
    const n = Math.abs(count);
    const runStartsAt = (j: number): boolean => j + n - 1 < list.length && list[j + n - 1]! - list[j]! === n - 1;
    if (count > 0) {
      for (let j = lowerBound(list, this.pos); j < list.length; j++) {
        if (runStartsAt(j)) {
          this.pos = list[j + n - 1]! + 1;
          return;
        }
      }
      this.pos = c.count;
      throw this.eodSense(count);
    }
    for (let j = lowerBound(list, this.pos) - n; j >= 0; j--) {
      if (runStartsAt(j) && list[j + n - 1]! < this.pos) {
        this.pos = list[j]!;
        return;
      }
    }
    this.pos = 0;
    throw this.bopSense(n);
  }

  spaceEod(): void {
    const c = this.checkReady();
    this.pos = c.count;
  }

  /** LOCATE to a logical object (block) number; beyond EOD: BLANK CHECK at EOD. */
  locateObject(n: number | bigint): void {
    const c = this.checkReady();
    if (BigInt(n) > BigInt(c.count)) {
      this.pos = c.count;
      throw new CheckCondition(SenseKey.BLANK_CHECK, TapeAsc.END_OF_DATA_DETECTED);
    }
    this.pos = Number(n);
  }

  /** LOCATE to the start of logical file n (after the n-th filemark). */
  locateFile(n: number | bigint): void {
    const c = this.checkReady();
    const list = c.markList(RecordKind.FILEMARK);
    if (BigInt(n) === 0n) {
      this.pos = 0;
      return;
    }
    if (BigInt(n) > BigInt(list.length)) {
      this.pos = c.count;
      throw new CheckCondition(SenseKey.BLANK_CHECK, TapeAsc.END_OF_DATA_DETECTED);
    }
    this.pos = list[Number(n) - 1]! + 1;
  }

  async rewind(): Promise<void> {
    const c = this.checkReady();
    await this.settle();
    await c.sync();
    this.pos = 0;
  }

  /** ERASE: the current position becomes EOD (short and long erase alike). */
  async erase(): Promise<void> {
    const c = this.dataCartridge();
    if (this.writeProtected) throw new CheckCondition(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    if (c.worm && this.pos < c.count) throw new CheckCondition(SenseKey.DATA_PROTECT, TapeAsc.WORM_OVERWRITE_ATTEMPTED);
    await this.settle();
    await c.truncate(this.pos);
    await c.sync();
  }

  /** LOAD UNLOAD with LOAD = 1: thread the cartridge in the drive and rewind. */
  async load(): Promise<void> {
    if (!this.cart) throw new CheckCondition(SenseKey.NOT_READY, TapeAsc.MEDIUM_NOT_PRESENT);
    if (!this.loaded) {
      this.loaded = true;
      this.onMediumChange(true);
    }
    await this.rewind();
  }

  /** LOAD UNLOAD with LOAD = 0: flush, rewind (or go to EOD with EOT), unthread. */
  async unload(hold: boolean): Promise<void> {
    if (!this.cart) throw new CheckCondition(SenseKey.NOT_READY, TapeAsc.MEDIUM_NOT_PRESENT);
    if (this.prevented && !hold) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.MEDIUM_REMOVAL_PREVENTED);
    await this.settle();
    await this.cart.sync();
    this.pos = 0;
    if (hold) return;
    this.loaded = false;
    this.encryption.unloaded();
    this.log('info', `unloaded ${this.cart.barcode}`);
    this.listener?.unloaded?.(this);
  }

  flush(): Promise<void> {
    return this.cart ? this.settle().then(() => this.cart?.sync()) : Promise.resolve();
  }

  describe(): Record<string, unknown> {
    return {
      summary: `LTO-${this.settings.generation} drive, ${this.cart ? `cartridge ${this.cart.summary()}${this.loaded ? '' : ' (unloaded)'}` : 'empty'}`,
      cartridge: this.cart?.describe() ?? null,
      loaded: this.loaded,
      position: this.pos,
      blockLength: this.blockLength,
      bufferedMode: this.bufferedMode,
      ...(this.element !== undefined ? { element: this.element } : {}),
    };
  }
}
