// Records of the cartridge format (README.md: Records): the 36-byte self-checking header that
// precedes each data block, filemark and setmark, and the binary search the index uses.
import { crc32c } from '@node-rs/crc32';

export const RECORD_MAGIC = 0x31524654; // "TFR1"
export const RECORD_HEADER = 36;
/** Largest record we write or accept (a block is at most 16 MiB; the drive limits it further). */
export const MAX_RECORD = 16 << 20;

export const RecordKind = { DATA: 1, FILEMARK: 2, SETMARK: 3 } as const;
export type RecordKindValue = (typeof RecordKind)[keyof typeof RecordKind];

export function encodeRecordHeader(kind: number, flags: number, seq: number, stored: number, logical: number, epoch: number, payloadCrc: number): Buffer {
  const h = Buffer.alloc(RECORD_HEADER);
  h.writeUInt32LE(RECORD_MAGIC, 0);
  h[4] = kind;
  h[5] = flags;
  h.writeBigUInt64LE(BigInt(seq), 8);
  h.writeUInt32LE(stored, 16);
  h.writeUInt32LE(logical, 20);
  h.writeUInt32LE(epoch, 24);
  h.writeUInt32LE(payloadCrc, 28);
  h.writeUInt32LE(crc32c(h.subarray(0, 32)), 32);
  return h;
}

export interface RecordHeader {
  kind: number;
  flags: number;
  seq: number;
  stored: number;
  logical: number;
  epoch: number;
  crc: number;
}

export function decodeRecordHeader(b: Buffer): RecordHeader | undefined {
  if (b.length < RECORD_HEADER || b.readUInt32LE(0) !== RECORD_MAGIC) return undefined;
  if (crc32c(b.subarray(0, 32)) !== b.readUInt32LE(32)) return undefined;
  const kind = b[4]!;
  if (kind < 1 || kind > 3) return undefined;
  return {
    kind,
    flags: b[5]!,
    seq: Number(b.readBigUInt64LE(8)),
    stored: b.readUInt32LE(16),
    logical: b.readUInt32LE(20),
    epoch: b.readUInt32LE(24),
    crc: b.readUInt32LE(28),
  };
}

/** Index of the first element of sorted `a` that is >= x. */
export function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

