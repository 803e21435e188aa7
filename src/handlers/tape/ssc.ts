// SSC-4 commands of the tape drive: opcode -> small function over a TapeDrive. Every entry that
// touches the drive is exclusive, so commands to one drive run strictly in the order received.
import { Asc, SenseKey } from '../../scsi/constants.ts';
import { checkReserved, truncate, u16, u24, u32 } from '../../scsi/cdb.ts';
import { CheckCondition, invalidCdbField, invalidParamField, parameterListLength } from '../../scsi/sense.ts';
import { preventAllowCommand } from '../../scsi/prevent.ts';
import { INFORMATIONAL_EXCEPTIONS, decodeLogSense, encodeLogPage, findLogPage, supportedPagesLists, type LogPage } from '../../scsi/log.ts';
import { blockDataOut, requireDataOut, usage, type CommandContext, type CommandEntry, type CommandResult } from '../../scsi/table.ts';
import { LTO, compatibility } from '../../media/density.ts';
import { RecordKind } from '../../media/cartridge.ts';
import { TapeDrive, signed24 } from './drive.ts';
import { attributeDef, presentAttributes, tapeLogPages } from './pages.ts';

export const SscOp = {
  REWIND: 0x01,
  READ_BLOCK_LIMITS: 0x05,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  WRITE_FILEMARKS_6: 0x10,
  SPACE_6: 0x11,
  ERASE_6: 0x19,
  LOAD_UNLOAD: 0x1b,
  PREVENT_ALLOW: 0x1e,
  LOCATE_10: 0x2b,
  READ_POSITION: 0x34,
  REPORT_DENSITY_SUPPORT: 0x44,
  LOG_SENSE: 0x4d,
  READ_ATTRIBUTE: 0x8c,
  WRITE_ATTRIBUTE: 0x8d,
  SPACE_16: 0x91,
  LOCATE_16: 0x92,
  ALLOW_OVERWRITE: 0x82,
} as const;

/** A response carrying data-in and a CHECK CONDITION (short reads, filemarks). */
function withSense(ctx: CommandContext, data: Buffer, sense: CheckCondition | undefined): CommandResult {
  if (!sense) return data;
  const r = ctx.lu.checkCondition(sense);
  return data.length > 0 ? { ...r, data } : r;
}

