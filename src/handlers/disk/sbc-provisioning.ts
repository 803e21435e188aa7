// SBC-4 logical block provisioning commands: UNMAP, WRITE SAME(10/16), GET LBA STATUS.
// Check order as in sbc-rw.ts: CDB fields, length limits, LBA range (21/00 beats 27/00),
// write protect, data-out. Nothing touches the medium before every check has passed.
import { Asc, Op, SaiAction, SenseKey } from '../../scsi/constants.ts';
import { checkReserved, truncate, u16, u32, u64 } from '../../scsi/cdb.ts';
import { CheckCondition, invalidCdbField, invalidParamField, lbaOutOfRange } from '../../scsi/sense.ts';
import { requireDataOut, usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import type { DiskDevice } from './device.ts';

const F = 0xff;
/** Most descriptors one GET LBA STATUS returns (bounds the lseek work per command). */
const MAX_LBA_STATUS_DESCRIPTORS = 1024;

/**
 * The data-out, which must be exactly `length` bytes (e.g. WRITE SAME: one block): otherwise
 * 05/0E/03, or 05/24/00 at `lengthField` when a CDB length field is what disagrees with it.
 */
export function exactDataOut(ctx: CommandContext, length: number, lengthField?: number): Buffer {
  const d = ctx.cmd.dataOut;
  ctx.transfer.dataOutLength = length;
  if ((d?.length ?? 0) !== length) {
    if (lengthField !== undefined) throw invalidCdbField(lengthField);
    throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_COMMAND_IU);
  }
  return d ?? Buffer.alloc(0);
}

function allZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

