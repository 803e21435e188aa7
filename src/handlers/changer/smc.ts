// The SMC-3 command set of the changer (READ ELEMENT STATUS, MOVE MEDIUM, EXCHANGE MEDIUM,
// INITIALIZE ELEMENT STATUS [WITH RANGE], POSITION TO ELEMENT, OPEN/CLOSE IMPORT/EXPORT ELEMENT,
// PREVENT ALLOW MEDIUM REMOVAL) and its mode pages 1Dh/1Eh/1Fh, over a medium-neutral Library.
import { SenseKey } from '../../scsi/constants.ts';
import { asciiField } from '../../scsi/inquiry.ts';
import { makePage, type ModePageDef } from '../../scsi/mode-pages.ts';
import { controlPage } from '../../scsi/spc-pages.ts';
import { checkReserved, truncate, u16 } from '../../scsi/cdb.ts';
import { CheckCondition, invalidCdbField } from '../../scsi/sense.ts';
import { preventAllowCommand } from '../../scsi/prevent.ts';
import { usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import { ElementType, SmcAsc, type Element } from './elements.ts';
import type { Library } from './library.ts';

const Op = {
  INITIALIZE_ELEMENT_STATUS: 0x07,
  OPEN_CLOSE_IE: 0x1b,
  PREVENT_ALLOW: 0x1e,
  POSITION_TO_ELEMENT: 0x2b,
  INITIALIZE_ELEMENT_STATUS_WITH_RANGE: 0x37,
  MOVE_MEDIUM: 0xa5,
  EXCHANGE_MEDIUM: 0xa6,
  READ_ELEMENT_STATUS: 0xb8,
} as const;

function elementDescriptor(lib: Library, e: Element, voltag: boolean, dvcid: boolean): Buffer {
  const idLen = dvcid ? 34 : 0;
  const b = Buffer.alloc(12 + (voltag ? 36 : 0) + 4 + idLen);
  b.writeUInt16BE(e.address, 0);
  const full = e.tag !== undefined ? 0x01 : 0;
  switch (e.type) {
    case ElementType.TRANSPORT:
      b[2] = full;
      break;
    case ElementType.STORAGE:
      b[2] = 0x08 | full; // ACCESS
      break;
    case ElementType.IMPORT_EXPORT:
      b[2] = 0x20 | 0x10 | (lib.openDoors.has(e.address) ? 0 : 0x08) | full; // INENAB EXENAB ACCESS
      break;
    case ElementType.DATA_TRANSFER:
      b[2] = 0x08 | full;
      break;
  }
  if (e.tag !== undefined) {
    b[9] = (e.source !== undefined ? 0x80 : 0) | 0x01; // SVALID, MEDIUM TYPE = data medium
    if (e.source !== undefined) b.writeUInt16BE(e.source, 10);
  }
  let off = 12;
  if (voltag) {
    if (e.tag !== undefined) asciiField(e.tag, 32).copy(b, off);
    off += 36;
  }
  // identification descriptor header (SMC-3: data transfer elements with DVCID)
  if (dvcid && e.drive) {
    b[off] = 0x02; // CODE SET: ASCII
    b[off + 1] = 0x01; // IDENTIFIER TYPE: T10 vendor identification
    b[off + 3] = idLen;
    e.drive.identity.copy(b, off + 4, 0, idLen);
  }
  return b;
}

export function changerCommands(lib: Library): CommandEntry[] {
  async function moveMedium(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xff);
    checkReserved(cdb, 10, 0xfe);
    lib.checkTransport(u16(cdb, 2));
    if (cdb[10]! & 0x01) throw invalidCdbField(10, 0); // INVERT: single-sided media
    const src = lib.element(u16(cdb, 4), 4);
    const dst = lib.element(u16(cdb, 6), 6);
    lib.reachable(src, 4);
    lib.reachable(dst, 6);
    await lib.move(src, dst);
  }

  async function exchangeMedium(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xff);
    checkReserved(cdb, 10, 0xfc);
    lib.checkTransport(u16(cdb, 2));
    if (cdb[10]! & 0x03) throw invalidCdbField(10, cdb[10]! & 0x02 ? 1 : 0);
    const src = lib.element(u16(cdb, 4), 4);
    const d1 = lib.element(u16(cdb, 6), 6);
    const d2 = lib.element(u16(cdb, 8), 8);
    lib.reachable(src, 4);
    lib.reachable(d1, 6);
    lib.reachable(d2, 8);
    await lib.exchange(src, d1, d2);
  }

  function readElementStatus(ctx: CommandContext): Buffer {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xe0);
    checkReserved(cdb, 6, 0xfc);
    const voltag = (cdb[1]! & 0x10) !== 0;
    const type = cdb[1]! & 0x0f;
    if (type > 4) throw invalidCdbField(1, 3);
    const start = u16(cdb, 2);
    const count = u16(cdb, 4);
    const dvcid = (cdb[6]! & 0x01) !== 0;
    const alloc = cdb.readUIntBE(7, 3);
    const chosen = lib.elements
      .filter((e) => (type === 0 || e.type === type) && e.address >= start)
      .sort((a, b) => a.address - b.address)
      .slice(0, count);
    if (chosen.length === 0 && count > 0 && !lib.elements.some((e) => (type === 0 || e.type === type) && e.address >= start)) {
      throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.INVALID_ELEMENT_ADDRESS, { field: { inCdb: true, byte: 2 } });
    }
    const pages: Buffer[] = [];
    let i = 0;
    while (i < chosen.length) {
      const t = chosen[i]!.type;
      const descs: Buffer[] = [];
      while (i < chosen.length && chosen[i]!.type === t) descs.push(elementDescriptor(lib, chosen[i++]!, voltag, dvcid));
      const body = Buffer.concat(descs);
      const h = Buffer.alloc(8);
      h[0] = t;
      h[1] = voltag ? 0x80 : 0;
      h.writeUInt16BE(descs[0]!.length, 2);
      h.writeUIntBE(body.length, 5, 3);
      pages.push(h, body);
    }
    const all = Buffer.concat(pages);
    const h = Buffer.alloc(8);
    h.writeUInt16BE(chosen[0]?.address ?? 0, 0);
    h.writeUInt16BE(chosen.length, 2);
    h.writeUIntBE(all.length, 5, 3);
    return truncate(Buffer.concat([h, all]), alloc);
  }

  async function initializeElementStatus(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    if (cdb[0] === Op.INITIALIZE_ELEMENT_STATUS_WITH_RANGE) {
      checkReserved(cdb, 1, 0xfc);
      if (cdb[1]! & 0x01) {
        // RANGE: the starting address must name an element
        lib.element(u16(cdb, 2), 2);
      }
    } else checkReserved(cdb, 1, 0xff);
    await lib.inventory();
  }

  function positionToElement(ctx: CommandContext): void {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xff);
    checkReserved(cdb, 8, 0xfe);
    lib.checkTransport(u16(cdb, 2));
    if (cdb[8]! & 0x01) throw invalidCdbField(8, 0);
    lib.element(u16(cdb, 4), 4);
  }

  async function openClose(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xff);
    const e = lib.element(u16(cdb, 2), 2);
    if (e.type !== ElementType.IMPORT_EXPORT) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.INVALID_ELEMENT_ADDRESS, { field: { inCdb: true, byte: 2 } });
    const action = cdb[4]! & 0x1f;
    checkReserved(cdb, 4, 0xe0);
    if (action === 0) {
      if (lib.preventers.prevented) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.MEDIUM_REMOVAL_PREVENTED);
      lib.openDoors.add(e.address);
    } else if (action === 1) lib.openDoors.delete(e.address);
    else throw invalidCdbField(4, 4);
    await lib.save();
  }

  const ex = { exclusive: true } as const;
  return [
    { opcode: Op.INITIALIZE_ELEMENT_STATUS, name: 'INITIALIZE ELEMENT STATUS', usage: usage(Op.INITIALIZE_ELEMENT_STATUS, 0, 0, 0, 0, 0x07), run: initializeElementStatus, ...ex, timeout: { nominal: 5, recommended: 600 } },
    { opcode: Op.OPEN_CLOSE_IE, name: 'OPEN/CLOSE IMPORT/EXPORT ELEMENT', usage: usage(Op.OPEN_CLOSE_IE, 0, 0xff, 0xff, 0x1f, 0x07), run: openClose, ...ex },
    { opcode: Op.PREVENT_ALLOW, name: 'PREVENT ALLOW MEDIUM REMOVAL', usage: usage(Op.PREVENT_ALLOW, 0, 0, 0, 0x03, 0x07), run: preventAllowCommand(lib.preventers), ...ex },
    { opcode: Op.POSITION_TO_ELEMENT, name: 'POSITION TO ELEMENT', usage: usage(Op.POSITION_TO_ELEMENT, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0x07), run: positionToElement, ...ex },
    { opcode: Op.INITIALIZE_ELEMENT_STATUS_WITH_RANGE, name: 'INITIALIZE ELEMENT STATUS WITH RANGE', usage: usage(Op.INITIALIZE_ELEMENT_STATUS_WITH_RANGE, 0x03, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0x07), run: initializeElementStatus, ...ex, timeout: { nominal: 5, recommended: 600 } },
    { opcode: Op.MOVE_MEDIUM, name: 'MOVE MEDIUM', usage: usage(Op.MOVE_MEDIUM, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0x07), run: moveMedium, access: 'write', ...ex, timeout: { nominal: 10, recommended: 600 } },
    { opcode: Op.EXCHANGE_MEDIUM, name: 'EXCHANGE MEDIUM', usage: usage(Op.EXCHANGE_MEDIUM, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03, 0x07), run: exchangeMedium, access: 'write', ...ex, timeout: { nominal: 10, recommended: 600 } },
    { opcode: Op.READ_ELEMENT_STATUS, name: 'READ ELEMENT STATUS', usage: usage(Op.READ_ELEMENT_STATUS, 0x1f, 0xff, 0xff, 0xff, 0xff, 0x03, 0xff, 0xff, 0xff, 0, 0x07), run: readElementStatus, access: 'read', ...ex },
  ];
}

