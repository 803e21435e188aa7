// Pure CDB decoders (SPC-5 §4.2, SBC-4 §5). They throw CheckCondition with the field pointer of
// the first byte/bit at fault.
import { Op } from './constants.ts';
import { CheckCondition, invalidCdbField } from './sense.ts';
import { Asc, SenseKey } from './constants.ts';

/** CDB length implied by the opcode's group code (SPC-5 §4.2.5.1); 0 = variable or vendor. */
export function cdbLengthForOpcode(op: number): number {
  const group = op >> 5;
  switch (group) {
    case 0: return 6;
    case 1: case 2: return 10;
    case 4: return 16;
    case 5: return 12;
    default: return 0;
  }
}

/** Service action in CDB byte 1 bits 4..0. */
export function serviceAction(cdb: Buffer): number {
  return (cdb[1] ?? 0) & 0x1f;
}

/** Throws INVALID FIELD IN CDB pointing at the highest set bit of `cdb[byte] & mask`. */
export function checkReserved(cdb: Buffer, byte: number, mask: number): void {
  const bad = (cdb[byte] ?? 0) & mask;
  if (bad === 0) return;
  let bit = 7;
  while (bit > 0 && !(bad & (1 << bit))) bit--;
  throw invalidCdbField(byte, bit);
}

/** Control byte check: NACA (bit 2) is unsupported (no ACA); LINK (bit 0) is obsolete. */
export function checkControlByte(cdb: Buffer, length: number): void {
  if (length <= 0 || length > cdb.length) return;
  checkReserved(cdb, length - 1, 0x05);
}

export function u16(cdb: Buffer, off: number): number {
  return cdb.readUInt16BE(off);
}
export function u24(cdb: Buffer, off: number): number {
  return (cdb[off]! << 16) | (cdb[off + 1]! << 8) | cdb[off + 2]!;
}
export function u32(cdb: Buffer, off: number): number {
  return cdb.readUInt32BE(off);
}
export function u64(cdb: Buffer, off: number): bigint {
  return cdb.readBigUInt64BE(off);
}

/** A decoded block-access CDB (READ/WRITE/VERIFY/WRITE AND VERIFY/PRE-FETCH/SYNC CACHE). */
export interface BlockCdb {
  readonly lba: bigint;
  /** Number of logical blocks (READ(6)/WRITE(6) 0 already turned into 256). */
  readonly blocks: number;
  readonly fua: boolean;
  readonly dpo: boolean;
  /** RDPROTECT / WRPROTECT / VRPROTECT. */
  readonly protect: number;
  /** BYTCHK (VERIFY, WRITE AND VERIFY). */
  readonly bytchk: number;
  readonly group: number;
  /** Byte offset of the TRANSFER LENGTH field (for field pointers). */
  readonly lengthOffset: number;
}

interface Layout {
  readonly lbaOff: number;
  readonly lbaLen: 4 | 8;
  readonly lenOff: number;
  readonly lenLen: 2 | 4;
  readonly groupOff: number;
}
const L10: Layout = { lbaOff: 2, lbaLen: 4, lenOff: 7, lenLen: 2, groupOff: 6 };
const L12: Layout = { lbaOff: 2, lbaLen: 4, lenOff: 6, lenLen: 4, groupOff: 10 };
const L16: Layout = { lbaOff: 2, lbaLen: 8, lenOff: 10, lenLen: 4, groupOff: 14 };

function layoutOf(op: number): Layout | undefined {
  switch (op >> 5) {
    case 1: case 2: return L10;
    case 5: return L12;
    case 4: return L16;
    default: return undefined;
  }
}

/** READ(6)/WRITE(6): 21-bit LBA, 8-bit length where 0 means 256. */
export function decodeRw6(cdb: Buffer): BlockCdb {
  checkReserved(cdb, 1, 0xe0);
  const lba = BigInt(((cdb[1]! & 0x1f) << 16) | (cdb[2]! << 8) | cdb[3]!);
  const blocks = cdb[4]! === 0 ? 256 : cdb[4]!;
  return { lba, blocks, fua: false, dpo: false, protect: 0, bytchk: 0, group: 0, lengthOffset: 4 };
}

