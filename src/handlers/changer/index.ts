// The changer handler module (handlers.json "changer"): an SMC-3 medium changer (peripheral type
// 08h) whose media are the files of one folder and whose data transfer elements are drives of
// this process. Medium-neutral parts: elements.ts (address map), library.ts (who holds what,
// moves, persistence via state.ts), smc.ts (commands, mode pages). Per medium kind: a catalog and
// a drive adapter — tape-adapter.ts (cartridges by header barcode, tape drives) and
// optical-adapter.ts (disc images by file name, cdrom drives: an optical jukebox).
//
// DeviceConfig: file = the media folder; options.media = "tape" (default) | "optical";
// options.drives = device names of the drives (created earlier in the same process);
// options.slots, options.mailSlots; options.state = state file (default FOLDER/.NAME.library.json).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeviceConfig, HandlerHost, HandlerModule } from '../contract.ts';
import { DeviceType, VersionDescriptor } from '../../scsi/constants.ts';
import { deriveIdentity } from '../../scsi/inquiry.ts';
import { ScsiLogicalUnit, type LuLogger } from '../../scsi/logical-unit.ts';
import { ElementType } from './elements.ts';
import { Library } from './library.ts';
import type { ChangerDrive, MediaCatalog } from './medium.ts';
import { discCatalog, opticalChangerDrive } from './optical-adapter.ts';
import { changerCommands, changerModePages } from './smc.ts';
import { blankFormattingCatalog, tapeChangerDrive } from './tape-adapter.ts';

export { Addresses, ElementType, type Element } from './elements.ts';
export { Library, type LibraryOptions } from './library.ts';
export { changerCommands } from './smc.ts';
export type { ChangerDrive, MediaCatalog } from './medium.ts';

/** Version descriptor SMC-3 (T10/1730-D). */
const SMC_3 = 0x0480;

export const MEDIA_KINDS = ['tape', 'optical'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];

interface Kind {
  catalog: (config: DeviceConfig, log: LuLogger) => MediaCatalog;
  drive(changer: string, name: string, host: HandlerHost): ChangerDrive;
  vendor: string;
  product: string;
}

const KINDS: Record<MediaKind, Kind> = {
  tape: { catalog: (config, log) => blankFormattingCatalog(generationOption(config), log), drive: (changer, name) => tapeChangerDrive(changer, name), vendor: 'STK', product: 'L700' },
  optical: { catalog: () => discCatalog, drive: (changer, name, host) => opticalChangerDrive(changer, name, host.unit?.(name)), vendor: 'FILEIO', product: 'DVD JUKEBOX' },
};

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

function generationOption(config: DeviceConfig): number | undefined {
  const v = config.options?.['generation'];
  return v === undefined ? undefined : countOption(config, 'generation', 9, 10) || undefined;
}

/** Default slot count: one per medium file in the folder, plus as many free (at least 10), at most 1024. */
async function defaultSlots(folder: string): Promise<number> {
  const files = (await readdir(folder, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.')).length;
  return Math.min(1024, files + Math.max(10, files));
}

function mediaOption(config: DeviceConfig): MediaKind {
  const v = config.options?.['media'] ?? 'tape';
  if (!MEDIA_KINDS.includes(v as MediaKind)) throw new Error(`device ${config.name}: option media must be ${MEDIA_KINDS.map((k) => `"${k}"`).join(' or ')}, not ${JSON.stringify(v)}`);
  return v as MediaKind;
}

export async function createChanger(config: DeviceConfig, host: HandlerHost): Promise<ScsiLogicalUnit> {
  const log: LuLogger = (level, message) => host.log(level, message);
  const media = mediaOption(config);
  const kind = KINDS[media];
  const catalog = kind.catalog(config, log);
  if (!config.file) throw new Error(`device ${config.name}: a changer needs its ${catalog.noun} folder as FILE`);
  const folder = config.file;
  if (!(await stat(folder).catch(() => undefined))?.isDirectory()) throw new Error(`device ${config.name}: ${folder} is not a folder of ${catalog.noun}s`);
  const drivesGiven = listOption(config, 'drives');
  if (drivesGiven.length === 0) log('warn', `changer ${config.name} has no drives: serve it as a library (--type changer from the command line, or a "libraries" entry of --config)`);
  const drives = drivesGiven.map((name) => kind.drive(config.name, name, host));
  const statePath = typeof config.options?.['state'] === 'string' ? (config.options['state'] as string) : join(folder, `.${config.name}.library.json`);
  const lib = new Library({
    name: config.name,
    folder,
    statePath,
    catalog,
    drives,
    slots: countOption(config, 'slots', await defaultSlots(folder), 0x400),
    mailSlots: countOption(config, 'mailSlots', 1, 0xef),
    log,
  });
  await lib.restore();
  const identity = deriveIdentity({ name: config.name, vendor: config.vendor ?? kind.vendor, product: config.product ?? kind.product, revision: config.revision, serial: config.serial });
  return new ScsiLogicalUnit({
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
      media,
      drives: drives.map((d) => d.name),
      slots: lib.of(ElementType.STORAGE).length,
      mailSlots: lib.of(ElementType.IMPORT_EXPORT).length,
      [`${catalog.noun}s`]: lib.media.size,
      summary: `${media === 'tape' ? 'tape library' : 'optical jukebox'}: ${drives.length} drive${drives.length === 1 ? '' : 's'}, ${lib.of(ElementType.STORAGE).length} slots, ${lib.of(ElementType.IMPORT_EXPORT).length} mail slot(s), ${lib.media.size} ${catalog.noun}s`,
    }),
    flush: async () => undefined,
    close: () => lib.save(),
    log,
  });
}

const changer: HandlerModule = {
  description: 'SMC-3 medium changer (tape library or optical jukebox) linked to drives of this process',
  create: createChanger,
};

export default changer;
