// MODE SENSE(6/10) and MODE SELECT(6/10) (SPC-5 §6.13-6.16) over the LU's ModePages.
import { Asc, DeviceType, Op, SenseKey } from './constants.ts';
import { checkReserved, truncate, u16 } from './cdb.ts';
import { CheckCondition, invalidCdbField, invalidParamField } from './sense.ts';
import type { PageControl } from './mode-pages.ts';
import { requireDataOut, type CommandContext } from './table.ts';

/** What a block device contributes to the mode parameter header and block descriptor. */
export interface BlockDescriptorSource {
  /** Number of logical blocks and logical block length. */
  descriptor(): { blocks: bigint; blockLength: number };
  /** DEVICE-SPECIFIC PARAMETER byte of the header (disk: WP bit 7, DPOFUA bit 4). */
  deviceSpecific(): number;
  /** Checks a block descriptor sent by MODE SELECT; throw invalidParamField(offsetInDescriptor). */
  accept(blocks: bigint, blockLength: number, long: boolean, density?: number): void;
  /**
   * Sequential-access devices (SSC-4 §8.3.3): byte 0 of the short descriptor is the DENSITY CODE
   * and NUMBER OF BLOCKS is 3 bytes. Present only for such devices.
   */
  density?(): number;
  /** MODE SELECT's DEVICE-SPECIFIC PARAMETER (tape: buffered mode, speed); ignored when absent. */
  acceptDeviceSpecific?(value: number): void;
}

function shortDescriptor(blocks: bigint, len: number, density?: number): Buffer {
  const b = Buffer.alloc(8);
  if (density !== undefined) {
    b[0] = density;
    b.writeUIntBE(blocks > 0xffffffn ? 0xffffff : Number(blocks), 1, 3);
  } else b.writeUInt32BE(blocks > 0xffffffffn ? 0xffffffff : Number(blocks), 0);
  b.writeUIntBE(len & 0xffffff, 5, 3);
  return b;
}

function longDescriptor(blocks: bigint, len: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(blocks, 0);
  b.writeUInt32BE(len, 12);
  return b;
}

export function modeSense(ctx: CommandContext): Buffer {
  const { cdb, lu } = ctx;
  const ten = cdb[0] === Op.MODE_SENSE_10;
  checkReserved(cdb, 1, ten ? 0xe7 : 0xf7);
  const dbd = (cdb[1]! & 0x08) !== 0;
  const llbaa = ten && (cdb[1]! & 0x10) !== 0;
  const pc = (cdb[2]! >> 6) as PageControl;
  const src = lu.blockDescriptors;
  // Page code 00h (vendor specific, no page format; SPC-5 §6.14): a sequential-access device
  // answers it with the header and block descriptor alone, as LTO drives do. Linux st reads the
  // block length, density and write protection this way at every open (check_tape: MODE SENSE(6)
  // page 0, allocation length 12); refused, st assumes variable blocks and no write protection,
  // which undoes `mt setblk` at the next open.
  const headerOnly = (cdb[2]! & 0x3f) === 0 && cdb[3] === 0 && pc !== 3 && src?.density !== undefined;
  const pages = headerOnly ? Buffer.alloc(0) : lu.modePages.sense(pc, cdb[2]! & 0x3f, cdb[3]!);
  const alloc = ten ? u16(cdb, 7) : cdb[4]!;
  let bd: Buffer = Buffer.alloc(0);
  if (src && !dbd) {
    const d = src.descriptor();
    bd = llbaa ? longDescriptor(d.blocks, d.blockLength) : shortDescriptor(d.blocks, d.blockLength, src.density?.());
  }
  // WP (bit 7 for disks and tapes) also when this nexus's mapping of the LU is read-only
  const wp = ctx.cmd.writeProtected && (lu.peripheralType === DeviceType.DISK || lu.peripheralType === DeviceType.TAPE) ? 0x80 : 0;
  const dsp = (src ? src.deviceSpecific() : 0) | wp;
  let header: Buffer;
  if (ten) {
    header = Buffer.alloc(8);
    header.writeUInt16BE(header.length + bd.length + pages.length - 2, 0);
    header[3] = dsp;
    header[4] = bd.length === 16 ? 1 : 0;
    header.writeUInt16BE(bd.length, 6);
  } else {
    header = Buffer.alloc(4);
    header[0] = Math.min(255, header.length + bd.length + pages.length - 1);
    header[2] = dsp;
    header[3] = bd.length;
  }
  return truncate(Buffer.concat([header, bd, pages]), alloc);
}

export function modeSelect(ctx: CommandContext): void {
  const { cdb, lu } = ctx;
  const ten = cdb[0] === Op.MODE_SELECT_10;
  checkReserved(cdb, 1, 0xee);
  if ((cdb[1]! & 0x10) === 0) throw invalidCdbField(1, 4); // PF = 0: vendor-specific format
  if (cdb[1]! & 0x01) throw invalidCdbField(1, 0); // SP: no saved pages
  const listLen = ten ? u16(cdb, 7) : cdb[4]!;
  if (listLen === 0) return;
  const hdrLen = ten ? 8 : 4;
  const lengthError = new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.PARAMETER_LIST_LENGTH_ERROR, {
    field: { inCdb: true, byte: ten ? 7 : 4 },
  });
  if (listLen < hdrLen) throw lengthError;
  const data = requireDataOut(ctx, listLen);
  const medium = data[ten ? 2 : 1]!;
  if (medium !== 0) throw invalidParamField(ten ? 2 : 1);
  const longlba = ten && (data[4]! & 0x01) !== 0;
  const bdl = ten ? data.readUInt16BE(6) : data[3]!;
  const bdSize = longlba ? 16 : 8;
  if (bdl % bdSize !== 0 || bdl > bdSize || (bdl > 0 && !lu.blockDescriptors)) throw invalidParamField(ten ? 6 : 3);
  if (hdrLen + bdl > listLen) throw lengthError;
  if (bdl > 0) {
    const d = data.subarray(hdrLen, hdrLen + bdl);
    const sequential = lu.blockDescriptors!.density !== undefined;
    const blocks = longlba ? d.readBigUInt64BE(0) : sequential ? BigInt(d.readUIntBE(1, 3)) : BigInt(d.readUInt32BE(0));
    const len = longlba ? d.readUInt32BE(12) : d.readUIntBE(5, 3);
    try {
      lu.blockDescriptors!.accept(blocks, len, longlba, sequential && !longlba ? d[0] : undefined);
    } catch (e) {
      if (e instanceof CheckCondition && e.init.field && !e.init.field.inCdb) {
        throw invalidParamField(hdrLen + e.init.field.byte, e.init.field.bit);
      }
      throw e;
    }
  }
  const start = hdrLen + bdl;
  let changed: boolean;
  try {
    changed = lu.modePages.select(data.subarray(start, listLen), start);
  } catch (e) {
    if (e instanceof CheckCondition && e.asc === Asc.PARAMETER_LIST_LENGTH_ERROR.asc && !e.init.field) throw lengthError;
    throw e;
  }
  lu.blockDescriptors?.acceptDeviceSpecific?.(data[ten ? 3 : 2]!);
  if (changed) lu.ua.addOthers(ctx.cmd.nexus.id, Asc.MODE_PARAMETERS_CHANGED);
}
