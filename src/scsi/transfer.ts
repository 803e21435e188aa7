// Data direction and transfer length of a CDB, per peripheral device type: what a kernel link
// must tell the kernel before the command runs (scst_user PARSE: direction, buffer length, and
// whether the command writes the medium). The answer comes from the CDB alone, as SPC-5 §4.2.5
// defines it (allocation length, parameter list length, transfer length in blocks); the device
// server still validates every field when the command executes.
import { DeviceType } from './constants.ts';

export type TransferDirection = 'none' | 'read' | 'write';

export interface Transfer {
  readonly direction: TransferDirection;
  /** Bytes to move; 0 exactly when direction is 'none'. */
  readonly length: number;
  /** The command changes the medium (refused on read-only LUNs: SCST's WRITE_MEDIUM). */
  readonly mediumWrite: boolean;
}

export interface TransferContext {
  /** Logical block size (disk, CD/DVD): READ/WRITE lengths are in blocks. */
  readonly blockSize: number;
  /** Tape: the current fixed block length (0 = variable mode), asked only for FIXED=1 transfers. */
  readonly fixedBlockLength?: () => number | undefined;
}

type Rule = (cdb: Buffer, ctx: TransferContext) => Transfer | undefined;

const NONE: Transfer = Object.freeze({ direction: 'none', length: 0, mediumWrite: false });

function make(direction: TransferDirection, length: number, mediumWrite = false): Transfer {
  return length > 0 ? { direction, length, mediumWrite } : mediumWrite ? { ...NONE, mediumWrite } : NONE;
}

/** Big-endian unsigned field of `width` bytes at `off`, or undefined when the CDB is too short. */
function field(cdb: Buffer, off: number, width: number): number | undefined {
  if (cdb.length < off + width) return undefined;
  return cdb.readUIntBE(off, width);
}

const none: Rule = () => NONE;
const noneWrite: Rule = () => make('none', 0, true);
/** Data-in whose allocation length sits at off (width bytes). */
const allocIn = (off: number, width: number): Rule => (cdb) => {
  const n = field(cdb, off, width);
  return n === undefined ? undefined : make('read', n);
};
/** Data-out whose parameter list length sits at off (width bytes). */
const paramOut = (off: number, width: number, mediumWrite = false): Rule => (cdb) => {
  const n = field(cdb, off, width);
  return n === undefined ? undefined : make('write', n, mediumWrite);
};
const fixedIn = (n: number): Rule => () => make('read', n);
/** Transfer length in logical blocks at off (width bytes); zeroMeans256 for READ(6)/WRITE(6). */
const blocks = (direction: TransferDirection, off: number, width: number, mediumWrite: boolean, zeroMeans256 = false): Rule => (cdb, ctx) => {
  let n = field(cdb, off, width);
  if (n === undefined) return undefined;
  if (zeroMeans256 && n === 0) n = 256;
  return make(direction, n * ctx.blockSize, mediumWrite);
};

// ---------------------------------------------------------------------------------------------
// SPC-5: every device type
// ---------------------------------------------------------------------------------------------