export function sscCommands(drive: TapeDrive): CommandEntry[] {
  const log = tapeLogPages(drive);
  // supported pages (00h), the drive's pages and 2Fh by page code, supported pages and subpages (00h/FFh)
  const [supported, supportedSubpages] = supportedPagesLists(() => logPages);
  const logPages: readonly LogPage[] = [
    supported,
    ...[...[...log].map(([page, build]): LogPage => ({ page, subpage: 0, build })), INFORMATIONAL_EXCEPTIONS].sort((a, b) => a.page - b.page),
    supportedSubpages,
  ];

  async function read6(ctx: CommandContext): Promise<CommandResult> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xfc);
    const sili = (cdb[1]! & 0x02) !== 0;
    const fixed = (cdb[1]! & 0x01) !== 0;
    const len = u24(cdb, 2);
    if (fixed && sili) throw invalidCdbField(1, 1);
    if (fixed && drive.blockLength === 0) throw invalidCdbField(1, 0);
    drive.dataCartridge();
    if (len === 0) return;
    if (fixed) {
      if (len * drive.blockLength > drive.settings.maxBlock * 256) throw invalidCdbField(2);
      const r = await drive.readFixed(len, ctx.cmd.nexus.id);
      return withSense(ctx, r.data, r.sense);
    }
    if (len > drive.settings.maxBlock) throw invalidCdbField(2);
    const r = await drive.readVariable(len, sili, ctx.cmd.nexus.id);
    return withSense(ctx, r.data, r.sense);
  }

  async function write6(ctx: CommandContext): Promise<CommandResult> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xfe);
    const fixed = (cdb[1]! & 0x01) !== 0;
    const len = u24(cdb, 2);
    if (fixed && drive.blockLength === 0) throw invalidCdbField(1, 0);
    drive.dataCartridge();
    if (len === 0) {
      ctx.transfer.dataOutLength = 0;
      return;
    }
    if (fixed) {
      const bs = drive.blockLength;
      const data = blockDataOut(ctx, len, bs);
      const blocks: Buffer[] = [];
      for (let off = 0; off + bs <= data.length; off += bs) blocks.push(Buffer.from(data.subarray(off, off + bs)));
      await drive.write(blocks, true, ctx.cmd.nexus.id);
      return;
    }
    if (len > drive.settings.maxBlock) throw invalidCdbField(2);
    const data = requireDataOut(ctx, len);
    await drive.write([Buffer.from(data)], false, ctx.cmd.nexus.id);
  }

  async function writeFilemarks(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xfc);
    const setmark = (cdb[1]! & 0x02) !== 0;
    const immed = (cdb[1]! & 0x01) !== 0;
    await drive.writeMarks(u24(cdb, 2), setmark, immed);
  }

  function space(ctx: CommandContext): void {
    const cdb = ctx.cdb;
    const sixteen = cdb[0] === SscOp.SPACE_16;
    checkReserved(cdb, 1, 0xf0);
    const code = cdb[1]! & 0x0f;
    let count: number;
    if (sixteen) {
      checkReserved(cdb, 2, 0xff);
      checkReserved(cdb, 3, 0xff);
      if (u16(cdb, 12) !== 0) throw invalidCdbField(12); // no parameter data supported
      const c = cdb.readBigInt64BE(4);
      count = c > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : c < -BigInt(Number.MAX_SAFE_INTEGER) ? -Number.MAX_SAFE_INTEGER : Number(c);
    } else count = signed24(u24(cdb, 2));
    drive.checkReady();
    switch (code) {
      case 0:
        return drive.spaceBlocks(count);
      case 1:
        return drive.spaceMarks(count, RecordKind.FILEMARK);
      case 2:
        return drive.spaceSequentialFilemarks(count);
      case 3:
        return drive.spaceEod();
      case 4:
        return drive.spaceMarks(count, RecordKind.SETMARK);
      default:
        throw invalidCdbField(1, 3); // sequential setmarks (obsolete) and reserved codes
    }
  }

  async function locate(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    const sixteen = cdb[0] === SscOp.LOCATE_16;
    drive.checkReady();
    await drive.settle();
    if (sixteen) {
      checkReserved(cdb, 1, 0xc4);
      checkReserved(cdb, 2, 0xff);
      const destType = (cdb[1]! >> 3) & 0x07;
      const cp = (cdb[1]! & 0x02) !== 0;
      if (cp && cdb[3] !== 0) throw invalidCdbField(3); // one partition
      const id = cdb.readBigUInt64BE(4);
      if (destType === 0) drive.locateObject(id);
      else if (destType === 1) drive.locateFile(id);
      else if (destType === 3) drive.spaceEod();
      else throw invalidCdbField(1, 5);
      return;
    }
    checkReserved(cdb, 1, 0xf8);
    checkReserved(cdb, 2, 0xff);
    checkReserved(cdb, 7, 0xff);
    const cp = (cdb[1]! & 0x02) !== 0;
    if (cp && cdb[8] !== 0) throw invalidCdbField(8);
    drive.locateObject(u32(cdb, 3));
  }

  async function readPosition(ctx: CommandContext): Promise<Buffer> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xe0);
    const sa = cdb[1]! & 0x1f;
    const alloc = u16(cdb, 7);
    const c = drive.checkReady();
    await c.resolve(drive.pos); // the medium used before the position, for EOP
    const pos = drive.pos;
    const bop = pos === 0 ? 0x80 : 0;
    const eop = drive.beyondEarlyWarning() ? 0x40 : 0;
    switch (sa) {
      case 0x00:
      case 0x01: {
        if (alloc !== 0) throw invalidCdbField(7);
        const b = Buffer.alloc(20);
        b[0] = bop | eop; // LOCU = 0, BYCU = 0: nothing is held back in a buffer
        b.writeUInt32BE(Math.min(pos, 0xffffffff), 4);
        b.writeUInt32BE(Math.min(pos, 0xffffffff), 8);
        if (pos > 0xffffffff) b[0]! |= 0x04; // LOLU: position does not fit
        return b;
      }
      case 0x06: {
        if (alloc !== 0) throw invalidCdbField(7);
        const b = Buffer.alloc(32);
        b[0] = bop | eop; // MPU = 0, LONU = 0
        b.writeUInt32BE(0, 4);
        b.writeBigUInt64BE(BigInt(pos), 8);
        b.writeBigUInt64BE(BigInt(c.filemarksBefore(pos)), 16);
        b.writeBigUInt64BE(BigInt(c.setmarksBefore(pos)), 24);
        return b;
      }
      case 0x08: {
        const b = Buffer.alloc(32);
        b[0] = bop | eop;
        b[1] = 0;
        b.writeUInt16BE(0x1c, 2);
        b.writeBigUInt64BE(BigInt(pos), 8);
        b.writeBigUInt64BE(BigInt(pos), 16);
        return truncate(b, alloc);
      }
      default:
        throw invalidCdbField(1, 4);
    }
  }

  /** ALLOW OVERWRITE (82h): 0h disabled, 1h current position (the LOGICAL OBJECT IDENTIFIER is the position); format (2h) needs FORMAT MEDIUM, which the drive does not have. */
  function allowOverwrite(ctx: CommandContext): void {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xff);
    checkReserved(cdb, 2, 0xf0);
    const mode = cdb[2]! & 0x0f;
    if (cdb[3] !== 0) throw invalidCdbField(3); // one partition
    if (mode === 0) return drive.allowOverwrite(undefined);
    if (mode !== 1) throw invalidCdbField(2, 3);
    drive.allowOverwrite(cdb.readBigUInt64BE(4));
  }

  async function rewind(ctx: CommandContext): Promise<void> {
    checkReserved(ctx.cdb, 1, 0xfe);
    await drive.rewind();
  }

  async function erase(ctx: CommandContext): Promise<void> {
    checkReserved(ctx.cdb, 1, 0xfc);
    await drive.erase();
  }

  async function loadUnload(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xfe);
    checkReserved(cdb, 4, 0xf0);
    const hold = (cdb[4]! & 0x08) !== 0;
    const eot = (cdb[4]! & 0x04) !== 0;
    const load = (cdb[4]! & 0x01) !== 0;
    if (eot && load) throw invalidCdbField(4, 2);
    if (load) {
      await drive.load();
      return;
    }
    if (eot && drive.cart && drive.loaded) drive.spaceEod();
    await drive.unload(hold);
  }

  function readBlockLimits(ctx: CommandContext): Buffer {
    checkReserved(ctx.cdb, 1, 0xff); // MLOC not supported
    const b = Buffer.alloc(6);
    // the drive's limits in either block mode (tgt reports max = min = block length in fixed
    // mode, which keeps st from switching to another fixed size)
    b[0] = 0; // GRANULARITY
    b.writeUIntBE(drive.settings.maxBlock, 1, 3);
    b.writeUInt16BE(1, 4);
    return b;
  }

  function reportDensitySupport(ctx: CommandContext): Buffer {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xfc);
    if (cdb[1]! & 0x02) throw invalidCdbField(1, 1); // MEDIUM TYPE descriptors: not supported
    const media = (cdb[1]! & 0x01) !== 0;
    const alloc = u16(cdb, 7);
    // the densities the drive reads; WRTOK on those it also writes (density.ts compatibility)
    const strict = drive.settings.blankGeneration !== undefined;
    const compat = (g: number) => (strict ? compatibility(drive.settings.generation, g) : g <= drive.settings.generation ? 'read-write' : 'none');
    let list = LTO.filter((d) => compat(d.generation) !== 'none');
    if (media) {
      const c = drive.checkReady();
      list = list.filter((d) => d.code === c.header.density);
    }
    const descs = list.map((d) => {
      const b = Buffer.alloc(52);
      b[0] = d.code;
      b[1] = d.code;
      const wrtok = compat(d.generation) === 'read-write' ? 0x80 : 0;
      b[2] = wrtok | 0x01 | (d.generation === drive.settings.generation ? 0x20 : 0); // WRTOK, DLV, DEFLT
      b.writeUInt16BE(49, 3);
      b.writeUIntBE(d.bitsPerMm, 5, 3);
      b.writeUInt16BE(127, 8); // MEDIA WIDTH 12.7 mm
      b.writeUInt16BE(d.tracks, 10);
      b.writeUInt32BE(Math.round(d.capacity / 1e6), 12); // CAPACITY in MB
      Buffer.from('LTO-CVE '.padEnd(8), 'latin1').copy(b, 16);
      Buffer.from(d.name.padEnd(8), 'latin1').copy(b, 24);
      Buffer.from(d.description.padEnd(20), 'latin1').copy(b, 32);
      return b;
    });
    const body = Buffer.concat(descs);
    const h = Buffer.alloc(4);
    h.writeUInt16BE(body.length + 2, 0);
    return truncate(Buffer.concat([h, body]), alloc);
  }

  function logSense(ctx: CommandContext): Buffer {
    const { pageCode, subpage, pointer, alloc } = decodeLogSense(ctx.cdb);
    if (pageCode !== 0 && subpage !== 0) throw invalidCdbField(3); // no page but 00h has subpages
    return truncate(encodeLogPage(findLogPage(logPages, pageCode, subpage), pointer), alloc);
  }

  function readAttribute(ctx: CommandContext): Buffer {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xe0);
    const sa = cdb[1]! & 0x1f;
    const first = u16(cdb, 8);
    const alloc = u32(cdb, 10);
    if (alloc < 4) throw invalidCdbField(10);
    if (sa === 0x02 || sa === 0x03) {
      // LOGICAL VOLUME LIST / PARTITION LIST: one volume, one partition
      return truncate(Buffer.from([0, 2, 0, 1]), alloc);
    }
    const c = drive.checkReady();
    if (cdb[5] !== 0) throw invalidCdbField(5); // volume number
    if (cdb[7] !== 0) throw invalidCdbField(7); // partition number
    const attrs = presentAttributes(c, drive);
    let body: Buffer;
    if (sa === 0x00) {
      body = Buffer.concat(
        attrs
          .filter((a) => a.id >= first)
          .map((a) => {
            const h = Buffer.alloc(5);
            h.writeUInt16BE(a.id, 0);
            h[2] = (a.readOnly ? 0x80 : 0) | a.format;
            h.writeUInt16BE(a.value.length, 3);
            return Buffer.concat([h, a.value]);
          }),
      );
    } else if (sa === 0x01 || sa === 0x05) {
      const ids = sa === 0x01 ? attrs.map((a) => a.id) : [...new Set([...attrs.map((a) => a.id)])];
      body = Buffer.alloc(ids.filter((id) => id >= first).length * 2);
      ids.filter((id) => id >= first).forEach((id, i) => body.writeUInt16BE(id, 2 * i));
    } else throw invalidCdbField(1, 4);
    const h = Buffer.alloc(4);
    h.writeUInt32BE(body.length, 0);
    return truncate(Buffer.concat([h, body]), alloc);
  }

  async function writeAttribute(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xfe);
    const len = u32(cdb, 10);
    const c = drive.checkReady();
    if (cdb[5] !== 0) throw invalidCdbField(5);
    if (cdb[7] !== 0) throw invalidCdbField(7);
    if (len === 0) return;
    if (len < 4) throw parameterListLength(10);
    const data = requireDataOut(ctx, len);
    const total = data.readUInt32BE(0);
    if (total + 4 > len) throw parameterListLength(10);
    if (drive.writeProtected) throw new CheckCondition(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    const changes: Array<[number, number, Buffer]> = [];
    let off = 4;
    while (off < 4 + total) {
      if (off + 5 > 4 + total) throw invalidParamField(off);
      const id = data.readUInt16BE(off);
      const format = data[off + 2]! & 0x03;
      const l = data.readUInt16BE(off + 3);
      if (off + 5 + l > 4 + total) throw invalidParamField(off + 3);
      const def = attributeDef(id);
      const vendorHost = id >= 0x1400 && id <= 0x17ff;
      if (!vendorHost && (!def || def.readOnly)) throw invalidParamField(off);
      if (def && l !== 0 && (format !== def.format || (def.variable ? l > def.length : l !== def.length))) throw invalidParamField(off + (format !== def.format ? 2 : 3));
      changes.push([id, format, Buffer.from(data.subarray(off + 5, off + 5 + l))]);
      off += 5 + l;
    }
    if (c.readOnly) throw new CheckCondition(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    await c.updateHeader((h) => {
      for (const [id, format, value] of changes) {
        if (value.length === 0) h.attributes.delete(id);
        else h.attributes.set(id, { format, value });
      }
    });
  }

  const ex = { exclusive: true } as const;
  return [
    { opcode: SscOp.REWIND, name: 'REWIND', usage: usage(SscOp.REWIND, 0x01, 0, 0, 0, 0x07), run: rewind, medium: true, access: 'read', ...ex, timeout: { nominal: 1, recommended: 600 } },
    { opcode: SscOp.READ_BLOCK_LIMITS, name: 'READ BLOCK LIMITS', usage: usage(SscOp.READ_BLOCK_LIMITS, 0, 0, 0, 0, 0x07), run: readBlockLimits, ...ex },
    { opcode: SscOp.READ_6, name: 'READ(6)', usage: usage(SscOp.READ_6, 0x03, 0xff, 0xff, 0xff, 0x07), run: read6, medium: true, access: 'read', ...ex, timeout: { nominal: 1, recommended: 600 } },
    { opcode: SscOp.WRITE_6, name: 'WRITE(6)', usage: usage(SscOp.WRITE_6, 0x01, 0xff, 0xff, 0xff, 0x07), run: write6, medium: true, access: 'write', ...ex, timeout: { nominal: 1, recommended: 600 } },
    { opcode: SscOp.WRITE_FILEMARKS_6, name: 'WRITE FILEMARKS(6)', usage: usage(SscOp.WRITE_FILEMARKS_6, 0x03, 0xff, 0xff, 0xff, 0x07), run: writeFilemarks, medium: true, access: 'write', ...ex },
    { opcode: SscOp.SPACE_6, name: 'SPACE(6)', usage: usage(SscOp.SPACE_6, 0x0f, 0xff, 0xff, 0xff, 0x07), run: space, medium: true, access: 'read', ...ex, timeout: { nominal: 1, recommended: 600 } },
    { opcode: SscOp.ERASE_6, name: 'ERASE(6)', usage: usage(SscOp.ERASE_6, 0x03, 0, 0, 0, 0x07), run: erase, medium: true, access: 'write', ...ex },
    { opcode: SscOp.LOAD_UNLOAD, name: 'LOAD UNLOAD', usage: usage(SscOp.LOAD_UNLOAD, 0x01, 0, 0, 0x0f, 0x07), run: loadUnload, access: 'read', ...ex, timeout: { nominal: 10, recommended: 600 } },
    { opcode: SscOp.PREVENT_ALLOW, name: 'PREVENT ALLOW MEDIUM REMOVAL', usage: usage(SscOp.PREVENT_ALLOW, 0, 0, 0, 0x03, 0x07), run: preventAllowCommand(drive.preventers), ...ex },
    { opcode: SscOp.LOCATE_10, name: 'LOCATE(10)', usage: usage(SscOp.LOCATE_10, 0x07, 0, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0x07), run: locate, medium: true, access: 'read', ...ex, timeout: { nominal: 1, recommended: 600 } },
    { opcode: SscOp.READ_POSITION, name: 'READ POSITION', usage: usage(SscOp.READ_POSITION, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07), run: readPosition, medium: true, access: 'read', ...ex },
    { opcode: SscOp.REPORT_DENSITY_SUPPORT, name: 'REPORT DENSITY SUPPORT', usage: usage(SscOp.REPORT_DENSITY_SUPPORT, 0x03, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07), run: reportDensitySupport, ...ex },
    { opcode: SscOp.LOG_SENSE, name: 'LOG SENSE', usage: usage(SscOp.LOG_SENSE, 0x01, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0xff, 0x07), run: logSense },
    { opcode: SscOp.READ_ATTRIBUTE, name: 'READ ATTRIBUTE', usage: usage(SscOp.READ_ATTRIBUTE, 0x1f, 0, 0, 0, 0xff, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x07), run: readAttribute, access: 'read', ...ex },
    { opcode: SscOp.WRITE_ATTRIBUTE, name: 'WRITE ATTRIBUTE', usage: usage(SscOp.WRITE_ATTRIBUTE, 0x01, 0, 0, 0, 0xff, 0, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07), run: writeAttribute, access: 'write', ...ex },
    { opcode: SscOp.SPACE_16, name: 'SPACE(16)', usage: usage(SscOp.SPACE_16, 0x0f, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x07), run: space, medium: true, access: 'read', ...ex, timeout: { nominal: 1, recommended: 600 } },
    { opcode: SscOp.ALLOW_OVERWRITE, name: 'ALLOW OVERWRITE', usage: usage(SscOp.ALLOW_OVERWRITE, 0, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x07), run: allowOverwrite, medium: true, access: 'read', ...ex },
    { opcode: SscOp.LOCATE_16, name: 'LOCATE(16)', usage: usage(SscOp.LOCATE_16, 0x3b, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x07), run: locate, medium: true, access: 'read', ...ex, timeout: { nominal: 1, recommended: 600 } },
  ];
}
