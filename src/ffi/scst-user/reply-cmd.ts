// scst_user ABI (part of src/ffi/scst-user-abi.ts): DataView encoders of scst_user_reply_cmd
// (user -> kernel), one per reply kind.
//
// Conventions: little-endian (x86_64 / aarch64); pointers and opaque 64-bit handles are BigInt
// (as koffi 3 pointers are); 64-bit byte counts and LBAs are read as JS numbers (exact below
// 2^53); every encoder zero-fills the struct first, so padding and unused union bytes are 0.
import { EXEC_REPLY_TYPE } from './constants.ts';
import { SCST_USER_SUBCODES } from './ioctl.ts';
import { LAYOUTS, REPLY_CMD_OFF, REPLY_CMD_SIZE } from './layouts.ts';
import { setI64, zero } from './scalars.ts';

const S = SCST_USER_SUBCODES;
const {
  scst_user_scsi_cmd_reply_parse: REPLY_PARSE,
  scst_user_scsi_cmd_reply_alloc_mem: REPLY_ALLOC_MEM,
  scst_user_scsi_cmd_reply_exec: REPLY_EXEC,
  scst_user_ext_copy_reply_remap: REPLY_REMAP,
} = LAYOUTS;

// ---------------------------------------------------------------------------------------------
// scst_user_reply_cmd: encode (user -> kernel). Each encoder zero-fills the 56 bytes first.
// ---------------------------------------------------------------------------------------------

const R = REPLY_CMD_OFF;
const RP = R.parse_reply as Record<keyof typeof REPLY_PARSE.fields, number>;
const RA = R.alloc_reply as Record<keyof typeof REPLY_ALLOC_MEM.fields, number>;
const RE = R.exec_reply as Record<keyof typeof REPLY_EXEC.fields, number>;
const RR = R.remap_reply as Record<keyof typeof REPLY_REMAP.fields, number>;

function replyHeader(dv: DataView, base: number, cmd_h: number, subcode: number): void {
  zero(dv, base, REPLY_CMD_SIZE);
  dv.setUint32(base, cmd_h, true);
  dv.setUint32(base + 4, subcode, true);
}

/** ATTACH/DETACH_SESS (0 = accept), TASK_MGMT_* (TM status), ON_FREE_CMD / ON_CACHED_MEM_FREE (0). */
export function encodeResultReply(dv: DataView, base: number, cmd_h: number, subcode: number, result = 0): void {
  replyHeader(dv, base, cmd_h, subcode);
  dv.setInt32(base + R.result, result, true);
}

export interface ParseReply {
  readonly queue_type: number;
  readonly data_direction: number;
  readonly cdb_len: number;
  readonly lba: number | bigint;
  readonly data_len: number | bigint;
  readonly bufflen: number;
  /** Must include OP_FLAGS.SCST_INFO_VALID. */
  readonly op_flags: number;
  readonly out_bufflen?: number;
}

/** PARSE reply, status 0: the command's parameters. */
export function encodeParseReply(dv: DataView, base: number, cmd_h: number, r: ParseReply): void {
  replyHeader(dv, base, cmd_h, S.SCST_USER_PARSE);
  dv.setUint8(base + RP.queue_type, r.queue_type);
  dv.setUint8(base + RP.data_direction, r.data_direction);
  dv.setUint16(base + RP.cdb_len, r.cdb_len, true);
  setI64(dv, base + RP.lba, r.lba);
  setI64(dv, base + RP.data_len, r.data_len);
  dv.setInt32(base + RP.bufflen, r.bufflen, true);
  dv.setUint32(base + RP.op_flags, r.op_flags, true);
  dv.setInt32(base + RP.out_bufflen, r.out_bufflen ?? 0, true);
}