const spc = new Map<number, Rule>([
  [0x00, none], // TEST UNIT READY
  [0x03, allocIn(4, 1)], // REQUEST SENSE
  [0x12, allocIn(3, 2)], // INQUIRY
  [0x15, paramOut(4, 1)], // MODE SELECT(6)
  [0x16, none], // RESERVE(6)
  [0x17, none], // RELEASE(6)
  [0x1a, allocIn(4, 1)], // MODE SENSE(6)
  [0x1c, allocIn(3, 2)], // RECEIVE DIAGNOSTIC RESULTS
  [0x1d, paramOut(3, 2)], // SEND DIAGNOSTIC
  [0x1e, none], // PREVENT ALLOW MEDIUM REMOVAL
  [0x3b, paramOut(6, 3)], // WRITE BUFFER
  [0x3c, allocIn(6, 3)], // READ BUFFER
  [0x4c, paramOut(7, 2)], // LOG SELECT
  [0x4d, allocIn(7, 2)], // LOG SENSE
  [0x55, paramOut(7, 2)], // MODE SELECT(10)
  [0x56, paramOut(7, 2)], // RESERVE(10)
  [0x57, paramOut(7, 2)], // RELEASE(10)
  [0x5a, allocIn(7, 2)], // MODE SENSE(10)
  [0x5e, allocIn(7, 2)], // PERSISTENT RESERVE IN
  [0x5f, paramOut(5, 4)], // PERSISTENT RESERVE OUT
  [0x83, paramOut(10, 4)], // EXTENDED COPY
  [0x84, allocIn(10, 4)], // RECEIVE COPY RESULTS
  [0x8c, allocIn(10, 4)], // READ ATTRIBUTE
  [0x8d, paramOut(10, 4)], // WRITE ATTRIBUTE
  [0xa0, allocIn(6, 4)], // REPORT LUNS
  [0xa3, allocIn(6, 4)], // MAINTENANCE IN (RTPG, RSOC, RSTMF)
  [0xa4, paramOut(6, 4)], // MAINTENANCE OUT (SET TARGET PORT GROUPS)
]);

// ---------------------------------------------------------------------------------------------
// SBC-4: direct-access block devices
// ---------------------------------------------------------------------------------------------

/** VERIFY: BYTCHK 0 reads the medium only; 1 compares the data-out; 3 compares one block with all. */
const verify = (off: number, width: number): Rule => (cdb, ctx) => {
  const n = field(cdb, off, width);
  if (n === undefined) return undefined;
  const bytchk = ((cdb[1] ?? 0) >> 1) & 3;
  if (bytchk === 0) return NONE;
  return make('write', (bytchk === 3 ? Math.min(n, 1) : n) * ctx.blockSize);
};
/** WRITE SAME: one block of data-out, none with NDOB (byte 1 bit 0, 16-byte form). */
const writeSame = (ndob: boolean): Rule => (cdb, ctx) => (ndob && (cdb[1]! & 1) !== 0 ? make('none', 0, true) : make('write', ctx.blockSize, true));
/** FORMAT UNIT: FMTDATA brings a parameter list whose length the CDB does not give (unknown). */
const formatUnit: Rule = (cdb) => ((cdb[1] ?? 0) & 0x10 ? undefined : make('none', 0, true));

const sbc = new Map<number, Rule>([
  [0x04, formatUnit],
  [0x08, blocks('read', 4, 1, false, true)], // READ(6)
  [0x0a, blocks('write', 4, 1, true, true)], // WRITE(6)
  [0x1b, none], // START STOP UNIT
  [0x25, fixedIn(8)], // READ CAPACITY(10)
  [0x28, blocks('read', 7, 2, false)], // READ(10)
  [0x2a, blocks('write', 7, 2, true)], // WRITE(10)
  [0x2e, blocks('write', 7, 2, true)], // WRITE AND VERIFY(10)
  [0x2f, verify(7, 2)], // VERIFY(10)
  [0x34, none], // PRE-FETCH(10)
  [0x35, none], // SYNCHRONIZE CACHE(10)
  [0x37, allocIn(7, 2)], // READ DEFECT DATA(10)
  [0x41, writeSame(false)], // WRITE SAME(10)
  [0x42, paramOut(7, 2, true)], // UNMAP
  [0x48, paramOut(7, 2, true)], // SANITIZE
  [0x88, blocks('read', 10, 4, false)], // READ(16)
  [0x89, (cdb, ctx) => { const n = field(cdb, 13, 1); return n === undefined ? undefined : make('write', 2 * n * ctx.blockSize, true); }], // COMPARE AND WRITE
  [0x8a, blocks('write', 10, 4, true)], // WRITE(16)
  [0x8b, blocks('write', 10, 4, true)], // ORWRITE(16)
  [0x8e, blocks('write', 10, 4, true)], // WRITE AND VERIFY(16)
  [0x8f, verify(10, 4)], // VERIFY(16)
  [0x90, none], // PRE-FETCH(16)
  [0x91, none], // SYNCHRONIZE CACHE(16)
  [0x93, writeSame(true)], // WRITE SAME(16)
  [0x9c, blocks('write', 12, 2, true)], // WRITE ATOMIC(16)
  [0x9e, allocIn(10, 4)], // SERVICE ACTION IN(16): READ CAPACITY(16), GET LBA STATUS
  [0xa8, blocks('read', 6, 4, false)], // READ(12)
  [0xaa, blocks('write', 6, 4, true)], // WRITE(12)
  [0xae, blocks('write', 6, 4, true)], // WRITE AND VERIFY(12)
  [0xaf, verify(6, 4)], // VERIFY(12)
  [0xb7, allocIn(6, 4)], // READ DEFECT DATA(12)
]);

