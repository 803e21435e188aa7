// A folder of disc images served as a set of DVD drives: one drive (one LUN) per *.iso / *.img,
// all in one target. `fileio_tgt --type cdrom dvds /isos/` (a cdrom device whose FILE is a folder).
//
// - Drive names: SET-STEM (the file name without .iso/.img; characters a device name cannot hold
//   become "_"; a name that had to change or is too long gets "-" and 4 hex digits of a hash of
//   the file name, so it depends on that file only). The INQUIRY serial follows from the name.
// - LUN numbers are stable: image file name -> LUN is kept in a state file (default
//   FOLDER/.SET.luns.json, written crash-safely; a read-only folder only costs the stability
//   across restarts). The first start numbers the images in name order from 0; a new image gets
//   the next number never used, so a returning image gets its old LUN back.
// - At run time (ImageFolderWatcher): a new image becomes a new drive, added to the running target
//   by the host (the link raises 3F/0E REPORTED LUNS DATA HAS CHANGED); a removed image is ejected
//   from its drive (media removal event, NOT READY 3A/02), the LUN stays; when an image of that
//   name returns it is loaded again (new media event, 28/00); a replaced image (new inode, size or
//   mtime) is swapped in. The image is gone or replaced, so a PREVENT by an initiator does not
//   keep the old one (the drive's fd would): it is forced, with a warning.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { DeviceConfig } from '../contract.ts';
import type { LuLogger } from '../../scsi/logical-unit.ts';
import { readJsonFile, writeJsonFile } from '../../backing/durable-json.ts';
import { CdromLogicalUnit, createCdromUnit, profileOption } from './create.ts';
import { IsoDisc } from './disc.ts';
import { ImageFolderWatcher, type FolderEvent, type ImageFile } from './image-folder.ts';

/** Highest LUN (flat space addressing). */
const MAX_LUN = 16383;
const DEVICE_NAME_MAX = 64;

/** The device name of the drive for image `fileName` in set `set`. */
export function driveNameFor(set: string, fileName: string): string {
  const stem = fileName.replace(/\.(iso|img)$/i, '');
  const clean = stem.replace(/[^A-Za-z0-9._-]/g, '_');
  const plain = `${set}-${clean}`;
  if (clean === stem && plain.length <= DEVICE_NAME_MAX) return plain;
  const hash = createHash('sha256').update(fileName).digest('hex').slice(0, 4);
  return `${plain.slice(0, DEVICE_NAME_MAX - 5)}-${hash}`;
}

/** Where the host puts a drive created at run time. */
export interface DriveSetSink {
  addLun(lun: number, lu: CdromLogicalUnit): Promise<void>;
}

export interface DriveSetOptions {
  /** The set's device config: name, file (the folder), vendor/product/revision and options for every drive. */
  readonly config: DeviceConfig;
  readonly log: LuLogger;
}

interface LunState {
  version: 1;
  /** image file name -> LUN */
  luns: Record<string, number>;
}

function numberOption(config: DeviceConfig, key: string, fallback: number): number {
  const v = config.options?.[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`device ${config.name}: option ${key} must be a whole number of milliseconds`);
  return v;
}

export class CdromDriveSet {
  readonly name: string;
  readonly folder: string;
  readonly statePath: string;
  /** LUN -> drive: every drive made so far (a removed image keeps its drive, empty). */
  readonly drives = new Map<number, CdromLogicalUnit>();
  private readonly config: DeviceConfig;
  private readonly log: LuLogger;
  /** image file name -> LUN, as saved */
  private readonly lunOf = new Map<string, number>();
  /** image file name -> its drive */
  private readonly byImage = new Map<string, CdromLogicalUnit>();
  private readonly watcher: ImageFolderWatcher;
  private sink: DriveSetSink | undefined;
  private saveWarned = false;

  private constructor(o: DriveSetOptions) {
    profileOption(o.config); // a bad option fails the start, not the first image
    this.config = o.config;
    this.name = o.config.name;
    this.folder = o.config.file!;
    this.log = o.log;
    const state = o.config.options?.['state'];
    this.statePath = typeof state === 'string' ? state : join(this.folder, `.${this.name}.luns.json`);
    this.watcher = new ImageFolderWatcher({
      folder: this.folder,
      settleMs: numberOption(o.config, 'settleMs', 2000),
      rescanMs: numberOption(o.config, 'rescanMs', 10_000),
      log: o.log,
      onEvents: (events) => this.apply(events),
    });
  }

