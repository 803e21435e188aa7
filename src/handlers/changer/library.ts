// The state of one library, whatever its media: the element map, which volume is where, the open
// mail slot doors and PREVENT on the changer, and the moves (MOVE MEDIUM, EXCHANGE MEDIUM,
// INITIALIZE ELEMENT STATUS) that keep drives and the saved state in step. Media are the files of
// one folder, named by a MediaCatalog; drives are reached through ChangerDrive (medium.ts).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SenseKey } from '../../scsi/constants.ts';
import type { LuLogger } from '../../scsi/logical-unit.ts';
import { PreventTracker } from '../../scsi/prevent.ts';
import { CheckCondition } from '../../scsi/sense.ts';
import { Addresses, ElementType, SmcAsc, buildElements, type Element } from './elements.ts';
import type { ChangerDrive, MediaCatalog } from './medium.ts';
import { loadState, saveState, type LibraryState } from './state.ts';

export interface LibraryOptions {
  readonly name: string;
  readonly folder: string;
  readonly statePath: string;
  readonly catalog: MediaCatalog;
  readonly drives: readonly ChangerDrive[];
  readonly slots: number;
  readonly mailSlots: number;
  readonly log: LuLogger;
}

export class Library {
  readonly o: LibraryOptions;
  readonly elements: Element[];
  readonly byAddress = new Map<number, Element>();
  /** volume tag -> medium file */
  media = new Map<string, string>();
  readonly openDoors = new Set<number>();
  readonly preventers = new PreventTracker();

  constructor(o: LibraryOptions) {
    this.o = o;
    this.elements = buildElements(o.drives, o.mailSlots, o.slots);
    for (const e of this.elements) {
      this.byAddress.set(e.address, e);
      e.drive?.bind(e.address);
    }
  }

  of(type: number): Element[] {
    return this.elements.filter((e) => e.type === type);
  }

  /** Reads the folder: volume tag -> file (the first file wins on a duplicate tag). */
  async scan(): Promise<void> {
    const found = new Map<string, string>();
    const { catalog, folder, log } = this.o;
    for (const name of (await readdir(folder)).sort()) {
      if (name.startsWith('.')) continue;
      const path = join(folder, name);
      if (!(await stat(path).catch(() => undefined))?.isFile()) continue;
      const tag = await catalog.tagOf(path, name);
      if (tag === undefined) continue;
      if (found.has(tag)) {
        log('warn', `${path}: volume tag ${tag} already used by ${found.get(tag)}; ignored`);
        continue;
      }
      found.set(tag, path);
    }
    this.media = found;
  }

  /** Places media: saved state first, then every unplaced medium in a free slot; loads the drives. */
  async restore(): Promise<void> {
    await this.scan();
    const { log, statePath } = this.o;
    const saved = await loadState(statePath).catch((e: Error) => {
      log('error', `ignoring unreadable state ${statePath}: ${e.message}`);
      return undefined;
    });
    const placed = new Set<string>();
    if (saved) {
      for (const [addr, s] of Object.entries(saved.elements)) {
        const e = this.byAddress.get(Number(addr));
        if (!e || e.type === ElementType.TRANSPORT) continue;
        if (!this.media.has(s.barcode)) {
          log('warn', `${this.o.catalog.noun} ${s.barcode} (element ${addr}) is no longer in ${this.o.folder}`);
          continue;
        }
        if (placed.has(s.barcode)) continue;
        e.tag = s.barcode;
        e.source = s.source;
        placed.add(s.barcode);
      }
      for (const a of saved.open) if (this.byAddress.get(a)?.type === ElementType.IMPORT_EXPORT) this.openDoors.add(a);
    }
    for (const tag of [...this.media.keys()].sort()) {
      if (placed.has(tag)) continue;
      const free = this.of(ElementType.STORAGE).find((e) => !e.tag) ?? this.of(ElementType.IMPORT_EXPORT).find((e) => !e.tag);
      if (!free) {
        log('warn', `no free slot for ${this.o.catalog.noun} ${tag}`);
        continue;
      }
      free.tag = tag;
      placed.add(tag);
    }
    for (const e of this.of(ElementType.DATA_TRANSFER)) {
      if (!e.tag) continue;
      try {
        await e.drive!.load(this.media.get(e.tag)!);
      } catch (err) {
        log('error', `cannot load ${e.tag} into ${e.drive!.name}: ${(err as Error).message}`);
      }
    }
    await this.save();
  }

  snapshot(): LibraryState {
    const elements: LibraryState['elements'] = {};
    for (const e of this.elements) if (e.tag) elements[String(e.address)] = { barcode: e.tag, ...(e.source !== undefined ? { source: e.source } : {}) };
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

  /** Takes the medium out of an element (unloading a drive first). */
  private async take(e: Element): Promise<string> {
    const tag = e.tag!;
    if (e.drive) {
      if (e.drive.prevented) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.MEDIUM_REMOVAL_PREVENTED);
      await e.drive.unload();
    }
    e.tag = undefined;
    return tag;
  }

  /** Puts a medium into an element (loading it in a drive). */
  private async put(e: Element, tag: string, from: Element): Promise<void> {
    if (e.drive) {
      const path = this.media.get(tag);
      try {
        if (!path) throw new Error(`no file for ${tag}`);
        await e.drive.load(path);
      } catch (err) {
        this.o.log('error', `loading ${tag} into ${e.drive.name} failed: ${(err as Error).message}`);
        // the medium goes back where it came from
        from.tag = tag;
        if (from.drive && path) await from.drive.load(path).catch(() => undefined);
        throw new CheckCondition(SenseKey.HARDWARE_ERROR, SmcAsc.MEDIUM_LOAD_OR_EJECT_FAILED);
      }
    }
    e.tag = tag;
    e.source = from.type === ElementType.STORAGE ? from.address : (from.source ?? from.address);
  }

  async move(src: Element, dst: Element): Promise<void> {
    if (!src.tag) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.MEDIUM_SOURCE_EMPTY);
    if (src === dst) return;
    if (dst.tag) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.MEDIUM_DESTINATION_FULL);
    const tag = await this.take(src);
    await this.put(dst, tag, src);
    await this.save();
    this.o.log('info', `moved ${tag} from ${src.address.toString(16)}h to ${dst.address.toString(16)}h`);
  }

  /** EXCHANGE MEDIUM: source -> first destination, first destination's medium -> second. */
  async exchange(src: Element, d1: Element, d2: Element): Promise<void> {
    if (!src.tag || !d1.tag) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.MEDIUM_SOURCE_EMPTY);
    if (d2 !== src && d2.tag) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, SmcAsc.MEDIUM_DESTINATION_FULL);
    if (src === d1) return;
    const a = await this.take(src);
    const b = await this.take(d1);
    await this.put(d1, a, src);
    await this.put(d2, b, d1);
    await this.save();
  }

  /** INITIALIZE ELEMENT STATUS: re-reads the folder; new media go to free slots, vanished ones leave. */
  async inventory(): Promise<void> {
    await this.scan();
    for (const e of this.elements) {
      if (e.tag && !this.media.has(e.tag) && !e.drive) e.tag = undefined;
    }
    const placed = new Set(this.elements.flatMap((e) => (e.tag ? [e.tag] : [])));
    for (const tag of [...this.media.keys()].sort()) {
      if (placed.has(tag)) continue;
      const free = this.of(ElementType.IMPORT_EXPORT).find((e) => !e.tag) ?? this.of(ElementType.STORAGE).find((e) => !e.tag);
      if (free) free.tag = tag;
    }
    await this.save();
  }
}
