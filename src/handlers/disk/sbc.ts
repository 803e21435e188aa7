// SBC-4 non-transfer commands: READ CAPACITY(10/16), SYNCHRONIZE CACHE(10/16).
// START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL: medium.ts; READ DEFECT DATA: defect-data.ts.
import { Asc, Op, SaiAction, SenseKey } from '../../scsi/constants.ts';
import { checkReserved, decodeRangeWithImmed, truncate, u32 } from '../../scsi/cdb.ts';
import { CheckCondition, invalidCdbField } from '../../scsi/sense.ts';
import { usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import type { DiskDevice } from './device.ts';
import { readWriteCommands } from './sbc-rw.ts';
import { provisioningCommands } from './sbc-provisioning.ts';
import { atomicCommands } from './sbc-atomic.ts';
import { maintenanceCommands } from './sbc-maint.ts';

const F = 0xff;

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
    // thin: LBPME, and LBPRZ because holes (and zeroed partial blocks) read as zeros; lowest aligned LBA 0
    if (dev.settings.thin) b[14] = 0xc0;
    return truncate(b, u32(cdb, 10));
  }

  async function synchronizeCache(ctx: CommandContext): Promise<void> {
    const d = decodeRangeWithImmed(ctx.cdb);
    dev.checkRange(d.lba, d.blocks);
    // The page cache writes back the range's dirty pages (NUMBER OF LOGICAL BLOCKS 0: to the
    // end of the medium); Node has no sync_file_range, so the fdatasync covers the whole file.
    const count = d.blocks === 0 ? Number(dev.blocks - d.lba) : d.blocks;
    if (d.immed) {
      dev.flush(d.lba, count).catch((e: unknown) => o.log(`SYNCHRONIZE CACHE (IMMED) failed: ${(e as Error).message}`));
      return;
    }
    await dev.flush(d.lba, count);
  }

  const entries: CommandEntry[] = [
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
  return [...readWriteCommands(dev), ...provisioningCommands(dev), ...atomicCommands(dev), ...maintenanceCommands(dev, o), ...entries];
}
