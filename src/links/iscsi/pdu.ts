// iSCSI PDU codec: Basic Header Segment (48 bytes) + AHS, as pure functions over Buffer.
// Inbound: every initiator opcode is parsed into a typed object (no copies of data segments).
// Outbound: every target opcode is serialized into a fresh 48-byte BHS; the data segment is
// kept as a separate Buffer so the writer can send it without copying.

import { BHS_LENGTH, FLAG_FINAL, FLAG_IMMEDIATE, LoginFlag, Opcode, RejectReason, ScsiCmdFlag, TextFlag } from './constants.ts';
import { decodeLun } from './lun.ts';

/** One framed PDU as it came off the wire (digests already checked and stripped). */
export interface RawPdu {
  /** The 48-byte BHS. */
  readonly bhs: Buffer;
  /** Additional header segments (TotalAHSLength * 4 bytes, may be empty). */
  readonly ahs: Buffer;
  /** Data segment without padding. */
  readonly data: Buffer;
  /**
   * When set, the data segment was received into the start of this buffer, which belongs to the
   * PDU and is long enough for the whole write it starts (ExpectedDataTransferLength): the write
   * collects the rest of its data there instead of copying. It comes from the write buffer pool:
   * the task gives it back when it finishes (placeWriteData in scsi-io.ts).
   */
  readonly dataHome?: Buffer | undefined;
}

/** A PDU the target sends: BHS (+ optional AHS) and a data segment kept separate. */
export interface OutPdu {
  readonly bhs: Buffer;
  readonly ahs?: Buffer;
  readonly data?: Buffer;
  /** The data segment as several buffers (pinned cache pages), instead of `data`. */
  readonly dataParts?: readonly Buffer[];
}

/** Length of an outgoing PDU's data segment (without padding). */
export function outDataLength(pdu: OutPdu): number {
  if (pdu.data) return pdu.data.length;
  let n = 0;
  if (pdu.dataParts) for (const p of pdu.dataParts) n += p.length;
  return n;
}

/** A header field the target must reject; reason is an iSCSI Reject reason code. */
export class PduError extends Error {
  readonly reason: number;
  constructor(reason: number, message: string) {
    super(message);
    this.name = 'PduError';
    this.reason = reason;
  }
}

export function pduOpcode(bhs: Buffer): number {
  return bhs[0]! & 0x3f;
}
export function pduImmediate(bhs: Buffer): boolean {
  return (bhs[0]! & FLAG_IMMEDIATE) !== 0;
}
export function pduTotalAhsLength(bhs: Buffer): number {
  return bhs[4]! * 4;
}
export function pduDataSegmentLength(bhs: Buffer): number {
  return (bhs[5]! << 16) | (bhs[6]! << 8) | bhs[7]!;
}
export function pduItt(bhs: Buffer): number {
  return bhs.readUInt32BE(16);
}

// ---------------------------------------------------------------- inbound (initiator) PDUs

interface Base {
  readonly raw: RawPdu;
  readonly immediate: boolean;
  readonly itt: number;
}

export interface NopOutPdu extends Base {
  readonly opcode: typeof Opcode.NopOut;
  readonly lun: number;
  readonly lunBytes: Buffer;
  readonly ttt: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly data: Buffer;
}

export interface ScsiCommandPdu extends Base {
  readonly opcode: typeof Opcode.ScsiCommand;
  readonly final: boolean;
  readonly read: boolean;
  readonly write: boolean;
  /** Task attribute code (0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA). */
  readonly attr: number;
  readonly lun: number;
  readonly lunBytes: Buffer;
  readonly edtl: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  /** The complete CDB: 16 BHS bytes plus the extended-CDB AHS when present. */
  readonly cdb: Buffer;
  /** Bidirectional Read Expected Data Transfer Length AHS, when present. */
  readonly bidiReadLength: number | undefined;
  /** Immediate data. */
  readonly data: Buffer;
}

