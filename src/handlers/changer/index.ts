// The changer handler module (handlers.json "changer"): an SMC-3 medium changer (peripheral type
// 08h) for a tape library. Elements (mhvtl's default address map): data transfer = our tape
// drives from 0001h, medium transport 02F0h, import/export (mail slots) from 0300h, storage
// slots from 0400h. Cartridges are the files in one folder (barcode from each file's header);
// MOVE MEDIUM into a drive really loads that cartridge in the linked tape drive. Which cartridge
// is where is saved after every move (temp + fsync + rename) and restored at start.
//
// DeviceConfig: file = the cartridge folder; options.drives = device names of the tape drives
// (created earlier in the same process), options.slots, options.mailSlots, options.state (path
// of the state file, default FOLDER/.NAME.library.json).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeviceConfig, HandlerHost, HandlerModule } from '../contract.ts';
import { Asc, DeviceType, SenseKey, VersionDescriptor, type AscPair } from '../../scsi/constants.ts';
import { asciiField, deriveIdentity } from '../../scsi/inquiry.ts';
import { ScsiLogicalUnit, type LuLogger } from '../../scsi/logical-unit.ts';
import { makePage, type ModePageDef } from '../../scsi/mode-pages.ts';
import { controlPage } from '../../scsi/spc-pages.ts';
import { checkReserved, truncate, u16 } from '../../scsi/cdb.ts';
import { CheckCondition, invalidCdbField } from '../../scsi/sense.ts';
import { PreventTracker, preventAllowCommand } from '../../scsi/prevent.ts';
import { usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import { Cartridge } from '../../media/cartridge.ts';
import { tapeDrives, type TapeDrive } from '../tape/index.ts';
import { loadState, saveState, type LibraryState } from './state.ts';

export const ElementType = { ALL: 0, TRANSPORT: 1, STORAGE: 2, IMPORT_EXPORT: 3, DATA_TRANSFER: 4 } as const;
export const Addresses = { DRIVE: 0x0001, TRANSPORT: 0x02f0, MAIL: 0x0300, SLOT: 0x0400 } as const;

/** SMC-3 / SMC-3 Annex sense codes. */
const SmcAsc = {
  INVALID_ELEMENT_ADDRESS: Object.freeze({ asc: 0x21, ascq: 0x01 }),
  MEDIUM_DESTINATION_FULL: Object.freeze({ asc: 0x3b, ascq: 0x0d }),
  MEDIUM_SOURCE_EMPTY: Object.freeze({ asc: 0x3b, ascq: 0x0e }),
  MEDIUM_REMOVAL_PREVENTED: Asc.MEDIUM_REMOVAL_PREVENTED,
  MEDIUM_LOAD_OR_EJECT_FAILED: Object.freeze({ asc: 0x53, ascq: 0x00 }),
  MEDIUM_MAGAZINE_REMOVED: Object.freeze({ asc: 0x3b, ascq: 0x12 }),
  NOT_READY_TRAY_OPEN: Object.freeze({ asc: 0x3a, ascq: 0x02 }),
} as const satisfies Record<string, AscPair>;

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

/** Version descriptor SMC-3 (T10/1730-D). */
const SMC_3 = 0x0480;

export interface Element {
  readonly address: number;
  readonly type: number;
  /** Barcode of the cartridge in it. */
  barcode?: string;
  /** Source storage element address (SVALID). */
  source?: number;
  drive?: { name: string; unit: TapeDrive; identity: Buffer };
}

export interface LibraryOptions {
  readonly name: string;
  readonly folder: string;
  readonly statePath: string;
  readonly drives: ReadonlyArray<{ name: string; unit: TapeDrive; identity: Buffer }>;
  readonly slots: number;
  readonly mailSlots: number;
  readonly log: LuLogger;
}

export class Library {
  readonly o: LibraryOptions;
  readonly elements: Element[] = [];
  readonly byAddress = new Map<number, Element>();
  /** barcode -> cartridge file */
  cartridges = new Map<string, string>();
  readonly openDoors = new Set<number>();
  readonly preventers = new PreventTracker();

  constructor(o: LibraryOptions) {
    this.o = o;
    const add = (e: Element) => {
      this.elements.push(e);
      this.byAddress.set(e.address, e);
    };
    o.drives.forEach((d, i) => add({ address: Addresses.DRIVE + i, type: ElementType.DATA_TRANSFER, drive: d }));
    add({ address: Addresses.TRANSPORT, type: ElementType.TRANSPORT });
    for (let i = 0; i < o.mailSlots; i++) add({ address: Addresses.MAIL + i, type: ElementType.IMPORT_EXPORT });
    for (let i = 0; i < o.slots; i++) add({ address: Addresses.SLOT + i, type: ElementType.STORAGE });
    for (const d of o.drives) d.unit.element = this.elements.find((e) => e.drive === d)!.address;
  }

  of(type: number): Element[] {
    return this.elements.filter((e) => e.type === type);
  }

  /** Reads the cartridge folder: barcode -> file (first file wins on duplicate barcodes). */
  async scan(): Promise<void> {
    const found = new Map<string, string>();
    for (const name of (await readdir(this.o.folder)).sort()) {
      if (name.startsWith('.')) continue;
      const path = join(this.o.folder, name);
      if (!(await stat(path).catch(() => undefined))?.isFile()) continue;
      const h = await Cartridge.peek(path);
      if (!h) continue;
      if (found.has(h.barcode)) {
        this.o.log('warn', `${this.o.name}: ${path}: barcode ${h.barcode} already used by ${found.get(h.barcode)}; ignored`);
        continue;
      }
      found.set(h.barcode, path);
    }
    this.cartridges = found;
  }

  /** Places cartridges: saved state first, then every unplaced cartridge in a free slot. */
  async restore(): Promise<void> {
    await this.scan();
    const saved = await loadState(this.o.statePath).catch((e: Error) => {
      this.o.log('error', `${this.o.name}: ignoring unreadable state ${this.o.statePath}: ${e.message}`);
      return undefined;
    });
    const placed = new Set<string>();
    if (saved) {
      for (const [addr, s] of Object.entries(saved.elements)) {
        const e = this.byAddress.get(Number(addr));
        if (!e || e.type === ElementType.TRANSPORT) continue;
        if (!this.cartridges.has(s.barcode)) {
          this.o.log('warn', `${this.o.name}: cartridge ${s.barcode} (element ${addr}) is no longer in ${this.o.folder}`);
          continue;
        }
        if (placed.has(s.barcode)) continue;
        e.barcode = s.barcode;
        e.source = s.source;
        placed.add(s.barcode);
      }
      for (const a of saved.open) if (this.byAddress.get(a)?.type === ElementType.IMPORT_EXPORT) this.openDoors.add(a);
    }
    for (const barcode of [...this.cartridges.keys()].sort()) {
      if (placed.has(barcode)) continue;
      const free = this.of(ElementType.STORAGE).find((e) => !e.barcode) ?? this.of(ElementType.IMPORT_EXPORT).find((e) => !e.barcode);
      if (!free) {
        this.o.log('warn', `${this.o.name}: no free slot for cartridge ${barcode}`);
        continue;
      }
      free.barcode = barcode;
      placed.add(barcode);
    }
    for (const e of this.of(ElementType.DATA_TRANSFER)) {
      if (!e.barcode) continue;
      try {
        await e.drive!.unit.insert(this.cartridges.get(e.barcode)!);
      } catch (err) {
        this.o.log('error', `${this.o.name}: cannot load ${e.barcode} into ${e.drive!.name}: ${(err as Error).message}`);
      }
    }
    await this.save();
  }

  snapshot(): LibraryState {
    const elements: LibraryState['elements'] = {};
    for (const e of this.elements) if (e.barcode) elements[String(e.address)] = { barcode: e.barcode, ...(e.source !== undefined ? { source: e.source } : {}) };
    return { version: 1, elements, open: [...this.openDoors] };
  }

  save(): Promise<void> {
    return saveState(this.o.statePath, this.snapshot());
  }

  element(addr: number, byte: number): Element {
    const e = this.byAddress.get(addr);
    if (!e) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.INVALID_ELEMENT_ADDRESS, { field: { inCdb: true, byte } });
    return e;
  }

  checkTransport(addr: number): void {
    if (addr !== 0 && addr !== Addresses.TRANSPORT) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.INVALID_ELEMENT_ADDRESS, { field: { inCdb: true, byte: 2 } });
  }

  /** A source or destination the robot can reach. */
  reachable(e: Element, byte: number): void {
    if (e.type === ElementType.TRANSPORT) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.INVALID_ELEMENT_ADDRESS, { field: { inCdb: true, byte } });
    if (e.type === ElementType.IMPORT_EXPORT && this.openDoors.has(e.address)) throw new CheckCondition(SenseKey.NOT_READY, SmcAsc.NOT_READY_TRAY_OPEN);
  }

  /** Takes the cartridge out of an element (unloading a drive first). */
  private async take(e: Element): Promise<string> {
    const barcode = e.barcode!;
    if (e.drive) {
      if (e.drive.unit.prevented) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.MEDIUM_REMOVAL_PREVENTED);
      await e.drive.unit.remove();
    }
    e.barcode = undefined;
    return barcode;
  }

  /** Puts a cartridge into an element (loading it in a drive). */
  private async put(e: Element, barcode: string, from: Element): Promise<void> {
    if (e.drive) {
      const path = this.cartridges.get(barcode);
      try {
        if (!path) throw new Error(`no file for ${barcode}`);
        await e.drive.unit.insert(path);
      } catch (err) {
        this.o.log('error', `${this.o.name}: loading ${barcode} into ${e.drive.name} failed: ${(err as Error).message}`);
        // the cartridge goes back where it came from
        from.barcode = barcode;
        if (from.drive && path) await from.drive.unit.insert(path).catch(() => undefined);
        throw new CheckCondition(SenseKey.HARDWARE_ERROR, SmcAsc.MEDIUM_LOAD_OR_EJECT_FAILED);
      }
    }
    e.barcode = barcode;
    e.source = from.type === ElementType.STORAGE ? from.address : (from.source ?? from.address);
  }

  async move(src: Element, dst: Element): Promise<void> {
    if (!src.barcode) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.MEDIUM_SOURCE_EMPTY);
    if (src === dst) return;
    if (dst.barcode) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.MEDIUM_DESTINATION_FULL);
    const bc = await this.take(src);
    await this.put(dst, bc, src);
    await this.save();
    this.o.log('info', `${this.o.name}: moved ${bc} from ${src.address.toString(16)}h to ${dst.address.toString(16)}h`);
  }

  /** EXCHANGE MEDIUM: source -> first destination, first destination's cartridge -> second. */
  async exchange(src: Element, d1: Element, d2: Element): Promise<void> {
    if (!src.barcode || !d1.barcode) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.MEDIUM_SOURCE_EMPTY);
    if (d2 !== src && d2.barcode) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.MEDIUM_DESTINATION_FULL);
    if (src === d1) return;
    const a = await this.take(src);
    const b = await this.take(d1);
    await this.put(d1, a, src);
    await this.put(d2, b, d1);
    await this.save();
  }

  /** INITIALIZE ELEMENT STATUS: re-reads the folder; new cartridges go to free slots, vanished ones leave. */
  async inventory(): Promise<void> {
    await this.scan();
    for (const e of this.elements) {
      if (e.barcode && !this.cartridges.has(e.barcode) && !e.drive) e.barcode = undefined;
    }
    const placed = new Set(this.elements.flatMap((e) => (e.barcode ? [e.barcode] : [])));
    for (const barcode of [...this.cartridges.keys()].sort()) {
      if (placed.has(barcode)) continue;
      const free = this.of(ElementType.IMPORT_EXPORT).find((e) => !e.barcode) ?? this.of(ElementType.STORAGE).find((e) => !e.barcode);
      if (free) free.barcode = barcode;
    }
    await this.save();
  }
}

