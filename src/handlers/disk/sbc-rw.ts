// SBC-4 data transfer commands: READ, WRITE, VERIFY, WRITE AND VERIFY (6/10/12/16).
// Check order: CDB fields, transfer length limit, LBA range (21/00 beats 27/00), write protect, data-out.
import { Op } from '../../scsi/constants.ts';
import { decodeRw, decodeVerify } from '../../scsi/cdb.ts';
import { blockDataOut, requireDataOut, usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import type { DataIn } from '../../scsi/data-in.ts';
import type { DiskDevice } from './device.ts';

const F = 0xff;

export function readWriteCommands(dev: DiskDevice): CommandEntry[] {
  const bs = dev.blockSize;

  // read/write are not async functions: a CDB error throws synchronously (the LU turns it into
  // CHECK CONDITION) and the I/O promise is returned as is, saving a microtask hop per command.
  function read(ctx: CommandContext): Promise<DataIn> {
    const d = decodeRw(ctx.cdb);
    dev.checkTransferLength(d.blocks, d.lengthOffset);
    dev.checkRange(d.lba, d.blocks);
    if (d.fua) return dev.readDataForceUnitAccess(d.lba, d.blocks);
    return dev.readData(d.lba, d.blocks); // pinned cache pages when the store has a cache
  }

  function write(ctx: CommandContext): Promise<void> {
    const d = decodeRw(ctx.cdb);
    dev.checkTransferLength(d.blocks, d.lengthOffset);
    dev.checkRange(d.lba, d.blocks);
    dev.checkWritable();
    const data = blockDataOut(ctx, d.blocks, bs);
    return dev.write(d.lba, data, d.fua); // resolves at once for zero blocks
  }

  async function verify(ctx: CommandContext): Promise<void> {
    const d = decodeVerify(ctx.cdb, false);
    dev.checkTransferLength(d.blocks, d.lengthOffset);
    dev.checkRange(d.lba, d.blocks);
    if (d.blocks === 0) return;
    if (d.bytchk === 0) return dev.verify(d.lba, d.blocks);
    if (d.bytchk === 1) return dev.verify(d.lba, d.blocks, requireDataOut(ctx, d.blocks * bs));
    return dev.verify(d.lba, d.blocks, requireDataOut(ctx, bs), true); // BYTCHK 11b: one block for all
  }

  async function writeAndVerify(ctx: CommandContext): Promise<void> {
    const d = decodeVerify(ctx.cdb, true);
    dev.checkTransferLength(d.blocks, d.lengthOffset);
    dev.checkRange(d.lba, d.blocks);
    dev.checkWritable();
    const data = blockDataOut(ctx, d.blocks, bs);
    if (data.length === 0) return;
    // the verify reads the medium, so the data has to be there: write as with FUA
    await dev.write(d.lba, data, true);
    await dev.verify(d.lba, data.length / bs, d.bytchk === 1 ? data : undefined);
  }

  const rw = (opcode: number, name: string, fn: (c: CommandContext) => Promise<unknown>, u: number[], access: 'read' | 'write'): CommandEntry => ({
    opcode,
    name,
    usage: u,
    run: fn as CommandEntry['run'],
    access,
    medium: true,
  });

  return [
    rw(Op.READ_6, 'READ(6)', read, usage(Op.READ_6, 0x1f, F, F, F, 0x07), 'read'),
    rw(Op.WRITE_6, 'WRITE(6)', write, usage(Op.WRITE_6, 0x1f, F, F, F, 0x07), 'write'),
    rw(Op.READ_10, 'READ(10)', read, usage(Op.READ_10, 0x18, F, F, F, F, 0, F, F, 0x07), 'read'),
    rw(Op.WRITE_10, 'WRITE(10)', write, usage(Op.WRITE_10, 0x18, F, F, F, F, 0, F, F, 0x07), 'write'),
    rw(Op.WRITE_AND_VERIFY_10, 'WRITE AND VERIFY(10)', writeAndVerify, usage(Op.WRITE_AND_VERIFY_10, 0x12, F, F, F, F, 0, F, F, 0x07), 'write'),
    rw(Op.VERIFY_10, 'VERIFY(10)', verify, usage(Op.VERIFY_10, 0x16, F, F, F, F, 0, F, F, 0x07), 'read'),
    rw(Op.READ_16, 'READ(16)', read, usage(Op.READ_16, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0x07), 'read'),
    rw(Op.WRITE_16, 'WRITE(16)', write, usage(Op.WRITE_16, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0x07), 'write'),
    rw(Op.WRITE_AND_VERIFY_16, 'WRITE AND VERIFY(16)', writeAndVerify, usage(Op.WRITE_AND_VERIFY_16, 0x12, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0x07), 'write'),
    rw(Op.VERIFY_16, 'VERIFY(16)', verify, usage(Op.VERIFY_16, 0x16, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0x07), 'read'),
    rw(Op.READ_12, 'READ(12)', read, usage(Op.READ_12, 0x18, F, F, F, F, F, F, F, F, 0, 0x07), 'read'),
    rw(Op.WRITE_12, 'WRITE(12)', write, usage(Op.WRITE_12, 0x18, F, F, F, F, F, F, F, F, 0, 0x07), 'write'),
    rw(Op.WRITE_AND_VERIFY_12, 'WRITE AND VERIFY(12)', writeAndVerify, usage(Op.WRITE_AND_VERIFY_12, 0x12, F, F, F, F, F, F, F, F, 0, 0x07), 'write'),
    rw(Op.VERIFY_12, 'VERIFY(12)', verify, usage(Op.VERIFY_12, 0x16, F, F, F, F, F, F, F, F, 0, 0x07), 'read'),
  ];
}
