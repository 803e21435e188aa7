// MMC commands of the CD/DVD drive (part of the table in mmc.ts): capacity, READ(10)/(12),
// READ CD, SEEK, SYNCHRONIZE CACHE, READ FORMAT CAPACITIES and READ DVD STRUCTURE.
import { SenseKey } from '../../scsi/constants.ts';
import { checkReserved, truncate, u16, u24, u32 } from '../../scsi/cdb.ts';
import { CheckCondition, invalidCdbField, lbaOutOfRange } from '../../scsi/sense.ts';
import { usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import { BLOCK, type IsoDisc } from './disc.ts';
import { MmcAsc, need, type Drive } from './mmc-drive.ts';

/** The data zone of a DVD starts at physical sector 30000h (MMC-6 physical format information). */
const DVD_DATA_ZONE_START = 0x30000;

// ------------------------------------------------------------------ capacity and reads

function readCapacity10(state: Drive) {
  return (ctx: CommandContext): Buffer => {
    const disc = need(state);
    checkReserved(ctx.cdb, 1, 0xff);
    const b = Buffer.alloc(8);
    b.writeUInt32BE(disc.blocks - 1, 0);
    b.writeUInt32BE(BLOCK, 4);
    return b;
  };
}

function readCapacity16(state: Drive) {
  return (ctx: CommandContext): Buffer => {
    const disc = need(state);
    const b = Buffer.alloc(32);
    b.writeBigUInt64BE(BigInt(disc.blocks - 1), 0);
    b.writeUInt32BE(BLOCK, 8);
    return truncate(b, u32(ctx.cdb, 10));
  };
}

function checkRange(disc: IsoDisc, lba: bigint, blocks: number): void {
  if (lba + BigInt(blocks) > BigInt(disc.blocks)) throw lbaOutOfRange(lba >= BigInt(disc.blocks) ? lba : BigInt(disc.blocks));
}

/** Most data a single READ returns (the same 8 MiB bound the disk handler uses). */
const MAX_READ_BLOCKS = (8 << 20) / BLOCK;

function readBlocks(state: Drive) {
  return async (ctx: CommandContext): Promise<Buffer> => {
    const cdb = ctx.cdb;
    const disc = need(state);
    const twelve = cdb[0] === 0xa8;
    if (cdb[1]! >> 5 !== 0) throw invalidCdbField(1, 7); // RDPROTECT: no protection information
    checkReserved(cdb, 1, 0x07 & ~0x02); // bit 1 obsolete; DPO/FUA accepted (nothing is cached)
    const lba = BigInt(u32(cdb, 2));
    const blocks = twelve ? u32(cdb, 6) : u16(cdb, 7);
    if (blocks > MAX_READ_BLOCKS) throw invalidCdbField(twelve ? 6 : 7);
    checkRange(disc, lba, blocks);
    if (blocks === 0) return Buffer.alloc(0);
    return disc.read(Number(lba), blocks);
  };
}

/**
 * READ CD (BEh): a data disc has one Mode 1 track, so sector types "any" and "Mode 1" with user
 * data only (byte 9 = 10h, no sub-channel) are served; other sector types are 05/64/00 ILLEGAL MODE
 * FOR THIS TRACK; headers, sync, EDC/ECC, C2 and sub-channel data are not synthesized (05/24/00 on
 * the field). READ CD is a CD command: on a DVD it is 05/30/02 CANNOT READ MEDIUM - INCOMPATIBLE
 * FORMAT.
 */
function readCd(state: Drive) {
  return async (ctx: CommandContext): Promise<Buffer> => {
    const cdb = ctx.cdb;
    const disc = need(state);
    checkReserved(cdb, 1, 0xe1);
    const sectorType = (cdb[1]! >> 2) & 0x07;
    const lba = BigInt(u32(cdb, 2));
    const blocks = u24(cdb, 6);
    const fields = cdb[9]!;
    const sub = cdb[10]! & 0x07;
    checkReserved(cdb, 9, 0x01);
    checkReserved(cdb, 10, 0xf8);
    if (sectorType >= 6) throw invalidCdbField(1, 4);
    if (disc.isDvd) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, MmcAsc.CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT);
    if (sectorType !== 0 && sectorType !== 2) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, MmcAsc.ILLEGAL_MODE_FOR_THIS_TRACK, { information: lba });
    if (fields !== 0x10 && fields !== 0x00) throw invalidCdbField(9, fields & 0x80 ? 7 : fields & 0x60 ? 6 : fields & 0x08 ? 3 : 2);
    if (sub !== 0) throw invalidCdbField(10, 2);
    if (blocks > MAX_READ_BLOCKS) throw invalidCdbField(6);
    checkRange(disc, lba, blocks);
    if (blocks === 0 || fields === 0) return Buffer.alloc(0);
    return disc.read(Number(lba), blocks);
  };
}

function seek(state: Drive) {
  return (ctx: CommandContext): void => {
    const disc = need(state);
    const lba = u32(ctx.cdb, 2);
    if (lba >= disc.blocks) throw lbaOutOfRange(BigInt(lba));
  };
}

