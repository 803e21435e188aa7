// The state of one disk in one place: capacity, store, write cache and protection, power state,
// medium presence. Commands (sbc-*.ts) call these methods; transitions are testable without a network.
import type { BlockStore } from '../../backing/store.ts';
import { StoreError } from '../../backing/store.ts';
import { Asc, SenseKey } from '../../scsi/constants.ts';
import type { ModePages } from '../../scsi/mode-pages.ts';
import { CheckCondition, invalidCdbField, lbaOutOfRange } from '../../scsi/sense.ts';
import { softwareWriteProtect } from '../../scsi/spc-pages.ts';
import type { LuLogger } from '../../scsi/logical-unit.ts';
import { CACHING_PAGE } from './pages.ts';

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
}

/** Largest chunk VERIFY reads from the store at a time. */
const VERIFY_CHUNK = 1 << 20;

export class DiskDevice {
  readonly settings: DiskSettings;
  readonly store: BlockStore;
  readonly blockSize: number;
  readonly blocks: bigint;
  private readonly log: LuLogger;
  private pages: ModePages | undefined;
  /** START STOP UNIT state: a stopped unit needs START before medium access. */
  stopped = false;
  /** Removable medium ejected with LoEj. */
  ejected = false;

  constructor(settings: DiskSettings, store: BlockStore, log: LuLogger) {
    this.settings = settings;
    this.store = store;
    this.blockSize = settings.blockSize;
    this.blocks = BigInt(store.size / settings.blockSize);
    this.log = log;
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

  /** NOT READY when stopped or the medium is ejected. */
  checkReady(): void {
    if (this.ejected) throw new CheckCondition(SenseKey.NOT_READY, Asc.MEDIUM_NOT_PRESENT);
    if (this.stopped) throw new CheckCondition(SenseKey.NOT_READY, { asc: 0x04, ascq: 0x02 });
  }

  private offset(lba: bigint): number {
    return Number(lba) * this.blockSize;
  }

  private ioError(e: unknown, op: 'read' | 'write'): CheckCondition {
    if (e instanceof CheckCondition) return e;
    this.log('error', `${this.settings.name}: ${e instanceof Error ? e.message : String(e)}`);
    if (!(e instanceof StoreError)) return new CheckCondition(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE);
    return new CheckCondition(SenseKey.MEDIUM_ERROR, op === 'read' ? Asc.UNRECOVERED_READ_ERROR : Asc.WRITE_ERROR);
  }

  async read(lba: bigint, count: number): Promise<Buffer> {
    if (count === 0) return Buffer.alloc(0);
    try {
      return await this.store.read(this.offset(lba), count * this.blockSize);
    } catch (e) {
      throw this.ioError(e, 'read');
    }
  }

  /** Writes whole blocks; durable before returning when FUA is set or the write cache is off. */
  async write(lba: bigint, data: Buffer, fua: boolean): Promise<void> {
    if (data.length === 0) return;
    try {
      await this.store.write(this.offset(lba), data);
      if ((fua || !this.writeCacheEnabled) && !this.store.writesAreDurable) await this.store.flush();
    } catch (e) {
      throw this.ioError(e, 'write');
    }
  }

  async flush(): Promise<void> {
    try {
      await this.store.flush();
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