export interface TmfRequestPdu extends Base {
  readonly opcode: typeof Opcode.TaskMgmtRequest;
  readonly func: number;
  readonly lun: number;
  readonly lunBytes: Buffer;
  readonly refTaskTag: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly refCmdSN: number;
  readonly expDataSN: number;
}

export interface LoginRequestPdu extends Base {
  readonly opcode: typeof Opcode.LoginRequest;
  readonly transit: boolean;
  readonly cont: boolean;
  readonly csg: number;
  readonly nsg: number;
  readonly versionMax: number;
  readonly versionMin: number;
  /** The 6-byte ISID. */
  readonly isid: Buffer;
  readonly tsih: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly data: Buffer;
}

export interface TextRequestPdu extends Base {
  readonly opcode: typeof Opcode.TextRequest;
  readonly final: boolean;
  readonly cont: boolean;
  readonly lunBytes: Buffer;
  readonly ttt: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly data: Buffer;
}

export interface DataOutPdu extends Base {
  readonly opcode: typeof Opcode.DataOut;
  readonly final: boolean;
  readonly lun: number;
  readonly ttt: number;
  readonly expStatSN: number;
  readonly dataSN: number;
  readonly bufferOffset: number;
  readonly data: Buffer;
}

export interface LogoutRequestPdu extends Base {
  readonly opcode: typeof Opcode.LogoutRequest;
  readonly reason: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

export interface SnackPdu extends Base {
  readonly opcode: typeof Opcode.SnackRequest;
  readonly type: number;
  readonly lun: number;
  readonly ttt: number;
  readonly expStatSN: number;
  readonly begRun: number;
  readonly runLength: number;
}

export type InitiatorPdu =
  | NopOutPdu
  | ScsiCommandPdu
  | TmfRequestPdu
  | LoginRequestPdu
  | TextRequestPdu
  | DataOutPdu
  | LogoutRequestPdu
  | SnackPdu;

const AHS_EXTENDED_CDB = 1;
const AHS_BIDI_READ_LENGTH = 2;

function parseScsiCommand(raw: RawPdu): ScsiCommandPdu {
  const b = raw.bhs;
  const flags = b[1]!;
  // Hot path: one object literal of a fixed shape (no spreads, which made this the costliest
  // function of the 4 KiB profile), CDB and LUN as views of the BHS.
  let cdb = b.subarray(32, 48);
  let bidiReadLength: number | undefined;
  const ahs = raw.ahs;
  let off = 0;
  while (off < ahs.length) {
    if (off + 4 > ahs.length) throw new PduError(RejectReason.InvalidPduField, 'truncated AHS');
    const len = ahs.readUInt16BE(off);
    const type = ahs[off + 2]!;
    // AHSLength counts the bytes after the 3-byte (length, type) prefix: 1 reserved + payload.
    if (off + 3 + len > ahs.length) throw new PduError(RejectReason.InvalidPduField, 'AHS length beyond TotalAHSLength');
    if (type === AHS_EXTENDED_CDB) {
      if (len < 2) throw new PduError(RejectReason.InvalidPduField, 'empty extended CDB AHS');
      cdb = Buffer.concat([cdb, ahs.subarray(off + 4, off + 3 + len)]);
    } else if (type === AHS_BIDI_READ_LENGTH) {
      if (len !== 5) throw new PduError(RejectReason.InvalidPduField, 'bad bidi read length AHS');
      bidiReadLength = ahs.readUInt32BE(off + 4);
    } else {
      throw new PduError(RejectReason.InvalidPduField, `unknown AHS type ${type}`);
    }
    off += (3 + len + 3) & ~3;
  }
  return {
    raw,
    immediate: (b[0]! & FLAG_IMMEDIATE) !== 0,
    itt: b.readUInt32BE(16),
    opcode: Opcode.ScsiCommand,
    final: (flags & ScsiCmdFlag.Final) !== 0,
    read: (flags & ScsiCmdFlag.Read) !== 0,
    write: (flags & ScsiCmdFlag.Write) !== 0,
    attr: flags & ScsiCmdFlag.AttrMask,
    lun: decodeLun(b, 8),
    lunBytes: b.subarray(8, 16),
    edtl: b.readUInt32BE(20),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
    cdb,
    bidiReadLength,
    data: raw.data,
  };
}

export function parseInitiatorPdu(raw: RawPdu): InitiatorPdu {
  const b = raw.bhs;
  if (b.length !== BHS_LENGTH) throw new PduError(RejectReason.ProtocolError, 'BHS is not 48 bytes');
  const opcode = pduOpcode(b);
  if (opcode === Opcode.ScsiCommand) return parseScsiCommand(raw);
  if (opcode === Opcode.DataOut) {
    return {
      raw,
      immediate: (b[0]! & FLAG_IMMEDIATE) !== 0,
      itt: b.readUInt32BE(16),
      opcode,
      final: (b[1]! & FLAG_FINAL) !== 0,
      lun: decodeLun(b, 8),
      ttt: b.readUInt32BE(20),
      expStatSN: b.readUInt32BE(28),
      dataSN: b.readUInt32BE(36),
      bufferOffset: b.readUInt32BE(40),
      data: raw.data,
    };
  }
  const base: Base = { raw, immediate: pduImmediate(b), itt: b.readUInt32BE(16) };
  const flags = b[1]!;
  switch (opcode) {
    case Opcode.NopOut:
      return {
        ...base,
        opcode,
        lun: decodeLun(b, 8),
        lunBytes: b.subarray(8, 16),
        ttt: b.readUInt32BE(20),
        cmdSN: b.readUInt32BE(24),
        expStatSN: b.readUInt32BE(28),
        data: raw.data,
      };
    case Opcode.TaskMgmtRequest:
      return {
        ...base,
        opcode,
        func: flags & 0x7f,
        lun: decodeLun(b, 8),
        lunBytes: b.subarray(8, 16),
        refTaskTag: b.readUInt32BE(20),
        cmdSN: b.readUInt32BE(24),
        expStatSN: b.readUInt32BE(28),
        refCmdSN: b.readUInt32BE(32),
        expDataSN: b.readUInt32BE(36),
      };
    case Opcode.LoginRequest:
      return {
        ...base,
        opcode,
        transit: (flags & LoginFlag.Transit) !== 0,
        cont: (flags & LoginFlag.Continue) !== 0,
        csg: (flags >> 2) & 3,
        nsg: flags & 3,
        versionMax: b[2]!,
        versionMin: b[3]!,
        isid: b.subarray(8, 14),
        tsih: b.readUInt16BE(14),
        cid: b.readUInt16BE(20),
        cmdSN: b.readUInt32BE(24),
        expStatSN: b.readUInt32BE(28),
        data: raw.data,
      };
    case Opcode.TextRequest:
      return {
        ...base,
        opcode,
        final: (flags & TextFlag.Final) !== 0,
        cont: (flags & TextFlag.Continue) !== 0,
        lunBytes: b.subarray(8, 16),
        ttt: b.readUInt32BE(20),
        cmdSN: b.readUInt32BE(24),
        expStatSN: b.readUInt32BE(28),
        data: raw.data,
      };
    case Opcode.LogoutRequest:
      return {
        ...base,
        opcode,
        reason: flags & 0x7f,
        cid: b.readUInt16BE(20),
        cmdSN: b.readUInt32BE(24),
        expStatSN: b.readUInt32BE(28),
      };
    case Opcode.SnackRequest:
      return {
        ...base,
        opcode,
        type: flags & 0x0f,
        lun: decodeLun(b, 8),
        ttt: b.readUInt32BE(20),
        expStatSN: b.readUInt32BE(28),
        begRun: b.readUInt32BE(40),
        runLength: b.readUInt32BE(44),
      };
    default:
      throw new PduError(RejectReason.CommandNotSupported, `unsupported opcode 0x${opcode.toString(16)}`);
  }
}
