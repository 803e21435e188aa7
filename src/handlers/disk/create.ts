// Builds a disk logical unit (SBC-4) from a DeviceConfig and a block store.
import type { DeviceConfig, HandlerHost } from '../contract.ts';
import { CachedStore } from '../../backing/cached-store.ts';
import { FileStore } from '../../backing/file-store.ts';
import { DEFAULT_NULLIO_SIZE, NullStore } from '../../backing/null-store.ts';
import type { BlockStore } from '../../backing/store.ts';
import { DeviceType, VersionDescriptor } from '../../scsi/constants.ts';
import { identityOf } from '../../scsi/inquiry.ts';
import { ScsiLogicalUnit, type LuLogger } from '../../scsi/logical-unit.ts';
import { invalidParamField } from '../../scsi/sense.ts';
import { DiskDevice, type DiskSettings } from './device.ts';
import { blockDeviceCharacteristics, blockLimits, diskModePages, logicalBlockProvisioning } from './pages.ts';
import { sbcCommands } from './sbc.ts';
import { sanitizeHook } from './sbc-maint.ts';
import { MediumControl, mediumCommands } from './medium.ts';
import { defectDataCommands } from './defect-data.ts';
import { CopyManager, copyCommands, registerCopyEndpoint, thirdPartyCopyVpd } from '../../scsi/xcopy.ts';
import { LuReservations } from '../../scsi/reservations/index.ts';

/** Largest transfer we accept (VPD B0h MAXIMUM TRANSFER LENGTH): 8 MiB, held in memory per command. */
export const DEFAULT_MAX_TRANSFER_BYTES = 8 << 20;
export const DEFAULT_OPTIMAL_TRANSFER_BYTES = 1 << 20;
/** Physical block size reported by default: the page size files are cached in. */
export const DEFAULT_PHYSICAL_BLOCK_SIZE = 4096;
/**
 * MAXIMUM WRITE SAME LENGTH: at most 256 MiB and 65535 blocks (what WRITE SAME(10) can express),
 * which bounds how long one WRITE SAME keeps its range locked.
 */
export const DEFAULT_MAX_WRITE_SAME_BYTES = 256 << 20;
export const DEFAULT_MAX_WRITE_SAME_BLOCKS = 0xffff;
/** MAXIMUM UNMAP LBA COUNT in bytes (punching is chunked, ~0.3 s per GiB measured). */
export const DEFAULT_MAX_UNMAP_BYTES = 1 << 30;
/** ... and at most 1 Mi LBAs per UNMAP command (what initiators such as libiscsi deem sane). */
export const DEFAULT_MAX_UNMAP_BLOCKS = 1 << 20;
export const DEFAULT_MAX_UNMAP_DESCRIPTORS = 256;
/** Page cache in front of an O_DIRECT file when the config does not say. */
export const DEFAULT_DIRECT_CACHE_BYTES = 256 << 20;
/** File-system block: the smallest hole fallocate(PUNCH_HOLE) makes. */
const DEFAULT_ALLOCATION_UNIT = 4096;

function numberOption(config: DeviceConfig, key: string, fallback: number): number {
  const v = config.options?.[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new Error(`device ${config.name}: option ${key} must be a positive integer, not ${JSON.stringify(v)}`);
  }
  return v;
}

function checkBlockSize(config: DeviceConfig): void {
  const bs = config.blockSize;
  if (!Number.isInteger(bs) || bs < 512 || (bs & (bs - 1)) !== 0) {
    throw new Error(`device ${config.name}: block size ${bs} is not a power of two >= 512`);
  }
}

/**
 * The page cache size when the config gives none: 0 (none) for a buffered file, whose pages the
 * kernel already caches; DEFAULT_DIRECT_CACHE_BYTES with O_DIRECT, where ours is the only cache.
 */
export function defaultCacheSize(config: DeviceConfig): number {
  return config.direct ? DEFAULT_DIRECT_CACHE_BYTES : 0;
}

/** Opens the store a DeviceConfig asks for: nullio, or the backing file with -r/-t/-o/-c (and a page cache). */
export async function openStore(config: DeviceConfig): Promise<BlockStore> {
  const file = await openFileStore(config);
  if (file instanceof NullStore) return file;
  const budget = config.cacheSize ?? defaultCacheSize(config);
  return budget > 0 ? new CachedStore(file, { budget }) : file;
}

