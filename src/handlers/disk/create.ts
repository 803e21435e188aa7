// Builds a disk logical unit (SBC-4) from a DeviceConfig and a block store.
import type { DeviceConfig, HandlerHost } from '../contract.ts';
import { FileStore } from '../../backing/file-store.ts';
import { DEFAULT_NULLIO_SIZE, NullStore } from '../../backing/null-store.ts';
import type { BlockStore } from '../../backing/store.ts';
import { DeviceType, VersionDescriptor } from '../../scsi/constants.ts';
import { deriveIdentity } from '../../scsi/inquiry.ts';
import { ScsiLogicalUnit, type LuLogger } from '../../scsi/logical-unit.ts';
import { invalidParamField } from '../../scsi/sense.ts';
import { DiskDevice, type DiskSettings } from './device.ts';
import { blockDeviceCharacteristics, blockLimits, diskModePages, logicalBlockProvisioning } from './pages.ts';
import { sbcCommands } from './sbc.ts';

/** Largest transfer we accept (VPD B0h MAXIMUM TRANSFER LENGTH): 8 MiB, held in memory per command. */
export const DEFAULT_MAX_TRANSFER_BYTES = 8 << 20;
export const DEFAULT_OPTIMAL_TRANSFER_BYTES = 1 << 20;
/** Physical block size reported by default: the page size files are cached in. */
export const DEFAULT_PHYSICAL_BLOCK_SIZE = 4096;

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

/** Opens the store a DeviceConfig asks for: nullio, or the backing file with -r/-t/-o/-c. */
export async function openStore(config: DeviceConfig): Promise<BlockStore> {
  checkBlockSize(config);
  if (config.nullio || config.file === undefined) {
    const size = config.sizeBytes ?? DEFAULT_NULLIO_SIZE;
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

/** Builds the disk LU over an open store (tests call this with their own stores). */
export function createDiskUnit(config: DeviceConfig, store: BlockStore, log: LuLogger): ScsiLogicalUnit {
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
  };
  if (config.thin) log('warn', `${config.name}: thin provisioning is not implemented yet; the LU reports full provisioning`);
  const dev = new DiskDevice(settings, store, log);
  const companyId = config.options?.['naaCompanyId'];
  const identity = deriveIdentity({
    name: config.name,
    vendor: config.vendor,
    product: config.product,
    revision: config.revision,
    serial: config.serial,
    companyId: typeof companyId === 'number' ? companyId : undefined,
  });
  const vpd = new Map<number, () => Buffer>([
    [0xb0, () => blockLimits({ granularityBlocks: physical / bs, maxTransferBlocks, optimalTransferBlocks })],
    [0xb1, () => blockDeviceCharacteristics()],
    [0xb2, () => logicalBlockProvisioning({ unmap: false, writeSame10: false, writeSame16: false, lbprz: false, thin: false })],
  ]);
  const lu = new ScsiLogicalUnit({
    name: config.name,
    type: config.type,
    peripheralType: DeviceType.DISK,
    removable: config.removable,
    identity,
    versionDescriptors: [VersionDescriptor.SAM_5, VersionDescriptor.SPC_4, VersionDescriptor.SBC_3],
    commands: sbcCommands(dev, { log: (m) => log('error', `${config.name}: ${m}`) }),
    modePages: diskModePages({ writeThrough: config.writeThrough }),
    vpd,
    volatileCache: () => !config.nvCache,
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
    checkReady: () => dev.checkReady(),
    onReset: () => {
      dev.stopped = false;
    },
    describe: () => dev.describe(),
    flush: () => dev.flush(),
    close: () => store.close(),
    log,
  });
  dev.attach(lu.modePages);
  return lu;
}

/** The HandlerModule.create of the disk type. */
export async function createDisk(config: DeviceConfig, host: HandlerHost): Promise<ScsiLogicalUnit> {
  const store = await openStore(config);
  try {
    return createDiskUnit(config, store, (level, message) => host.log(level, message));
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
}
