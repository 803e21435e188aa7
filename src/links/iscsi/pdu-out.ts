// Serializers for every target-to-initiator PDU. Each returns an OutPdu: a fresh 48-byte BHS
// with DataSegmentLength filled in, plus the data segment as given (never copied).

import {
  DataInFlag,
  FLAG_FINAL,
  LoginFlag,
  Opcode,
  RESERVED_TAG,
  ScsiRespFlag,
  TextFlag,
  BHS_LENGTH,
} from './constants.ts';
import { encodeLun } from './lun.ts';
import type { OutPdu } from './pdu.ts';

/** Sequence numbers every target PDU carries at bytes 24..35. */
export interface SeqNumbers {
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

type LunField = Buffer | number | undefined;

function header(opcode: number, flags: number, data: Buffer | undefined, ahsLength = 0, len = data ? data.length : 0): Buffer {
  // From Node's shared pool (Buffer.alloc would make a fresh ArrayBuffer for every PDU).
  const b = Buffer.allocUnsafe(BHS_LENGTH).fill(0);
  b[0] = opcode;
  b[1] = flags;
  b[4] = ahsLength >> 2;
  if (len > 0xffffff) throw new RangeError(`data segment of ${len} bytes is too long`);
  b[5] = len >> 16;
  b[6] = (len >> 8) & 0xff;
  b[7] = len & 0xff;
  return b;
}

function putLun(b: Buffer, lun: LunField): void {
  if (lun === undefined) return;
  if (typeof lun === 'number') encodeLun(lun, b, 8);
  else lun.copy(b, 8, 0, 8);
}

function putSeq(b: Buffer, s: SeqNumbers): void {
  b.writeUInt32BE(s.statSN >>> 0, 24);
  b.writeUInt32BE(s.expCmdSN >>> 0, 28);
  b.writeUInt32BE(s.maxCmdSN >>> 0, 32);
}

function out(bhs: Buffer, data: Buffer | undefined): OutPdu {
  return data && data.length > 0 ? { bhs, data } : { bhs };
}

export interface NopInFields extends SeqNumbers {
  itt: number;
  ttt: number;
  lun?: LunField;
  data?: Buffer;
}
export function encodeNopIn(f: NopInFields): OutPdu {
  const b = header(Opcode.NopIn, FLAG_FINAL, f.data);
  putLun(b, f.lun);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE(f.ttt >>> 0, 20);
  putSeq(b, f);
  return out(b, f.data);
}

export interface Residual {
  overflow: boolean;
  underflow: boolean;
  count: number;
}
export const NO_RESIDUAL: Residual = { overflow: false, underflow: false, count: 0 };

/** Residual of a transfer of `actual` bytes against the initiator's expected `expected`. */
export function residualOf(expected: number, actual: number): Residual {
  if (actual > expected) return { overflow: true, underflow: false, count: actual - expected };
  if (actual < expected) return { overflow: false, underflow: true, count: expected - actual };
  return NO_RESIDUAL;
}

export interface ScsiResponseFields extends SeqNumbers {
  itt: number;
  /** iSCSI response code (0 completed at target, 1 target failure). */
  response: number;
  status: number;
  expDataSN: number;
  residual?: Residual;
  bidiResidual?: Residual;
  sense?: Buffer | undefined;
}
export function encodeScsiResponse(f: ScsiResponseFields): OutPdu {
  let data: Buffer | undefined;
  if (f.sense && f.sense.length > 0) {
    data = Buffer.allocUnsafe(2 + f.sense.length);
    data.writeUInt16BE(f.sense.length, 0);
    f.sense.copy(data, 2);
  }
  let flags = FLAG_FINAL;
  const r = f.residual ?? NO_RESIDUAL;
  const br = f.bidiResidual ?? NO_RESIDUAL;
  if (r.overflow) flags |= ScsiRespFlag.Overflow;
  if (r.underflow) flags |= ScsiRespFlag.Underflow;
  if (br.overflow) flags |= ScsiRespFlag.BidiOverflow;
  if (br.underflow) flags |= ScsiRespFlag.BidiUnderflow;
  const b = header(Opcode.ScsiResponse, flags, data);
  b[2] = f.response;
  b[3] = f.status;
  b.writeUInt32BE(f.itt >>> 0, 16);
  putSeq(b, f);
  b.writeUInt32BE(f.expDataSN >>> 0, 36);
  b.writeUInt32BE(br.overflow || br.underflow ? br.count >>> 0 : 0, 40);
  b.writeUInt32BE(r.overflow || r.underflow ? r.count >>> 0 : 0, 44);
  return out(b, data);
}

export interface TmfResponseFields extends SeqNumbers {
  itt: number;
  response: number;
}
export function encodeTmfResponse(f: TmfResponseFields): OutPdu {
  const b = header(Opcode.TaskMgmtResponse, FLAG_FINAL, undefined);
  b[2] = f.response;
  b.writeUInt32BE(f.itt >>> 0, 16);
  putSeq(b, f);
  return { bhs: b };
}

export interface LoginResponseFields extends SeqNumbers {
  transit: boolean;
  cont: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionActive: number;
  isid: Buffer;
  tsih: number;
  itt: number;
  /** Status-Class << 8 | Status-Detail. */
  status: number;
  data?: Buffer;
}
export function encodeLoginResponse(f: LoginResponseFields): OutPdu {
  let flags = ((f.csg & 3) << 2) | (f.transit ? LoginFlag.Transit | (f.nsg & 3) : 0);
  if (f.cont) flags |= LoginFlag.Continue;
  const b = header(Opcode.LoginResponse, flags, f.data);
  b[2] = f.versionMax;
  b[3] = f.versionActive;
  f.isid.copy(b, 8, 0, 6);
  b.writeUInt16BE(f.tsih, 14);
  b.writeUInt32BE(f.itt >>> 0, 16);
  putSeq(b, f);
  b[36] = f.status >> 8;
  b[37] = f.status & 0xff;
  return out(b, f.data);
}

export interface TextResponseFields extends SeqNumbers {
  final: boolean;
  cont: boolean;
  lun?: LunField;
  itt: number;
  ttt: number;
  data?: Buffer;
}
export function encodeTextResponse(f: TextResponseFields): OutPdu {
  const flags = (f.final ? TextFlag.Final : 0) | (f.cont ? TextFlag.Continue : 0);
  const b = header(Opcode.TextResponse, flags, f.data);
  putLun(b, f.lun);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE(f.ttt >>> 0, 20);
  putSeq(b, f);
  return out(b, f.data);
}

export interface DataInFields {
  final: boolean;
  /** SAM status: when given, the S bit is set and status is phase-collapsed into this PDU. */
  status?: number | undefined;
  residual?: Residual | undefined;
  lun?: LunField;
  itt: number;
  ttt?: number;
  /** Only meaningful with status (S bit); otherwise reserved and sent as 0. */
  statSN?: number | undefined;
  expCmdSN: number;
  maxCmdSN: number;
  dataSN: number;
  bufferOffset: number;
  /** One buffer, or the pieces of pinned pages (sent without copying). */
  data: Buffer | readonly Buffer[];
}
export function encodeDataIn(f: DataInFields): OutPdu {
  let flags = f.final ? DataInFlag.Final : 0;
  const withStatus = f.status !== undefined;
  const r = f.residual ?? NO_RESIDUAL;
  if (withStatus) {
    flags |= DataInFlag.Status;
    if (r.overflow) flags |= DataInFlag.Overflow;
    if (r.underflow) flags |= DataInFlag.Underflow;
  }
  const data = f.data;
  let parts: readonly Buffer[] | undefined;
  let len: number;
  if (Buffer.isBuffer(data)) len = data.length;
  else {
    parts = data;
    len = 0;
    for (const p of parts) len += p.length;
  }
  const b = header(Opcode.DataIn, flags, undefined, 0, len);
  if (withStatus) b[3] = f.status!;
  putLun(b, f.lun);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE((f.ttt ?? RESERVED_TAG) >>> 0, 20);
  b.writeUInt32BE(withStatus ? (f.statSN ?? 0) >>> 0 : 0, 24);
  b.writeUInt32BE(f.expCmdSN >>> 0, 28);
  b.writeUInt32BE(f.maxCmdSN >>> 0, 32);
  b.writeUInt32BE(f.dataSN >>> 0, 36);
  b.writeUInt32BE(f.bufferOffset >>> 0, 40);
  b.writeUInt32BE(withStatus && (r.overflow || r.underflow) ? r.count >>> 0 : 0, 44);
  if (parts) return len > 0 ? { bhs: b, dataParts: parts } : { bhs: b };
  return out(b, data as Buffer);
}

export interface LogoutResponseFields extends SeqNumbers {
  itt: number;
  response: number;
  time2Wait: number;
  time2Retain: number;
}
export function encodeLogoutResponse(f: LogoutResponseFields): OutPdu {
  const b = header(Opcode.LogoutResponse, FLAG_FINAL, undefined);
  b[2] = f.response;
  b.writeUInt32BE(f.itt >>> 0, 16);
  putSeq(b, f);
  b.writeUInt16BE(f.time2Wait & 0xffff, 40);
  b.writeUInt16BE(f.time2Retain & 0xffff, 42);
  return { bhs: b };
}

export interface R2TFields extends SeqNumbers {
  lun?: LunField;
  itt: number;
  ttt: number;
  r2tSN: number;
  bufferOffset: number;
  desiredLength: number;
}
export function encodeR2T(f: R2TFields): OutPdu {
  const b = header(Opcode.R2T, FLAG_FINAL, undefined);
  putLun(b, f.lun);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE(f.ttt >>> 0, 20);
  putSeq(b, f);
  b.writeUInt32BE(f.r2tSN >>> 0, 36);
  b.writeUInt32BE(f.bufferOffset >>> 0, 40);
  b.writeUInt32BE(f.desiredLength >>> 0, 44);
  return { bhs: b };
}

export interface AsyncMessageFields extends SeqNumbers {
  lun?: LunField;
  event: number;
  vcode?: number;
  param1?: number;
  param2?: number;
  param3?: number;
  /** Sense data for SCSI async events (sent with its 2-byte SenseLength prefix). */
  sense?: Buffer;
}
export function encodeAsyncMessage(f: AsyncMessageFields): OutPdu {
  let data: Buffer | undefined;
  if (f.sense && f.sense.length > 0) {
    data = Buffer.allocUnsafe(2 + f.sense.length);
    data.writeUInt16BE(f.sense.length, 0);
    f.sense.copy(data, 2);
  }
  const b = header(Opcode.AsyncMessage, FLAG_FINAL, data);
  putLun(b, f.lun);
  b.writeUInt32BE(RESERVED_TAG, 16);
  putSeq(b, f);
  b[36] = f.event;
  b[37] = f.vcode ?? 0;
  b.writeUInt16BE((f.param1 ?? 0) & 0xffff, 38);
  b.writeUInt16BE((f.param2 ?? 0) & 0xffff, 40);
  b.writeUInt16BE((f.param3 ?? 0) & 0xffff, 42);
  return out(b, data);
}

export interface RejectFields extends SeqNumbers {
  reason: number;
  /** DataSN/R2TSN for rejected SNACKs; 0 otherwise. */
  dataSN?: number;
  /** The complete BHS of the rejected PDU. */
  rejectedHeader: Buffer;
}
export function encodeReject(f: RejectFields): OutPdu {
  const data = Buffer.from(f.rejectedHeader.subarray(0, BHS_LENGTH));
  const b = header(Opcode.Reject, FLAG_FINAL, data);
  b[2] = f.reason;
  b.writeUInt32BE(RESERVED_TAG, 16);
  putSeq(b, f);
  b.writeUInt32BE((f.dataSN ?? 0) >>> 0, 36);
  return out(b, data);
}