export function provisioningCommands(dev: DiskDevice): CommandEntry[] {
  const bs = dev.blockSize;
  const s = dev.settings;

  async function unmap(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xff); // ANCHOR (bit 0): anchored LBAs are not supported (ANC_SUP = 0)
    for (let i = 2; i <= 5; i++) checkReserved(cdb, i, 0xff);
    checkReserved(cdb, 6, 0xe0);
    const len = u16(cdb, 7);
    dev.checkWritable();
    if (len === 0) return; // nothing transferred, nothing to do (SBC-4 5.31)
    if (len < 8) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.PARAMETER_LIST_LENGTH_ERROR, { field: { inCdb: true, byte: 7 } });
    const p = requireDataOut(ctx, len);
    const dataLength = u16(p, 0);
    const bdLength = u16(p, 2);
    if (dataLength !== 0 && dataLength + 2 > len) throw invalidParamField(0);
    if (bdLength + 8 > len) throw invalidParamField(2);
    // an incomplete trailing descriptor is ignored (SBC-4: BLOCK DESCRIPTOR DATA LENGTH should be a multiple of 16)
    const n = Math.floor(bdLength / 16);
    if (n > s.maxUnmapDescriptors) throw invalidParamField(2);
    const ranges: Array<{ lba: bigint; count: number }> = [];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const off = 8 + i * 16;
      const lba = u64(p, off);
      const count = u32(p, off + 8);
      if (lba + BigInt(count) > dev.blocks || lba > dev.blocks) throw lbaOutOfRange(lba <= 0xffffffffffffffffn ? lba : undefined);
      total += count;
      if (total > s.maxUnmapBlocks) throw invalidParamField(off + 8);
      if (count > 0) ranges.push({ lba, count });
    }
    await dev.unmap(ranges);
  }

  async function writeSame(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    const is16 = cdb[0] === Op.WRITE_SAME_16;
    const b1 = cdb[1]!;
    if (b1 >> 5 !== 0) throw invalidCdbField(1, 7); // WRPROTECT: no protection information
    if (b1 & 0x10) throw invalidCdbField(1, 4); // ANCHOR: ANC_SUP = 0
    if (b1 & 0x04) throw invalidCdbField(1, 2); // PBDATA (obsolete)
    if (b1 & 0x02) throw invalidCdbField(1, 1); // LBDATA (obsolete)
    if (!is16) checkReserved(cdb, 1, 0x01);
    const unmapBit = (b1 & 0x08) !== 0;
    const ndob = is16 && (b1 & 0x01) !== 0;
    const lba = is16 ? u64(cdb, 2) : BigInt(u32(cdb, 2));
    const lengthOffset = is16 ? 10 : 7;
    checkReserved(cdb, is16 ? 14 : 6, 0xe0);
    let count: bigint = BigInt(is16 ? u32(cdb, 10) : u16(cdb, 7));
    if (count === 0n) {
      // WSNZ = 0: zero means every block from LBA to the end of the medium
      if (lba > dev.blocks) throw lbaOutOfRange(lba);
      count = dev.blocks - lba;
    }
    if (count > BigInt(s.maxWriteSameBlocks)) throw invalidCdbField(lengthOffset);
    dev.checkRange(lba, count);
    dev.checkWritable();
    // after the write protection check: a -r LU answers 27/00 whatever UNMAP says (libiscsi ReadOnly)
    if (unmapBit && !s.thin) throw invalidCdbField(1, 3); // LBPWS/LBPWS10 = 0 on a fully provisioned LU
    const block = ndob ? undefined : exactDataOut(ctx, bs);
    if (ndob) ctx.transfer.dataOutLength = 0;
    // UNMAP = 1 on a thin LU: the blocks are deallocated and, LBPRZ being 001b, read back as
    // zeros whatever the Data-Out block held (as Linux LIO and tgt do; libiscsi checks this).
    await dev.writeSame(lba, Number(count), block === undefined || allZero(block) ? undefined : block, unmapBit);
  }

  async function getLbaStatus(ctx: CommandContext): Promise<Buffer> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xe0);
    checkReserved(cdb, 14, 0xff); // REPORT TYPE: only 0 (all LBAs) is implemented
    const lba = u64(cdb, 2);
    const alloc = u32(cdb, 10);
    if (lba >= dev.blocks) throw lbaOutOfRange(lba);
    if (alloc === 0) return Buffer.alloc(0);
    const max = Math.min(MAX_LBA_STATUS_DESCRIPTORS, Math.max(1, Math.floor((alloc - 8) / 16)));
    const descriptors = s.thin ? await dev.lbaStatus(lba, max) : [{ lba, blocks: Number(dev.blocks - lba > 0xffffffffn ? 0xffffffffn : dev.blocks - lba), status: 0 as const }];
    const out = Buffer.alloc(8 + 16 * descriptors.length);
    out.writeUInt32BE(4 + 16 * descriptors.length, 0);
    descriptors.forEach((d, i) => {
      const o = 8 + 16 * i;
      out.writeBigUInt64BE(d.lba, o);
      out.writeUInt32BE(d.blocks, o + 8);
      out[o + 12] = d.status;
    });
    return truncate(out, alloc);
  }

  const entries: CommandEntry[] = [
    {
      opcode: Op.WRITE_SAME_10,
      name: 'WRITE SAME(10)',
      usage: usage(Op.WRITE_SAME_10, s.thin ? 0x08 : 0, F, F, F, F, 0x1f, F, F, 0x07),
      run: writeSame,
      access: 'write',
      medium: true,
    },
    {
      opcode: Op.WRITE_SAME_16,
      name: 'WRITE SAME(16)',
      usage: usage(Op.WRITE_SAME_16, s.thin ? 0x09 : 0x01, F, F, F, F, F, F, F, F, F, F, F, F, 0x1f, 0x07),
      run: writeSame,
      access: 'write',
      medium: true,
    },
    {
      opcode: Op.SERVICE_ACTION_IN_16,
      serviceAction: SaiAction.GET_LBA_STATUS,
      name: 'GET LBA STATUS',
      usage: usage(Op.SERVICE_ACTION_IN_16, 0x1f, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0x07),
      run: getLbaStatus,
      access: 'read',
      medium: true,
    },
  ];
  if (s.thin) {
    entries.push({
      opcode: Op.UNMAP,
      name: 'UNMAP',
      usage: usage(Op.UNMAP, 0, 0, 0, 0, 0, 0x1f, F, F, 0x07),
      run: unmap,
      access: 'write',
      medium: true,
    });
  }
  return entries;
}