/** READ FORMAT CAPACITIES (23h): one current/maximum descriptor (formatted media, or no media). */
function readFormatCapacities(state: Drive) {
  return (ctx: CommandContext): Buffer => {
    const disc = state.medium;
    const b = Buffer.alloc(12);
    b[3] = 8;
    b.writeUInt32BE(disc ? disc.blocks : 0xffffffff, 4);
    b[8] = disc ? 0x02 : 0x03;
    b.writeUIntBE(BLOCK, 9, 3);
    return truncate(b, u16(ctx.cdb, 7));
  };
}

// -------------------------------------------------------------- READ DVD STRUCTURE (ADh)

function readDvdStructure(state: Drive) {
  return (ctx: CommandContext): Buffer => {
    const cdb = ctx.cdb;
    const disc = need(state);
    checkReserved(cdb, 1, 0xf0);
    if ((cdb[1]! & 0x0f) !== 0) throw invalidCdbField(1, 3); // media type 0: DVD; BD structures are not ours
    const layer = cdb[6]!;
    const format = cdb[7]!;
    const alloc = u16(cdb, 8);
    const agid = cdb[10]! >> 6;
    const struct = (payload: Buffer): Buffer => {
      const h = Buffer.alloc(4);
      h.writeUInt16BE(payload.length + 2, 0);
      return truncate(Buffer.concat([h, payload]), alloc);
    };
    if (format === 0xff) {
      // list of the structures we return: 00h, 01h, 04h, and FFh itself
      const list = Buffer.alloc(16);
      const entry = (i: number, code: number, len: number) => {
        list[i * 4] = code;
        list[i * 4 + 1] = 0x40; // RDS: readable with READ DVD STRUCTURE
        list.writeUInt16BE(len, i * 4 + 2);
      };
      entry(0, 0x00, 2048);
      entry(1, 0x01, 4);
      entry(2, 0x04, 2048);
      entry(3, 0xff, 16);
      return struct(list);
    }
    if (!disc.isDvd) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, MmcAsc.CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT);
    if (format < 0xc0 && layer !== 0) throw invalidCdbField(6); // single layer
    switch (format) {
      case 0x00: {
        const b = Buffer.alloc(2048);
        b[0] = 0x01; // book type DVD-ROM, part version 1
        b[1] = 0x0f; // 120 mm, maximum rate not specified
        b[2] = 0x01; // one layer, parallel track path, embossed layer
        b[3] = 0x00; // 0.267 um/bit, 0.74 um/track
        b.writeUInt32BE(DVD_DATA_ZONE_START, 4);
        b.writeUInt32BE(DVD_DATA_ZONE_START + disc.blocks - 1, 8);
        return struct(b);
      }
      case 0x01: // copyright: no protection system, playable in all regions
        if (agid !== 0) throw invalidCdbField(10, 7);
        return struct(Buffer.alloc(4));
      case 0x04: // manufacturing information: none recorded
        return struct(Buffer.alloc(2048));
      default: // 02h disc key (CSS), 03h BCA (none), recordable-media structures: not on this disc
        throw invalidCdbField(7);
    }
  };
}

/** WRITE(10)/(12): ISO images are read-only discs (CD-ROM / DVD-ROM), never written. */
function cannotWrite(): never {
  throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, MmcAsc.CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT);
}

// ------------------------------------------------------------------------ the table

export function readCommands(state: Drive): CommandEntry[] {
  return [
    { opcode: 0x23, name: 'READ FORMAT CAPACITIES', usage: usage(0x23, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07), run: readFormatCapacities(state) },
    { opcode: 0x25, name: 'READ CAPACITY(10)', usage: usage(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0x07), run: readCapacity10(state), medium: true },
    { opcode: 0x28, name: 'READ(10)', usage: usage(0x28, 0x18, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x07), run: readBlocks(state), medium: true, access: 'read' },
    { opcode: 0x2b, name: 'SEEK(10)', usage: usage(0x2b, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x07), run: seek(state), medium: true },
    { opcode: 0x35, name: 'SYNCHRONIZE CACHE(10)', usage: usage(0x35, 0x02, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x07), run: () => undefined, medium: true },
    {
      opcode: 0x9e,
      serviceAction: 0x10,
      name: 'READ CAPACITY(16)',
      usage: usage(0x9e, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07),
      run: readCapacity16(state),
      medium: true,
    },
    // A read-only disc: the drive knows WRITE, the medium cannot take it (MMC-6; tgt answers the same on DVD-ROM)
    { opcode: 0x2a, name: 'WRITE(10)', usage: usage(0x2a, 0x18, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x07), run: cannotWrite, medium: true, access: 'write' },
    { opcode: 0xaa, name: 'WRITE(12)', usage: usage(0xaa, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x07), run: cannotWrite, medium: true, access: 'write' },
    { opcode: 0xa8, name: 'READ(12)', usage: usage(0xa8, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x07), run: readBlocks(state), medium: true, access: 'read' },
    { opcode: 0xad, name: 'READ DVD STRUCTURE', usage: usage(0xad, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0, 0x07), run: readDvdStructure(state), medium: true },
    { opcode: 0xbe, name: 'READ CD', usage: usage(0xbe, 0x1e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf8, 0x07, 0x07), run: readCd(state), medium: true, access: 'read' },
  ];
}
