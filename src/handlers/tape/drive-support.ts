// What the tape drive needs around its state (drive.ts): the SSC-4 sense codes it reports, its
// settings, the INFORMATION and SPACE(6) count encodings, the index-rebuild progress log and the
// logical block protection check of a written block.
import { access } from 'node:fs/promises';
import { crc32c } from '@node-rs/crc32';
import { SenseKey, type AscPair } from '../../scsi/constants.ts';
import { CheckCondition } from '../../scsi/sense.ts';
import type { LuLogger } from '../../scsi/logical-unit.ts';
import type { TapeDrive } from './drive.ts';

const p = (asc: number, ascq: number): AscPair => Object.freeze({ asc, ascq });

/** SSC-4 additional sense codes used by the tape drive. */
export const TapeAsc = {
  FILEMARK_DETECTED: p(0x00, 0x01),
  END_OF_PARTITION_MEDIUM_DETECTED: p(0x00, 0x02),
  SETMARK_DETECTED: p(0x00, 0x03),
  BEGINNING_OF_PARTITION_MEDIUM_DETECTED: p(0x00, 0x04),
  END_OF_DATA_DETECTED: p(0x00, 0x05),
  MEDIUM_NOT_PRESENT: p(0x3a, 0x00),
  LOGICAL_UNIT_NOT_READY_INITIALIZING_REQUIRED: p(0x04, 0x02),
  VOLUME_OVERFLOW: p(0x00, 0x02),
  WORM_OVERWRITE_ATTEMPTED: p(0x30, 0x0c),
  CLEANING_CARTRIDGE_INSTALLED: p(0x30, 0x03),
  CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT: p(0x30, 0x02),
  INCOMPATIBLE_MEDIUM_INSTALLED: p(0x30, 0x00),
  LOGICAL_BLOCK_GUARD_CHECK_FAILED: p(0x10, 0x01),
  CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT: p(0x30, 0x05),
  MEDIUM_LOAD_OR_EJECT_FAILED: p(0x53, 0x00),
  UNRECOVERED_READ_ERROR: p(0x11, 0x00),
  WRITE_ERROR: p(0x0c, 0x00),
  SEQUENTIAL_POSITIONING_ERROR: p(0x3b, 0x00),
} as const;

export interface DriveSettings {
  readonly name: string;
  /** LU opened read-only (-r): every cartridge is write-protected. */
  readonly readOnly: boolean;
  /** Largest block (READ BLOCK LIMITS MAXIMUM). */
  readonly maxBlock: number;
  /** Highest LTO generation the drive reads and writes. */
  readonly generation: number;
  /**
   * The generation configured for the drive (option, --generation, library): empty cartridge
   * files are formatted as it, and the LTO read/write compatibility rules apply. Undefined: blank
   * files get their label's generation, and the drive takes every generation up to its own.
   */
  readonly blankGeneration?: number;
}

/** What a drive tells the library it belongs to (and the library tells the drive). */
export interface DriveListener {
  /** The host unloaded the cartridge (LOAD UNLOAD with LOAD = 0). */
  unloaded?(drive: TapeDrive): void;
}

/** Sense key VOLUME OVERFLOW (SSC-4). */
export const VOLUME_OVERFLOW_KEY = 0x0d;

/** 24-bit two's complement of a signed count (SPACE(6)). */
export function signed24(v: number): number {
  return v & 0x800000 ? v - 0x1000000 : v;
}

/** INFORMATION for a signed residue (negative: two's complement in 32 bits). */
export function info(n: number): bigint {
  return BigInt.asUintN(32, BigInt(n));
}

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Logs the progress of an index rebuild that takes more than a second, every 5 s. */
export function rebuildProgress(path: string, log: LuLogger): (done: number, total: number) => void {
  const start = Date.now();
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done >= total) {
      if (last > 0) log('info', `${path}: index rebuilt in ${((now - start) / 1000).toFixed(1)} s`);
      return;
    }
    if (now - start < 1000 || now - last < 5000) return;
    last = now;
    log('info', `${path}: rebuilding the index: ${Math.floor((100 * done) / Math.max(1, total))}% of ${total} bytes`);
  };
}

/** LBP_W: the last 4 bytes of a block are the CRC32C of the others (SSC-4 logical block protection). */
export function checkProtection(b: Buffer): void {
  if (b.length < 4 || crc32c(b.subarray(0, b.length - 4)) !== b.readUInt32LE(b.length - 4)) {
    throw new CheckCondition(SenseKey.ABORTED_COMMAND, TapeAsc.LOGICAL_BLOCK_GUARD_CHECK_FAILED);
  }
}