// ---------------------------------------------------------------------------------------------
// MMC-6: CD/DVD
// ---------------------------------------------------------------------------------------------

/** READ CD: user data only (2048 bytes a sector) or the full 2352-byte raw sector; else unknown. */
const readCd: Rule = (cdb) => {
  const n = field(cdb, 6, 3);
  if (n === undefined) return undefined;
  const select = cdb[9]! & 0xf8;
  if (select === 0) return NONE;
  if (select === 0x10) return make('read', n * 2048);
  if (select === 0xf8) return make('read', n * 2352);
  return undefined;
};

const mmc = new Map<number, Rule>([
  [0x08, blocks('read', 4, 1, false, true)], // READ(6)
  [0x1b, none], // START STOP UNIT
  [0x23, allocIn(7, 2)], // READ FORMAT CAPACITIES
  [0x25, fixedIn(8)], // READ CAPACITY
  [0x28, blocks('read', 7, 2, false)], // READ(10)
  [0x2a, blocks('write', 7, 2, true)], // WRITE(10): refused by a read-only disc, data-out still sized
  [0x2b, none], // SEEK(10)
  [0x2f, none], // VERIFY(10) of a read-only disc: medium check, no data
  [0x35, none], // SYNCHRONIZE CACHE
  [0x42, allocIn(7, 2)], // READ SUB-CHANNEL
  [0x43, allocIn(7, 2)], // READ TOC/PMA/ATIP
  [0x44, allocIn(7, 2)], // READ HEADER
  [0x46, allocIn(7, 2)], // GET CONFIGURATION
  [0x4a, allocIn(7, 2)], // GET EVENT STATUS NOTIFICATION
  [0x51, allocIn(7, 2)], // READ DISC INFORMATION
  [0x52, allocIn(7, 2)], // READ TRACK INFORMATION
  [0x5c, allocIn(7, 2)], // READ BUFFER CAPACITY
  [0xa4, allocIn(8, 2)], // REPORT KEY (MMC's A4h)
  [0xa8, blocks('read', 6, 4, false)], // READ(12)
  [0xaa, blocks('write', 6, 4, true)], // WRITE(12)
  [0xad, allocIn(8, 2)], // READ DVD STRUCTURE
  [0xbb, none], // SET CD SPEED
  [0xbd, allocIn(8, 2)], // MECHANISM STATUS
  [0xbe, readCd],
]);

// ---------------------------------------------------------------------------------------------
// SSC-4: tape
// ---------------------------------------------------------------------------------------------