/** Mode pages 1Dh element address assignment, 1Eh transport geometry, 1Fh device capabilities. */
export function changerModePages(lib: Library): ModePageDef[] {
  const fixed = (page: number, body: number[] | Buffer): ModePageDef => {
    const defaults = makePage(page, 0, body);
    return { page, subpage: 0, defaults, changeable: Buffer.alloc(defaults.length) };
  };
  const eaa = Buffer.alloc(18);
  const first = (t: number) => lib.of(t)[0]?.address ?? 0;
  eaa.writeUInt16BE(first(ElementType.TRANSPORT), 0);
  eaa.writeUInt16BE(lib.of(ElementType.TRANSPORT).length, 2);
  eaa.writeUInt16BE(first(ElementType.STORAGE), 4);
  eaa.writeUInt16BE(lib.of(ElementType.STORAGE).length, 6);
  eaa.writeUInt16BE(first(ElementType.IMPORT_EXPORT), 8);
  eaa.writeUInt16BE(lib.of(ElementType.IMPORT_EXPORT).length, 10);
  eaa.writeUInt16BE(first(ElementType.DATA_TRANSFER), 12);
  eaa.writeUInt16BE(lib.of(ElementType.DATA_TRANSFER).length, 14);
  // 1Fh: media can be stored in ST, IE, DT (not MT); moves and exchanges between ST, IE, DT
  const caps = Buffer.alloc(18);
  caps[0] = 0x0e; // StorDT StorI/E StorST
  caps[2] = 0x00; // MT -> nothing
  caps[3] = 0x0e; // ST -> DT, I/E, ST
  caps[4] = 0x0e; // I/E -> DT, I/E, ST
  caps[5] = 0x0e; // DT -> DT, I/E, ST
  caps[10] = 0x00;
  caps[11] = 0x0e;
  caps[12] = 0x0e;
  caps[13] = 0x0e;
  return [controlPage(), fixed(0x1d, eaa), fixed(0x1e, [0x00, 0x00]), fixed(0x1f, caps)];
}