async function openFileStore(config: DeviceConfig): Promise<FileStore | NullStore> {
  checkBlockSize(config);
  if (config.nullio || config.file === undefined) {
    const size = config.sizeBytes ?? (config.file !== undefined ? await sizeOfFile(config.file, config.blockSize) : DEFAULT_NULLIO_SIZE);
    if (!Number.isSafeInteger(size) || size <= 0 || size % config.blockSize !== 0) {
      throw new Error(`device ${config.name}: size ${size} bytes is not a positive multiple of the ${config.blockSize}-byte block size`);
    }
    return new NullStore(size, config.readOnly);
  }
  return FileStore.open({
    path: config.file,
    blockSize: config.blockSize,
    readOnly: config.readOnly,
    writeThrough: config.writeThrough,
    direct: config.direct,
    nvCache: config.nvCache,
  });
}

/**
 * nullio with a FILE and no size: the file (or block device) gives the size, as SCST's
 * fileio_tgt -n does. Opened read-only and closed again; a missing file is an error, never 1 TiB.
 */
async function sizeOfFile(path: string, blockSize: number): Promise<number> {
  const f = await FileStore.open({ path, blockSize, readOnly: true, writeThrough: false, direct: false, nvCache: false });
  await f.close();
  return f.size;
}

function allocationUnitOf(store: BlockStore): number {
  const u = (store as { allocationUnit?: unknown }).allocationUnit;
  return typeof u === 'number' && u > 0 ? u : DEFAULT_ALLOCATION_UNIT;
}