  /**
   * Reads the saved LUN numbers and the folder; makes a drive for every complete image there now.
   * Images written to just before start are waited for once (up to the settle time); one still
   * changing after that is left to the watcher.
   */
  static async open(o: DriveSetOptions): Promise<CdromDriveSet> {
    const set = new CdromDriveSet(o);
    await set.loadLuns();
    const events = await set.watcher.scan();
    const due = set.watcher.tracker.nextSettle(Date.now());
    if (due !== undefined) {
      await new Promise((r) => setTimeout(r, due + 20));
      events.push(...(await set.watcher.scan()));
    }
    // nothing was known before: every event adds an image; number them in name order
    const name = (e: FolderEvent) => (e.kind === 'removed' ? e.name : e.file.name);
    await set.apply(events.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0)));
    return set;
  }

  /** From now on new, removed and replaced images change the drives; new drives go to `sink`. */
  start(sink: DriveSetSink): void {
    this.sink = sink;
    this.watcher.start();
  }

  /** Looks at the folder now (after a scan in progress) and applies what changed. */
  rescan(): Promise<void> {
    return this.watcher.rescan();
  }

  /** Stops watching the folder (the host closes the drives with its other units). */
  close(): Promise<void> {
    return this.watcher.close();
  }

  /** Handles one scan's events, in order (the watcher calls this one scan at a time). */
  async apply(events: readonly FolderEvent[]): Promise<void> {
    const numbered = this.lunOf.size;
    for (const ev of events) {
      try {
        if (ev.kind === 'removed') await this.removed(ev.name);
        else if (this.byImage.has(ev.file.name)) await this.reload(ev.file, ev.kind);
        else await this.added(ev.file);
      } catch (e) {
        this.log('error', `${ev.kind === 'removed' ? ev.name : ev.file.path}: ${(e as Error).message}`);
      }
    }
    if (this.lunOf.size !== numbered) await this.saveLuns();
  }

  private async added(file: ImageFile): Promise<void> {
    let lun = this.lunOf.get(file.name);
    if (lun === undefined) {
      lun = this.lunOf.size === 0 ? 0 : Math.max(...this.lunOf.values()) + 1;
      if (lun > MAX_LUN) throw new Error(`no LUN left (the highest is ${MAX_LUN}); delete ${this.statePath} to renumber`);
      this.lunOf.set(file.name, lun);
    }
    const cfg: DeviceConfig = {
      ...this.config,
      name: driveNameFor(this.name, file.name),
      file: file.path,
      removable: true,
      serial: undefined,
    };
    const disc = await IsoDisc.open(file.path, profileOption(this.config));
    const lu = createCdromUnit(cfg, disc, (level, message) => this.log(level, `${cfg.name}: ${message}`));
    if (this.sink) {
      try {
        await this.sink.addLun(lun, lu);
      } catch (e) {
        await lu.close();
        throw e;
      }
    }
    this.drives.set(lun, lu);
    this.byImage.set(file.name, lu);
  }

  /** The image came back, or was replaced: load it in its drive (unless the drive holds another disc now). */
  private async reload(file: ImageFile, kind: 'added' | 'changed'): Promise<void> {
    const lu = this.byImage.get(file.name)!;
    const held = lu.drive.disc?.path;
    if (held !== undefined && held !== file.path) {
      this.log('info', `${lu.name}: ${file.path} ${kind === 'added' ? 'is back' : 'changed'}; the drive holds ${held} (loaded by hand): left as it is`);
      return;
    }
    if (held !== undefined && lu.drive.prevented) this.log('warn', `${lu.name}: ${file.path} changed while an initiator prevents removal; swapping anyway`);
    await lu.media({ action: held === undefined ? 'load' : 'swap', file: file.path, force: true });
  }

  private async removed(name: string): Promise<void> {
    const lu = this.byImage.get(name);
    if (!lu) return;
    const path = join(this.folder, name);
    if (lu.drive.disc?.path !== path) return; // ejected or replaced by hand already
    if (lu.drive.prevented) this.log('warn', `${lu.name}: ${path} was removed while an initiator prevents removal; ejecting anyway`);
    await lu.media({ action: 'eject', force: true });
  }

  private async loadLuns(): Promise<void> {
    let doc: LunState | undefined;
    try {
      doc = (await readJsonFile(this.statePath)) as LunState | undefined;
    } catch (e) {
      this.log('warn', `ignoring ${this.statePath}: ${(e as Error).message}`);
    }
    if (doc === undefined) return;
    if (typeof doc !== 'object' || doc === null || doc.version !== 1 || typeof doc.luns !== 'object' || doc.luns === null) {
      this.log('warn', `ignoring ${this.statePath}: not a LUN map (version 1)`);
      return;
    }
    const used = new Set<number>();
    for (const [name, lun] of Object.entries(doc.luns)) {
      if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN || used.has(lun)) continue;
      used.add(lun);
      this.lunOf.set(name, lun);
    }
  }

  private async saveLuns(): Promise<void> {
    try {
      await writeJsonFile(this.statePath, { version: 1, luns: Object.fromEntries(this.lunOf) } satisfies LunState);
    } catch (e) {
      if (!this.saveWarned) this.log('warn', `cannot save LUN numbers to ${this.statePath} (${(e as Error).message}); they may change at the next start (options.state names another file)`);
      this.saveWarned = true;
    }
  }
}