/** PARSE reply failing the command with a SAM status and optional sense (a native pointer). */
export function encodeParseErrorReply(
  dv: DataView, base: number, cmd_h: number, status: number, sense_len = 0, psense_buffer = 0n,
): void {
  if (status === 0) throw new RangeError('a PARSE error reply needs a non-zero status');
  replyHeader(dv, base, cmd_h, S.SCST_USER_PARSE);
  dv.setUint8(base + RP.status, status);
  dv.setUint8(base + RP.sense_len, sense_len);
  dv.setBigUint64(base + RP.psense_buffer, psense_buffer, true);
}

/** ALLOC_MEM reply: the buffer for the command (0n fails it with BUSY). */
export function encodeAllocReply(dv: DataView, base: number, cmd_h: number, pbuf: bigint): void {
  replyHeader(dv, base, cmd_h, S.SCST_USER_ALLOC_MEM);
  dv.setBigUint64(base + RA.pbuf, pbuf, true);
}

export interface ExecReply {
  /** EXEC_REPLY_TYPE.*; default COMPLETED. */
  readonly reply_type?: number;
  /** SAM status; default 0 (GOOD). */
  readonly status?: number;
  /** READ data returned (≤ bufflen); 0 for other directions. */
  readonly resp_data_len?: number;
  /** Only when the EXEC came with pbuf == 0 and data is returned. */
  readonly pbuf?: bigint;
  readonly sense_len?: number;
  readonly psense_buffer?: bigint;
}

/** EXEC reply (also the later REPLY_CMD completing a BACKGROUND command). */
export function encodeExecReply(dv: DataView, base: number, cmd_h: number, r: ExecReply): void {
  replyHeader(dv, base, cmd_h, S.SCST_USER_EXEC);
  dv.setInt32(base + RE.resp_data_len, r.resp_data_len ?? 0, true);
  dv.setBigUint64(base + RE.pbuf, r.pbuf ?? 0n, true);
  dv.setUint8(base + RE.reply_type, r.reply_type ?? EXEC_REPLY_TYPE.SCST_EXEC_REPLY_COMPLETED);
  dv.setUint8(base + RE.status, r.status ?? 0);
  dv.setUint8(base + RE.sense_len, r.sense_len ?? 0);
  dv.setBigUint64(base + RE.psense_buffer, r.psense_buffer ?? 0n, true);
}

/**
 * EXEC reply DO_WRITE_SAME: let the core write the ranges in ws_descriptors (a native array of
 * scst_user_data_descriptor, ws_descriptors_len bytes ≤ PAGE_SIZE, ending with usdd_blocks == 0);
 * ws_descriptors_len 0 means "the whole command's range".
 */
export function encodeExecWriteSameReply(
  dv: DataView, base: number, cmd_h: number, ws_descriptors_len = 0, ws_descriptors = 0n,
): void {
  replyHeader(dv, base, cmd_h, S.SCST_USER_EXEC);
  dv.setUint8(base + RE.reply_type, EXEC_REPLY_TYPE.SCST_EXEC_REPLY_DO_WRITE_SAME);
  dv.setUint16(base + RE.ws_descriptors_len, ws_descriptors_len, true);
  dv.setBigUint64(base + RE.ws_descriptors, ws_descriptors, true);
}

export interface RemapReply {
  readonly remap_descriptors?: bigint;
  readonly remap_descriptors_len?: number;
  readonly status?: number;
  readonly sense_len?: number;
  readonly psense_buffer?: bigint;
}
export function encodeRemapReply(dv: DataView, base: number, cmd_h: number, r: RemapReply): void {
  replyHeader(dv, base, cmd_h, S.SCST_USER_EXT_COPY_REMAP);
  dv.setBigUint64(base + RR.remap_descriptors, r.remap_descriptors ?? 0n, true);
  dv.setUint16(base + RR.remap_descriptors_len, r.remap_descriptors_len ?? 0, true);
  dv.setUint8(base + RR.status, r.status ?? 0);
  dv.setUint8(base + RR.sense_len, r.sense_len ?? 0);
  dv.setBigUint64(base + RR.psense_buffer, r.psense_buffer ?? 0n, true);
}