/** Builds the disk LU over an open store (tests call this with their own stores). */
export function createDiskUnit(config: DeviceConfig, store: BlockStore, log: LuLogger, reservations?: LuReservations): ScsiLogicalUnit {
  checkBlockSize(config);
  const bs = config.blockSize;
  const physical = Math.max(bs, numberOption(config, 'physicalBlockSize', DEFAULT_PHYSICAL_BLOCK_SIZE));
  if ((physical & (physical - 1)) !== 0) throw new Error(`device ${config.name}: physicalBlockSize ${physical} is not a power of two`);
  const maxTransferBlocks = Math.max(1, Math.floor(numberOption(config, 'maxTransferBytes', DEFAULT_MAX_TRANSFER_BYTES) / bs));
  const optimalTransferBlocks = Math.min(maxTransferBlocks, Math.max(1, Math.floor(numberOption(config, 'optimalTransferBytes', DEFAULT_OPTIMAL_TRANSFER_BYTES) / bs)));
  const settings: DiskSettings = {
    name: config.name,
    blockSize: bs,
    physicalExponent: Math.log2(physical / bs),
    readOnly: config.readOnly || store.readOnly,
    nvCache: config.nvCache,
    removable: config.removable,
    maxTransferBlocks,
    optimalTransferBlocks,
    thin: config.thin,
    maxWriteSameBlocks: Math.max(1, Math.min(DEFAULT_MAX_WRITE_SAME_BLOCKS, Math.floor(numberOption(config, 'maxWriteSameBytes', DEFAULT_MAX_WRITE_SAME_BYTES) / bs))),
    maxUnmapBlocks: Math.min(DEFAULT_MAX_UNMAP_BLOCKS, Math.max(1, Math.floor(numberOption(config, 'maxUnmapBytes', DEFAULT_MAX_UNMAP_BYTES) / bs))),
    maxUnmapDescriptors: DEFAULT_MAX_UNMAP_DESCRIPTORS,
    unmapGranularity: Math.max(1, Math.floor(allocationUnitOf(store) / bs)),
    maxCompareAndWriteBlocks: Math.min(255, maxTransferBlocks),
    maxAtomicBlocks: Math.min(0xffff, maxTransferBlocks),
  };
  const dev = new DiskDevice(settings, store, log);
  const medium = new MediumControl(dev);
  const identity = identityOf(config);
  const vpd = new Map<number, () => Buffer>([
    [
      0xb0,
      () =>
        blockLimits({
          granularityBlocks: physical / bs,
          maxTransferBlocks,
          optimalTransferBlocks,
          maxCompareAndWriteBlocks: settings.maxCompareAndWriteBlocks,
          unmap: config.thin ? { maxLbaCount: settings.maxUnmapBlocks, maxDescriptors: settings.maxUnmapDescriptors, granularity: settings.unmapGranularity } : undefined,
          maxWriteSameBlocks: BigInt(settings.maxWriteSameBlocks),
          maxAtomicBlocks: settings.maxAtomicBlocks,
        }),
    ],
    [0xb1, () => blockDeviceCharacteristics({ blockErase: config.thin })],
    [0x8f, () => thirdPartyCopyVpd()],
    [0xb2, () => logicalBlockProvisioning({ unmap: config.thin, writeSame10: config.thin, writeSame16: config.thin, lbprz: config.thin, thin: config.thin })],
  ]);
  const copyEndpoint = {
    naa: identity.naa,
    blockSize: bs,
    get blocks() {
      return dev.blocks;
    },
    checkReady: () => dev.checkReady(),
    get writeProtected() {
      return dev.writeProtected;
    },
    read: (lba: bigint, count: number) => dev.read(lba, count),
    write: (lba: bigint, data: Buffer) => dev.write(lba, data, false),
  };
  const copyManager = new CopyManager(copyEndpoint);
  const unregisterCopy = registerCopyEndpoint(copyEndpoint);
  const subLog = (m: string) => log('error', m);
  // persistent reservations; APTPL state is kept next to the image (createDisk restores it)
  const pr = reservations ?? new LuReservations({ image: reservationImage(config), log });
  const lu = new ScsiLogicalUnit({
    name: config.name,
    type: config.type,
    peripheralType: DeviceType.DISK,
    removable: config.removable,
    identity,
    versionDescriptors: [VersionDescriptor.SAM_5, VersionDescriptor.SPC_4, VersionDescriptor.SBC_3],
    commands: [...sbcCommands(dev, { log: subLog }), ...mediumCommands(dev, medium, { log: subLog }), ...defectDataCommands(), ...copyCommands(copyManager), ...pr.commands()],
    modePages: diskModePages({ writeThrough: config.writeThrough }),
    vpd,
    // our page cache is volatile whatever -c says about the backing store's
    volatileCache: () => !config.nvCache || store instanceof CachedStore,
    nonVolatileCache: () => config.nvCache,
    blockDescriptors: {
      descriptor: () => ({ blocks: dev.blocks, blockLength: bs }),
      deviceSpecific: () => (dev.writeProtected ? 0x80 : 0) | 0x10, // WP, DPOFUA
      accept: (blocks, len, long) => {
        if (len !== bs) throw invalidParamField(long ? 12 : 5);
        const shown = long ? dev.blocks : dev.blocks > 0xffffffffn ? 0xffffffffn : dev.blocks;
        if (blocks !== 0n && blocks !== shown) throw invalidParamField(0);
      },
    },
    checkReady: (ctx) => {
      dev.checkReady();
      if (ctx.entry.access === 'read' || ctx.entry.access === 'write') medium.activate();
    },
    onReset: () => {
      medium.reset();
      copyManager.reset();
    },
    onNexusLost: (nexus) => {
      medium.nexusLost(nexus);
      copyManager.nexusLost(nexus.id);
    },
    idleSense: () => medium.powerSense(),
    describe: () => dev.describe(),
    resize: (o) => dev.resize(o),
    flush: () => dev.flush(),
    close: () => {
      unregisterCopy();
      return store.close();
    },
    log,
  });
  dev.attach(lu.modePages);
  pr.attach(lu);
  lu.addHook(sanitizeHook(dev));
  return lu;
}

/** The image whose "<image>.pr.json" holds APTPL reservations (none for nullio). */
function reservationImage(config: DeviceConfig): string | undefined {
  return config.nullio ? undefined : config.file;
}

/** The HandlerModule.create of the disk type. */
export async function createDisk(config: DeviceConfig, host: HandlerHost): Promise<ScsiLogicalUnit> {
  const store = await openStore(config);
  try {
    const log: LuLogger = (level, message) => host.log(level, message);
    const pr = await LuReservations.open({ image: reservationImage(config), log });
    return createDiskUnit(config, store, log, pr);
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
}
