// SBC-4 read-modify-write and atomic commands: COMPARE AND WRITE, ORWRITE(16), WRITE ATOMIC(16).
// Atomicity comes from DiskDevice's range lock (src/backing/range-lock.ts): each command holds an exclusive
// lock on its LBA range from the read to the end of the write, so overlapping writes from any
// I_T nexus wait, and reads never see a half-done command.
import { Op } from '../../scsi/constants.ts';
import { checkReserved, u16, u32, u64 } from '../../scsi/cdb.ts';
import { invalidCdbField } from '../../scsi/sense.ts';
import { blockDataOut, usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import type { DiskDevice } from './device.ts';
import { exactDataOut } from './sbc-provisioning.ts';

const F = 0xff;
export const ORWRITE_16 = 0x8b;
export const WRITE_ATOMIC_16 = 0x9c;

export function atomicCommands(dev: DiskDevice): CommandEntry[] {
  const bs = dev.blockSize;
  const s = dev.settings;

  async function compareAndWrite(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    if (cdb[1]! >> 5 !== 0) throw invalidCdbField(1, 7); // WRPROTECT
    checkReserved(cdb, 1, 0x07); // bit 1 FUA_NV is obsolete
    for (let i = 10; i <= 12; i++) checkReserved(cdb, i, 0xff);
    checkReserved(cdb, 14, 0xe0);
    const lba = u64(cdb, 2);
    const n = cdb[13]!;
    const fua = (cdb[1]! & 0x08) !== 0;
    if (n > s.maxCompareAndWriteBlocks) throw invalidCdbField(13);
    dev.checkRange(lba, n);
    dev.checkWritable();
    // data-out: the verify instance then the write instance, n blocks each, nothing more or less
    const d = exactDataOut(ctx, 2 * n * bs, 13);
    if (n === 0) return;
    await dev.compareAndWrite(lba, d.subarray(0, n * bs), d.subarray(n * bs), fua);
  }

  async function orWrite(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    if (cdb[1]! >> 5 !== 0) throw invalidCdbField(1, 7); // ORPROTECT
    checkReserved(cdb, 1, 0x07);
    checkReserved(cdb, 14, 0xe0);
    const lba = u64(cdb, 2);
    const n = u32(cdb, 10);
    dev.checkTransferLength(n, 10);
    dev.checkRange(lba, n);
    dev.checkWritable();
    const data = blockDataOut(ctx, n, bs);
    if (data.length > 0) await dev.orWrite(lba, data, (cdb[1]! & 0x08) !== 0);
  }

  async function writeAtomic(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    if (cdb[1]! >> 5 !== 0) throw invalidCdbField(1, 7); // WRPROTECT
    checkReserved(cdb, 1, 0x07);
    checkReserved(cdb, 14, 0xe0);
    const lba = u64(cdb, 2);
    if (u16(cdb, 10) !== 0) throw invalidCdbField(10); // ATOMIC BOUNDARY: boundaries not supported
    const n = u16(cdb, 12);
    if (n > s.maxAtomicBlocks) throw invalidCdbField(12);
    dev.checkRange(lba, n);
    dev.checkWritable();
    // an atomic write is all or nothing: a short data-out cannot be written in part
    const data = n === 0 ? Buffer.alloc(0) : exactDataOut(ctx, n * bs);
    if (n > 0) await dev.write(lba, data, (cdb[1]! & 0x08) !== 0);
  }

  return [
    {
      opcode: Op.COMPARE_AND_WRITE,
      name: 'COMPARE AND WRITE',
      usage: usage(Op.COMPARE_AND_WRITE, 0x18, F, F, F, F, F, F, F, F, 0, 0, 0, F, 0x1f, 0x07),
      run: compareAndWrite,
      access: 'write',
      medium: true,
    },
    {
      opcode: ORWRITE_16,
      name: 'ORWRITE(16)',
      usage: usage(ORWRITE_16, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, 0x1f, 0x07),
      run: orWrite,
      access: 'write',
      medium: true,
    },
    {
      opcode: WRITE_ATOMIC_16,
      name: 'WRITE ATOMIC(16)',
      usage: usage(WRITE_ATOMIC_16, 0x18, F, F, F, F, F, F, F, F, 0, 0, F, F, 0x1f, 0x07),
      run: writeAtomic,
      access: 'write',
      medium: true,
    },
  ];
}
