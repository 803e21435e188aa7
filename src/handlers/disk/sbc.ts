// SBC-4 non-transfer commands: READ CAPACITY(10/16), SYNCHRONIZE CACHE(10/16), START STOP UNIT.
import { Asc, Op, SaiAction, SenseKey } from '../../scsi/constants.ts';
import { checkReserved, decodeRangeWithImmed, truncate, u32 } from '../../scsi/cdb.ts';
import { CheckCondition, invalidCdbField } from '../../scsi/sense.ts';
import { usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import type { DiskDevice } from './device.ts';
import { readWriteCommands } from './sbc-rw.ts';

const F = 0xff;
/** Power conditions START STOP UNIT accepts (SBC-4 Table 'POWER CONDITION field'). */
const POWER_CONDITIONS = new Set([0x0, 0x1, 0x2, 0x3, 0x7, 0xa, 0xb]);

export function sbcCommands(dev: DiskDevice, o: { log: (m: string) => void }): CommandEntry[] {
  function noMedium(): void {
    if (dev.ejected) throw new CheckCondition(SenseKey.NOT_READY, Asc.MEDIUM_NOT_PRESENT);
  }

  function readCapacity10(ctx: CommandContext): Buffer {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xff);
    checkReserved(cdb, 8, 0xfe);
    if ((cdb[8]! & 1) === 0 && u32(cdb, 2) !== 0) throw invalidCdbField(2); // LBA needs PMI
    noMedium();
    const b = Buffer.alloc(8);
    const last = dev.blocks - 1n;
    b.writeUInt32BE(last > 0xfffffffen ? 0xffffffff : Number(last), 0);
    b.writeUInt32BE(dev.blockSize, 4);
    return b;
  }

  function readCapacity16(ctx: CommandContext): Buffer {
    const cdb = ctx.cdb;
    checkReserved(cdb, 14, 0xfe);
    if ((cdb[14]! & 1) === 0 && cdb.readBigUInt64BE(2) !== 0n) throw invalidCdbField(2);
    noMedium();
    const b = Buffer.alloc(32);
    b.writeBigUInt64BE(dev.blocks - 1n, 0);
    b.writeUInt32BE(dev.blockSize, 8);
    b[13] = dev.settings.physicalExponent & 0x0f;
    // LBPME/LBPRZ stay 0 until thin provisioning (UNMAP) exists; lowest aligned LBA 0
    return truncate(b, u32(cdb, 10));
  }

  async function synchronizeCache(ctx: CommandContext): Promise<void> {
    const d = decodeRangeWithImmed(ctx.cdb);
    dev.checkRange(d.lba, d.blocks);
    // Node has no sync_file_range: the whole file is flushed, which covers the range
    if (d.immed) {
      dev.flush().catch((e: unknown) => o.log(`SYNCHRONIZE CACHE (IMMED) failed: ${(e as Error).message}`));
      return;
    }
    await dev.flush();
  }

  async function startStopUnit(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xfe);
    checkReserved(cdb, 2, 0xff);
    checkReserved(cdb, 3, 0xf0);
    checkReserved(cdb, 4, 0x08);
    const pc = cdb[4]! >> 4;
    if (!POWER_CONDITIONS.has(pc)) throw invalidCdbField(4, 7);
    const noFlush = (cdb[4]! & 0x04) !== 0;
    const loej = (cdb[4]! & 0x02) !== 0;
    const start = (cdb[4]! & 0x01) !== 0;
    if (pc !== 0) return; // power condition changes only: accepted, nothing to model
    if (loej && !dev.settings.removable) throw invalidCdbField(4, 1);
    if (start) {
      dev.stopped = false;
      if (loej) dev.ejected = false;
      return;
    }
    if (!noFlush) await dev.flush();
    dev.stopped = true;
    if (loej) dev.ejected = true;
  }

  const entries: CommandEntry[] = [
    {
      opcode: Op.START_STOP_UNIT,
      name: 'START STOP UNIT',
      usage: usage(Op.START_STOP_UNIT, 0x01, 0, 0x0f, dev.settings.removable ? 0xf7 : 0xf5, 0x07),
      run: startStopUnit,
    },
    {
      opcode: Op.READ_CAPACITY_10,
      name: 'READ CAPACITY(10)',
      usage: usage(Op.READ_CAPACITY_10, 0, F, F, F, F, 0, 0, 0x01, 0x07),
      run: readCapacity10,
    },
    {
      opcode: Op.SYNCHRONIZE_CACHE_10,
      name: 'SYNCHRONIZE CACHE(10)',
      usage: usage(Op.SYNCHRONIZE_CACHE_10, 0x02, F, F, F, F, 0, F, F, 0x07),
      run: synchronizeCache,
      medium: true,
      timeout: { nominal: 5, recommended: 120 },
    },
    {
      opcode: Op.SYNCHRONIZE_CACHE_16,
      name: 'SYNCHRONIZE CACHE(16)',
      usage: usage(Op.SYNCHRONIZE_CACHE_16, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0x07),
      run: synchronizeCache,
      medium: true,
      timeout: { nominal: 5, recommended: 120 },
    },
    {
      opcode: Op.SERVICE_ACTION_IN_16,
      serviceAction: SaiAction.READ_CAPACITY_16,
      name: 'READ CAPACITY(16)',
      usage: usage(Op.SERVICE_ACTION_IN_16, 0x1f, F, F, F, F, F, F, F, F, F, F, F, F, 0x01, 0x07),
      run: readCapacity16,
    },
  ];
  return [...readWriteCommands(dev), ...entries];
}