function elementDescriptor(lib: Library, e: Element, voltag: boolean, dvcid: boolean): Buffer {
  const idLen = dvcid ? 34 : 0;
  const b = Buffer.alloc(12 + (voltag ? 36 : 0) + 4 + idLen);
  b.writeUInt16BE(e.address, 0);
  const full = e.barcode !== undefined ? 0x01 : 0;
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
  if (e.barcode !== undefined) {
    const path = lib.cartridges.get(e.barcode);
    void path;
    b[9] = (e.source !== undefined ? 0x80 : 0) | 0x01; // SVALID, MEDIUM TYPE = data medium
    if (e.source !== undefined) b.writeUInt16BE(e.source, 10);
  }
  let off = 12;
  if (voltag) {
    if (e.barcode !== undefined) asciiField(e.barcode, 32).copy(b, off);
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
function changerModePages(lib: Library): ModePageDef[] {
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

function listOption(config: DeviceConfig, key: string): string[] {
  const v = config.options?.[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`device ${config.name}: option ${key} must be a list of device names`);
  return v as string[];
}

function countOption(config: DeviceConfig, key: string, fallback: number, max: number): number {
  const v = config.options?.[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Error(`device ${config.name}: option ${key} must be an integer from 0 to ${max}`);
  return v;
}

export async function createChanger(config: DeviceConfig, host: HandlerHost): Promise<ScsiLogicalUnit> {
  const log: LuLogger = (level, message) => host.log(level, message);
  if (!config.file) throw new Error(`device ${config.name}: a changer needs its cartridge folder as FILE`);
  const folder = config.file;
  if (!(await stat(folder).catch(() => undefined))?.isDirectory()) throw new Error(`device ${config.name}: ${folder} is not a folder of cartridges`);
  const drives = listOption(config, 'drives').map((name) => {
    const d = tapeDrives.get(name);
    if (!d) throw new Error(`device ${config.name}: drive "${name}" is not a tape device of this process (declare drives before the changer)`);
    const id = d.lu.spec.identity;
    const identity = Buffer.concat([asciiField(id.vendor, 8), asciiField(id.product, 16), asciiField(id.serial.slice(-10), 10)]);
    return { name, unit: d.drive, identity };
  });
  const statePath = typeof config.options?.['state'] === 'string' ? (config.options['state'] as string) : join(folder, `.${config.name}.library.json`);
  const lib = new Library({
    name: config.name,
    folder,
    statePath,
    drives,
    slots: countOption(config, 'slots', 20, 0x400),
    mailSlots: countOption(config, 'mailSlots', 1, 0xef),
    log,
  });
  await lib.restore();
  const identity = deriveIdentity({ name: config.name, vendor: config.vendor ?? 'STK', product: config.product ?? 'L700', revision: config.revision, serial: config.serial });
  const lu = new ScsiLogicalUnit({
    name: config.name,
    type: config.type,
    peripheralType: DeviceType.CHANGER,
    removable: true,
    identity,
    versionDescriptors: [VersionDescriptor.SAM_5, VersionDescriptor.SPC_4, SMC_3],
    commands: changerCommands(lib),
    modePages: changerModePages(lib),
    onReset: () => lib.preventers.clear(),
    onNexusLost: (n) => lib.preventers.release(n.id),
    describe: () => ({
      drives: drives.map((d) => d.name),
      slots: lib.of(ElementType.STORAGE).length,
      mailSlots: lib.of(ElementType.IMPORT_EXPORT).length,
      cartridges: lib.cartridges.size,
    }),
    flush: async () => undefined,
    close: () => lib.save(),
    log,
  });
  return lu;
}

const changer: HandlerModule = {
  description: 'SMC-3 medium changer (tape library) linked to tape drives of this process',
  create: createChanger,
};

export default changer;
