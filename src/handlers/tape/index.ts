// The tape handler module (handlers.json "tape"): an SSC-4 sequential-access drive (peripheral
// type 01h) over cartridge files in our own format (src/media). `fileio_tgt --type tape NAME FILE`
// serves a drive with that cartridge loaded; FILE "-" (or "none") is an empty drive. A library
// (src/handlers/changer) moves cartridges in and out of drives it finds in `tapeDrives`.
import type { DeviceConfig, HandlerHost, HandlerModule } from '../contract.ts';
import { DeviceType, VersionDescriptor } from '../../scsi/constants.ts';
import { deriveIdentity } from '../../scsi/inquiry.ts';
import { ScsiLogicalUnit, type LuLogger } from '../../scsi/logical-unit.ts';
import { Asc } from '../../scsi/constants.ts';
import { invalidParamField } from '../../scsi/sense.ts';
import { LuReservations } from '../../scsi/reservations/index.ts';
import { DEFAULT_GENERATION, densityByCode } from '../../media/density.ts';
import { TapeDrive } from './drive.ts';
import { CONTROL_MODE_PAGE, DATA_COMPRESSION_PAGE, DATA_PROTECTION_SUBPAGE, DEVICE_CONFIGURATION_PAGE, LbpMethod, MEDIUM_CONFIGURATION_PAGE, tapeModePages } from './pages.ts';
import { sscCommands } from './ssc.ts';
import { securityCommands } from './security.ts';

export { TapeDrive } from './drive.ts';

/** Version descriptor SSC-4 (T10/2123-D). */
const SSC_4 = 0x0560;

/** Drives of this process by device name (the changer links its data transfer elements here). */
export const tapeDrives = new Map<string, { drive: TapeDrive; lu: ScsiLogicalUnit }>();

const EMPTY = new Set(['-', 'none', '']);

function optionNumber(config: DeviceConfig, key: string, fallback: number, min: number, max: number): number {
  const v = config.options?.[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Error(`device ${config.name}: option ${key} must be an integer from ${min} to ${max}`);
  return v;
}

/** Builds the drive LU (no cartridge yet). */
export function createTapeUnit(config: DeviceConfig, log: LuLogger, reservations?: LuReservations): { lu: ScsiLogicalUnit; drive: TapeDrive } {
  const generation = optionNumber(config, 'generation', DEFAULT_GENERATION, 1, 9);
  const explicit = config.options?.['generation'] !== undefined;
  const drive = new TapeDrive(
    {
      name: config.name,
      readOnly: config.readOnly,
      maxBlock: optionNumber(config, 'maxBlockBytes', 1 << 20, 512, 8 << 20),
      generation,
      ...(explicit ? { blankGeneration: generation } : {}),
    },
    log,
  );
  const identity = deriveIdentity({
    name: config.name,
    vendor: config.vendor ?? 'IBM',
    product: config.product ?? `ULT3580-TD${generation}`,
    revision: config.revision,
    serial: config.serial,
  });
  const pr = reservations ?? new LuReservations({ log });
  let staged: { blockLength: number } | undefined;
  const lu = new ScsiLogicalUnit({
    name: config.name,
    type: config.type,
    peripheralType: DeviceType.TAPE,
    removable: true,
    identity,
    versionDescriptors: [VersionDescriptor.SAM_5, VersionDescriptor.SPC_4, SSC_4],
    commands: [...sscCommands(drive), ...securityCommands(drive), ...pr.commands()],
    modePages: tapeModePages(),
    blockDescriptors: {
      descriptor: () => ({ blocks: 0n, blockLength: drive.blockLength }),
      density: () => drive.cart?.header.density ?? 0,
      deviceSpecific: () => (drive.writeProtected ? 0x80 : 0) | (drive.bufferedMode << 4),
      accept: (_blocks, len, long, density) => {
        if (long) throw invalidParamField(0);
        if (density !== undefined && density !== 0 && density !== 0x7f) {
          const d = densityByCode(density);
          if (!d || d.generation > generation || (drive.cart && density !== drive.cart.header.density)) throw invalidParamField(0);
        }
        if (len !== 0 && (len > drive.settings.maxBlock || len > 0xffffff)) throw invalidParamField(5);
        staged = { blockLength: len };
      },
      acceptDeviceSpecific: (v) => {
        drive.bufferedMode = (v >> 4) & 0x07 ? 1 : 0;
        if (staged) drive.blockLength = staged.blockLength;
        staged = undefined;
      },
    },
    checkReady: () => {
      drive.checkReady();
    },
    onReset: () => {
      drive.preventers.clear();
      drive.encryption.clear('reset');
    },
    onNexusLost: (nexus) => {
      drive.preventers.release(nexus.id);
      drive.encryption.nexusLost(nexus.id);
    },
    describe: () => drive.describe(),
    flush: () => drive.flush(),
    close: async () => {
      tapeDrives.delete(config.name);
      await drive.remove();
    },
    log,
  });
  pr.attach(lu);
  const syncPages = () => {
    const dc = lu.modePages.current(DATA_COMPRESSION_PAGE)!;
    drive.compression = (dc[2]! & 0x80) !== 0;
    const cfg = lu.modePages.current(DEVICE_CONFIGURATION_PAGE)!;
    void cfg;
    const dp = lu.modePages.current(CONTROL_MODE_PAGE, DATA_PROTECTION_SUBPAGE)!;
    const crc = dp[4] === LbpMethod.CRC32C;
    drive.lbp = { write: crc && (dp[6]! & 0x80) !== 0, read: crc && (dp[6]! & 0x40) !== 0 };
  };
  lu.modePages.onChange(() => syncPages());
  syncPages();
  drive.onMediumChange = (present) => {
    const page = Buffer.from(lu.modePages.current(MEDIUM_CONFIGURATION_PAGE)!);
    page[2] = present && drive.cart?.worm ? 0x01 : 0x00; // WORMM
    lu.modePages.setCurrent(MEDIUM_CONFIGURATION_PAGE, 0, page);
    if (present) lu.ua.addAll(Asc.NOT_READY_TO_READY_CHANGE);
  };
  tapeDrives.set(config.name, { drive, lu });
  return { lu, drive };
}

export async function createTape(config: DeviceConfig, host: HandlerHost): Promise<ScsiLogicalUnit> {
  const log: LuLogger = (level, message) => host.log(level, message);
  const { lu, drive } = createTapeUnit(config, log);
  if (config.file !== undefined && !EMPTY.has(config.file)) {
    try {
      await drive.insert(config.file);
    } catch (e) {
      tapeDrives.delete(config.name);
      throw e;
    }
  }
  return lu;
}

const tape: HandlerModule = {
  description: 'SSC-4 tape drive (LTO) over cartridge files made with "fileio_tgt tape create"; FILE "-" is an empty drive',
  create: createTape,
};

export default tape;
