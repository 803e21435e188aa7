// Sense data builders (SPC-5 §4.4) and the CheckCondition error that command code throws.
import { Asc, SenseKey, type AscPair } from './constants.ts';

/** Sense-key-specific field pointer (SPC-5 §4.4.2.4.2): which CDB or parameter byte/bit is at fault. */
export interface FieldPointer {
  /** true: the error is in the CDB (C/D = 1); false: in the parameter list (data-out). */
  readonly inCdb: boolean;
  /** Byte offset into the CDB or parameter list. */
  readonly byte: number;
  /** Bit 0..7 within that byte (BPV = 1), or undefined when the whole byte is meant. */
  readonly bit?: number;
}

export interface CheckConditionInit {
  /** INFORMATION field (LBA, byte offset, residue...). */
  information?: bigint | number;
  /** COMMAND-SPECIFIC INFORMATION field. */
  commandSpecific?: bigint | number;
  field?: FieldPointer;
  /** Sense-key-specific bytes other than a field pointer (e.g. progress indication): 16 bits. */
  progress?: number;
  /** FILEMARK / EOM / ILI bits (byte 2 of fixed sense): for sequential devices. */
  filemark?: boolean;
  eom?: boolean;
  ili?: boolean;
}

/** A CHECK CONDITION the device server reports. Throw it from command code; the LU core turns it into sense. */
export class CheckCondition extends Error {
  readonly key: number;
  readonly asc: number;
  readonly ascq: number;
  readonly init: CheckConditionInit;
  constructor(key: number, code: AscPair, init: CheckConditionInit = {}) {
    super(`sense ${key.toString(16)}/${hex2(code.asc)}/${hex2(code.ascq)}`);
    this.name = 'CheckCondition';
    this.key = key;
    this.asc = code.asc;
    this.ascq = code.ascq;
    this.init = init;
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** 05/24/00 INVALID FIELD IN CDB pointing at `byte` (and `bit`) of the CDB. */
export function invalidCdbField(byte: number, bit?: number): CheckCondition {
  return new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB, { field: { inCdb: true, byte, bit } });
}

/** 05/26/00 INVALID FIELD IN PARAMETER LIST pointing at `byte` (and `bit`) of the data-out. */
export function invalidParamField(byte: number, bit?: number): CheckCondition {
  return new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST, {
    field: { inCdb: false, byte, bit },
  });
}

/** 05/20/00 INVALID COMMAND OPERATION CODE, pointing at the opcode byte. */
export function invalidOpcode(): CheckCondition {
  return new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_COMMAND_OPERATION_CODE, {
    field: { inCdb: true, byte: 0 },
  });
}

/** 05/21/00 LOGICAL BLOCK ADDRESS OUT OF RANGE (INFORMATION = the LBA when it fits). */
export function lbaOutOfRange(lba?: bigint): CheckCondition {
  return new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE, lba === undefined ? {} : { information: lba });
}

/** 05/1A/00 PARAMETER LIST LENGTH ERROR pointing at the CDB's parameter list length field. */
export function parameterListLength(byte: number): CheckCondition {
  return new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.PARAMETER_LIST_LENGTH_ERROR, { field: { inCdb: true, byte } });
}

function sksBytes(init: CheckConditionInit): Buffer | undefined {
  const out = Buffer.alloc(3);
  if (init.field) {
    const f = init.field;
    out[0] = 0x80 | (f.inCdb ? 0x40 : 0) | (f.bit !== undefined ? 0x08 | (f.bit & 7) : 0);
    out.writeUInt16BE(f.byte & 0xffff, 1);
    return out;
  }
  if (init.progress !== undefined) {
    out[0] = 0x80;
    out.writeUInt16BE(init.progress & 0xffff, 1);
    return out;
  }
  return undefined;
}

/** Fixed-format sense data (response code 70h), 18 bytes. */
export function fixedSense(key: number, code: AscPair, init: CheckConditionInit = {}): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = (key & 0x0f) | (init.filemark ? 0x80 : 0) | (init.eom ? 0x40 : 0) | (init.ili ? 0x20 : 0);
  if (init.information !== undefined) {
    const info = BigInt(init.information);
    // INFORMATION is 4 bytes here; a larger value cannot be reported (VALID stays 0).
    if (info >= 0n && info <= 0xffffffffn) {
      b[0] |= 0x80;
      b.writeUInt32BE(Number(info), 3);
    }
  }
  b[7] = 10;
  if (init.commandSpecific !== undefined) {
    const cs = BigInt(init.commandSpecific);
    if (cs >= 0n && cs <= 0xffffffffn) b.writeUInt32BE(Number(cs), 8);
  }
  b[12] = code.asc;
  b[13] = code.ascq;
  const sks = sksBytes(init);
  if (sks) sks.copy(b, 15);
  return b;
}

/** Descriptor-format sense data (response code 72h) with information, command-specific, SKS and stream descriptors. */
export function descriptorSense(key: number, code: AscPair, init: CheckConditionInit = {}): Buffer {
  const parts: Buffer[] = [];
  if (init.information !== undefined) {
    const d = Buffer.alloc(12);
    d[0] = 0x00;
    d[1] = 0x0a;
    d[2] = 0x80;
    d.writeBigUInt64BE(BigInt.asUintN(64, BigInt(init.information)), 4);
    parts.push(d);
  }
  if (init.commandSpecific !== undefined) {
    const d = Buffer.alloc(12);
    d[0] = 0x01;
    d[1] = 0x0a;
    d.writeBigUInt64BE(BigInt.asUintN(64, BigInt(init.commandSpecific)), 4);
    parts.push(d);
  }
  const sks = sksBytes(init);
  if (sks) {
    const d = Buffer.alloc(8);
    d[0] = 0x02;
    d[1] = 0x06;
    sks.copy(d, 4);
    parts.push(d);
  }
  if (init.filemark || init.eom || init.ili) {
    const d = Buffer.alloc(4);
    d[0] = 0x04;
    d[1] = 0x02;
    d[3] = (init.filemark ? 0x80 : 0) | (init.eom ? 0x40 : 0) | (init.ili ? 0x20 : 0);
    parts.push(d);
  }
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(8);
  h[0] = 0x72;
  h[1] = key & 0x0f;
  h[2] = code.asc;
  h[3] = code.ascq;
  h[7] = body.length;
  return Buffer.concat([h, body]);
}

/** Sense bytes for a CheckCondition in the format the LU is configured for (D_SENSE). */
export function senseFor(cc: CheckCondition, descriptor: boolean): Buffer {
  const code = { asc: cc.asc, ascq: cc.ascq };
  return descriptor ? descriptorSense(cc.key, code, cc.init) : fixedSense(cc.key, code, cc.init);
}

/** Parses key/asc/ascq out of fixed or descriptor sense (for tests, logs and links). */
export function parseSense(sense: Buffer): { key: number; asc: number; ascq: number; descriptor: boolean } {
  const rc = sense[0]! & 0x7f;
  if (rc === 0x72 || rc === 0x73) return { key: sense[1]! & 0x0f, asc: sense[2]!, ascq: sense[3]!, descriptor: true };
  return { key: sense[2]! & 0x0f, asc: sense[12] ?? 0, ascq: sense[13] ?? 0, descriptor: false };
}