/** READ(6)/WRITE(6)/READ REVERSE(6): FIXED=1 counts blocks of the current length, else bytes. */
const tapeIo = (direction: TransferDirection, mediumWrite: boolean): Rule => (cdb, ctx) => {
  const n = field(cdb, 2, 3);
  if (n === undefined) return undefined;
  if ((cdb[1]! & 1) === 0) return make(direction, n, mediumWrite);
  const bl = ctx.fixedBlockLength?.();
  if (!bl) return undefined; // fixed mode without a known block length: the device decides
  return make(direction, n * bl, mediumWrite);
};
/** READ POSITION: short forms 20 bytes, long form 32, extended form by allocation length. */
const readPosition: Rule = (cdb) => {
  const sa = (cdb[1] ?? 0) & 0x1f;
  if (sa === 0 || sa === 1) return make('read', 20);
  if (sa === 6) return make('read', 32);
  return allocIn(7, 2)(cdb, { blockSize: 0 });
};

/** SECURITY PROTOCOL IN/OUT: length at bytes 6..9, in 512-byte units with INC_512 (byte 4 bit 7). */
const securityLength = (direction: TransferDirection): Rule => (cdb) => {
  const n = field(cdb, 6, 4);
  return n === undefined ? undefined : make(direction, (cdb[4] ?? 0) & 0x80 ? n * 512 : n);
};

const ssc = new Map<number, Rule>([
  [0x01, none], // REWIND
  [0x05, (cdb) => make('read', (cdb[1] ?? 0) & 1 ? 20 : 6)], // READ BLOCK LIMITS (MLOI: 20 bytes)
  [0x08, tapeIo('read', false)], // READ(6)
  [0x0a, tapeIo('write', true)], // WRITE(6)
  [0x0f, tapeIo('read', false)], // READ REVERSE(6)
  [0x10, noneWrite], // WRITE FILEMARKS(6)
  [0x11, none], // SPACE(6)
  [0x19, noneWrite], // ERASE(6)
  [0x1b, none], // LOAD UNLOAD
  [0x2b, none], // LOCATE(10)
  [0x34, readPosition],
  [0x44, allocIn(7, 2)], // REPORT DENSITY SUPPORT
  [0x80, noneWrite], // WRITE FILEMARKS(16)
  [0x91, none], // SPACE(16)
  [0x92, none], // LOCATE(16)
  [0x82, none], // ALLOW OVERWRITE
  [0xa2, securityLength('read')], // SECURITY PROTOCOL IN
  [0xb5, securityLength('write')], // SECURITY PROTOCOL OUT
]);

// ---------------------------------------------------------------------------------------------
// SMC-3: medium changers
// ---------------------------------------------------------------------------------------------

const smc = new Map<number, Rule>([
  [0x07, none], // INITIALIZE ELEMENT STATUS
  [0x1b, none], // OPEN/CLOSE IMPORT/EXPORT ELEMENT
  [0x2b, none], // POSITION TO ELEMENT
  [0x37, none], // INITIALIZE ELEMENT STATUS WITH RANGE
  [0xa5, none], // MOVE MEDIUM
  [0xa6, none], // EXCHANGE MEDIUM
  [0xb5, allocIn(7, 3)], // REQUEST VOLUME ELEMENT ADDRESS
  [0xb6, paramOut(8, 2)], // SEND VOLUME TAG
  [0xb8, allocIn(7, 3)], // READ ELEMENT STATUS
]);

const BY_TYPE = new Map<number, ReadonlyMap<number, Rule>>([
  [DeviceType.DISK, sbc],
  [DeviceType.CDROM, mmc],
  [DeviceType.TAPE, ssc],
  [DeviceType.CHANGER, smc],
]);

/**
 * Direction, length and medium-write flag of a CDB for a device of `peripheralType`, or
 * undefined when the opcode is unknown or its length cannot be told from the CDB (a too-short
 * CDB, FORMAT UNIT parameter data, fixed-block tape I/O without a block length).
 */
export function transferOf(cdb: Buffer, peripheralType: number, ctx: TransferContext): Transfer | undefined {
  if (cdb.length === 0) return undefined;
  const op = cdb[0]!;
  const rule = BY_TYPE.get(peripheralType)?.get(op) ?? spc.get(op);
  return rule?.(cdb, ctx);
}