/**
 * READ/WRITE 10/12/16. Byte 1: PROTECT(7..5) DPO(4) FUA(3) RARC(2) obsolete(1) reserved/DLD(0).
 * Protection information is not supported: a non-zero PROTECT field is rejected.
 */
export function decodeRw(cdb: Buffer): BlockCdb {
  const op = cdb[0]!;
  if (op === Op.READ_6 || op === Op.WRITE_6) return decodeRw6(cdb);
  const l = layoutOf(op);
  if (!l) throw invalidCdbField(0);
  const protect = cdb[1]! >> 5;
  if (protect !== 0) throw invalidCdbField(1, 7);
  return decodeLayout(cdb, l, protect, 0);
}

function decodeLayout(cdb: Buffer, l: Layout, protect: number, bytchk: number): BlockCdb {
  const lba = l.lbaLen === 8 ? u64(cdb, l.lbaOff) : BigInt(u32(cdb, l.lbaOff));
  const blocks = l.lenLen === 4 ? u32(cdb, l.lenOff) : u16(cdb, l.lenOff);
  return {
    lba,
    blocks,
    dpo: (cdb[1]! & 0x10) !== 0,
    fua: (cdb[1]! & 0x08) !== 0,
    protect,
    bytchk,
    group: cdb[l.groupOff]! & 0x3f,
    lengthOffset: l.lenOff,
  };
}

/** VERIFY / WRITE AND VERIFY 10/12/16: byte 1 PROTECT(7..5) DPO(4) reserved(3) BYTCHK(2..1) (0 reserved/obsolete). */
export function decodeVerify(cdb: Buffer, isWriteAndVerify: boolean): BlockCdb {
  const l = layoutOf(cdb[0]!);
  if (!l) throw invalidCdbField(0);
  if (cdb[1]! >> 5 !== 0) throw invalidCdbField(1, 7);
  checkReserved(cdb, 1, 0x08);
  const bytchk = (cdb[1]! >> 1) & 3;
  // VERIFY: BYTCHK 2 is reserved. WRITE AND VERIFY: only 0 and 1 are defined.
  if (bytchk === 2 || (isWriteAndVerify && bytchk === 3)) throw invalidCdbField(1, 2);
  const d = decodeLayout(cdb, l, 0, bytchk);
  return { ...d, fua: false };
}

/** SYNCHRONIZE CACHE(10/16) and PRE-FETCH(10/16): byte 1 bit 1 IMMED. */
export function decodeRangeWithImmed(cdb: Buffer): BlockCdb & { immed: boolean } {
  const l = layoutOf(cdb[0]!);
  if (!l) throw invalidCdbField(0);
  checkReserved(cdb, 1, 0xf9 & ~0x04); // bit 2 obsolete SYNC_NV; bit 1 IMMED
  const d = decodeLayout(cdb, l, 0, 0);
  return { ...d, fua: false, dpo: false, immed: (cdb[1]! & 0x02) !== 0 };
}

/** The allocation length of a data-in command whose field sits at `off` with `width` bytes. */
export function allocationLength(cdb: Buffer, off: number, width: 1 | 2 | 4): number {
  if (width === 1) return cdb[off]!;
  if (width === 2) return u16(cdb, off);
  return u32(cdb, off);
}

/** Truncates data to the allocation length (SPC-5 §4.2.5.6). */
export function truncate(data: Buffer, alloc: number): Buffer {
  return data.length > alloc ? data.subarray(0, alloc) : data;
}

/** A CDB that is shorter than its opcode requires. */
export function cdbTooShort(): CheckCondition {
  return new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB, { field: { inCdb: true, byte: 0 } });
}
