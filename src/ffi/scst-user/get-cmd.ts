// scst_user ABI (part of src/ffi/scst-user-abi.ts): DataView decoder of scst_user_get_cmd
// (kernel -> user), one plain object per subcommand.
//
// Conventions: little-endian (x86_64 / aarch64); pointers and opaque 64-bit handles are BigInt
// (as koffi 3 pointers are); 64-bit byte counts and LBAs are read as JS numbers (exact below
// 2^53); every encoder zero-fills the struct first, so padding and unused union bytes are 0.
import { SIZES } from './constants.ts';
import { SCST_USER_SUBCODES } from './ioctl.ts';
import { GET_CMD_OFF, LAYOUTS } from './layouts.ts';
import { getCString, getI64 } from './scalars.ts';

const {
  scst_user_sess: SESS,
  scst_user_scsi_cmd_parse: PARSE,
  scst_user_scsi_cmd_alloc_mem: ALLOC_MEM,
  scst_user_scsi_cmd_exec: EXEC,
  scst_user_scsi_on_free_cmd: ON_FREE,
  scst_user_on_cached_mem_free: ON_CACHED_MEM_FREE,
  scst_user_tm: TM,
  scst_user_ext_copy_remap: EXT_COPY_REMAP,
} = LAYOUTS;

// ---------------------------------------------------------------------------------------------
// scst_user_get_cmd: decode (kernel -> user)
// ---------------------------------------------------------------------------------------------

export const readCmdH = (dv: DataView, base: number): number => dv.getUint32(base, true);
export const readSubcode = (dv: DataView, base: number): number => dv.getUint32(base + 4, true);

interface CmdHeader {
  readonly cmd_h: number;
  readonly subcode: number;
}
export interface SessCmd extends CmdHeader {
  readonly kind: 'attach_sess' | 'detach_sess';
  readonly sess_h: bigint;
  readonly lun: bigint;
  readonly threads_num: number;
  readonly rd_only: number;
  readonly scsi_transport_version: number;
  readonly phys_transport_version: number;
  readonly initiator_name: string;
  readonly target_name: string;
}
export interface ParseCmd extends CmdHeader {
  readonly kind: 'parse';
  readonly sess_h: bigint;
  /** A copy of the inline CDB bytes: min(cdb_len, 16). */
  readonly cdb: Uint8Array;
  readonly cdb_len: number;
  readonly lba: number;
  readonly data_len: number;
  readonly bufflen: number;
  readonly out_bufflen: number;
  readonly timeout: number;
  readonly op_flags: number;
  readonly queue_type: number;
  readonly data_direction: number;
  readonly expected_values_set: number;
  readonly expected_data_direction: number;
  readonly expected_transfer_len: number;
  readonly expected_out_transfer_len: number;
  readonly sn: number;
}
export interface AllocMemCmd extends CmdHeader {
  readonly kind: 'alloc_mem';
  readonly sess_h: bigint;
  readonly cdb: Uint8Array;
  readonly cdb_len: number;
  readonly alloc_len: number;
  readonly queue_type: number;
  readonly data_direction: number;
  readonly sn: number;
}
export interface ExecCmd extends CmdHeader {
  readonly kind: 'exec';
  readonly sess_h: bigint;
  readonly cdb: Uint8Array;
  readonly cdb_len: number;
  readonly lba: number;
  readonly data_len: number;
  readonly bufflen: number;
  readonly alloc_len: number;
  /** 0n: the kernel has no buffer yet (supply alloc_len bytes in the reply) or there is no data. */
  readonly pbuf: bigint;
  readonly queue_type: number;
  readonly data_direction: number;
  readonly partial: number;
  readonly timeout: number;
  readonly p_out_buf: bigint;
  readonly out_bufflen: number;
  readonly sn: number;
}
export interface OnFreeCmd extends CmdHeader {
  readonly kind: 'on_free';
  readonly pbuf: bigint;
  readonly resp_data_len: number;
  readonly buffer_cached: number;
  readonly aborted: number;
  readonly status: number;
  /** Sign-extended: compare with DELIVERY_STATUS (0, -1, -2). */
  readonly delivery_status: number;
}
export interface OnCachedMemFreeCmd extends CmdHeader {
  readonly kind: 'on_cached_mem_free';
  readonly pbuf: bigint;
}
export interface TmCmd extends CmdHeader {
  readonly kind: 'tm_received' | 'tm_done';
  readonly sess_h: bigint;
  readonly fn: number;
  readonly cmd_h_to_abort: number;
  readonly cmd_sn: number;
  readonly cmd_sn_set: number;
}
export interface RemapCmd extends CmdHeader {
  readonly kind: 'ext_copy_remap';
  readonly sess_h: bigint;
  readonly src_sess_h: bigint;
  readonly dst_sess_h: bigint;
  readonly src_lba: bigint;
  readonly dst_lba: bigint;
  readonly data_len: number;
}
export interface UnknownCmd extends CmdHeader {
  readonly kind: 'unknown';
}
export type UserCmd = SessCmd | ParseCmd | AllocMemCmd | ExecCmd | OnFreeCmd | OnCachedMemFreeCmd | TmCmd | RemapCmd | UnknownCmd;

const S = SCST_USER_SUBCODES;
const OS = GET_CMD_OFF.sess as Record<keyof typeof SESS.fields, number>;
const OP = GET_CMD_OFF.parse_cmd as Record<keyof typeof PARSE.fields, number>;
const OA = GET_CMD_OFF.alloc_cmd as Record<keyof typeof ALLOC_MEM.fields, number>;
const OE = GET_CMD_OFF.exec_cmd as Record<keyof typeof EXEC.fields, number>;
const OF = GET_CMD_OFF.on_free_cmd as Record<keyof typeof ON_FREE.fields, number>;
const OC = GET_CMD_OFF.on_cached_mem_free as Record<keyof typeof ON_CACHED_MEM_FREE.fields, number>;
const OT = GET_CMD_OFF.tm_cmd as Record<keyof typeof TM.fields, number>;
const OR = GET_CMD_OFF.remap_cmd as Record<keyof typeof EXT_COPY_REMAP.fields, number>;

function cdbCopy(dv: DataView, off: number, cdbLen: number): Uint8Array {
  return new Uint8Array(dv.buffer, dv.byteOffset + off, Math.min(cdbLen, SIZES.SCST_MAX_CDB_SIZE)).slice();
}

/**
 * Decodes the scst_user_get_cmd at dv[base..base+544) (a REPLY_AND_GET_CMD argument or one
 * slot of a REPLY_AND_GET_MULTI buffer). Returns plain values; nothing refers back to dv, so the
 * slot may be reused at once.
 */
export function decodeGetCmd(dv: DataView, base: number): UserCmd {
  const cmd_h = dv.getUint32(base, true);
  const subcode = dv.getUint32(base + 4, true);
  const b = base;
  switch (subcode) {
    case S.SCST_USER_EXEC: {
      const cdb_len = dv.getUint16(b + OE.cdb_len, true);
      return {
        kind: 'exec', cmd_h, subcode,
        sess_h: dv.getBigUint64(b + OE.sess_h, true),
        cdb: cdbCopy(dv, b + OE.cdb, cdb_len), cdb_len,
        lba: getI64(dv, b + OE.lba),
        data_len: getI64(dv, b + OE.data_len),
        bufflen: dv.getInt32(b + OE.bufflen, true),
        alloc_len: dv.getInt32(b + OE.alloc_len, true),
        pbuf: dv.getBigUint64(b + OE.pbuf, true),
        queue_type: dv.getUint8(b + OE.queue_type),
        data_direction: dv.getUint8(b + OE.data_direction),
        partial: dv.getUint8(b + OE.partial),
        timeout: dv.getInt32(b + OE.timeout, true),
        p_out_buf: dv.getBigUint64(b + OE.p_out_buf, true),
        out_bufflen: dv.getInt32(b + OE.out_bufflen, true),
        sn: dv.getUint32(b + OE.sn, true),
      };
    }
    case S.SCST_USER_ON_FREE_CMD:
      return {
        kind: 'on_free', cmd_h, subcode,
        pbuf: dv.getBigUint64(b + OF.pbuf, true),
        resp_data_len: dv.getInt32(b + OF.resp_data_len, true),
        buffer_cached: dv.getUint8(b + OF.buffer_cached),
        aborted: dv.getUint8(b + OF.aborted),
        status: dv.getUint8(b + OF.status),
        delivery_status: dv.getInt8(b + OF.delivery_status),
      };
    case S.SCST_USER_ALLOC_MEM: {
      const cdb_len = dv.getUint16(b + OA.cdb_len, true);
      return {
        kind: 'alloc_mem', cmd_h, subcode,
        sess_h: dv.getBigUint64(b + OA.sess_h, true),
        cdb: cdbCopy(dv, b + OA.cdb, cdb_len), cdb_len,
        alloc_len: dv.getInt32(b + OA.alloc_len, true),
        queue_type: dv.getUint8(b + OA.queue_type),
        data_direction: dv.getUint8(b + OA.data_direction),
        sn: dv.getUint32(b + OA.sn, true),
      };
    }
    case S.SCST_USER_PARSE: {
      const cdb_len = dv.getUint16(b + OP.cdb_len, true);
      return {
        kind: 'parse', cmd_h, subcode,
        sess_h: dv.getBigUint64(b + OP.sess_h, true),
        cdb: cdbCopy(dv, b + OP.cdb, cdb_len), cdb_len,
        lba: getI64(dv, b + OP.lba),
        data_len: getI64(dv, b + OP.data_len),
        bufflen: dv.getInt32(b + OP.bufflen, true),
        out_bufflen: dv.getInt32(b + OP.out_bufflen, true),
        timeout: dv.getInt32(b + OP.timeout, true),
        op_flags: dv.getUint32(b + OP.op_flags, true),
        queue_type: dv.getUint8(b + OP.queue_type),
        data_direction: dv.getUint8(b + OP.data_direction),
        expected_values_set: dv.getUint8(b + OP.expected_values_set),
        expected_data_direction: dv.getUint8(b + OP.expected_data_direction),
        expected_transfer_len: dv.getInt32(b + OP.expected_transfer_len, true),
        expected_out_transfer_len: dv.getInt32(b + OP.expected_out_transfer_len, true),
        sn: dv.getUint32(b + OP.sn, true),
      };
    }
    case S.SCST_USER_ON_CACHED_MEM_FREE:
      return { kind: 'on_cached_mem_free', cmd_h, subcode, pbuf: dv.getBigUint64(b + OC.pbuf, true) };
    case S.SCST_USER_TASK_MGMT_RECEIVED:
    case S.SCST_USER_TASK_MGMT_DONE:
      return {
        kind: subcode === S.SCST_USER_TASK_MGMT_DONE ? 'tm_done' : 'tm_received', cmd_h, subcode,
        sess_h: dv.getBigUint64(b + OT.sess_h, true),
        fn: dv.getUint32(b + OT.fn, true),
        cmd_h_to_abort: dv.getUint32(b + OT.cmd_h_to_abort, true),
        cmd_sn: dv.getUint32(b + OT.cmd_sn, true),
        cmd_sn_set: dv.getUint8(b + OT.cmd_sn_set),
      };
    case S.SCST_USER_ATTACH_SESS:
    case S.SCST_USER_DETACH_SESS:
      return {
        kind: subcode === S.SCST_USER_ATTACH_SESS ? 'attach_sess' : 'detach_sess', cmd_h, subcode,
        sess_h: dv.getBigUint64(b + OS.sess_h, true),
        lun: dv.getBigUint64(b + OS.lun, true),
        threads_num: dv.getUint16(b + OS.threads_num, true),
        rd_only: dv.getUint8(b + OS.rd_only),
        scsi_transport_version: dv.getUint16(b + OS.scsi_transport_version, true),
        phys_transport_version: dv.getUint16(b + OS.phys_transport_version, true),
        initiator_name: getCString(dv, b + OS.initiator_name, SIZES.SCST_MAX_EXTERNAL_NAME),
        target_name: getCString(dv, b + OS.target_name, SIZES.SCST_MAX_EXTERNAL_NAME),
      };
    case S.SCST_USER_EXT_COPY_REMAP:
      return {
        kind: 'ext_copy_remap', cmd_h, subcode,
        sess_h: dv.getBigUint64(b + OR.sess_h, true),
        src_sess_h: dv.getBigUint64(b + OR.src_sess_h, true),
        dst_sess_h: dv.getBigUint64(b + OR.dst_sess_h, true),
        src_lba: dv.getBigUint64(b + OR['data_descr.src_lba'], true),
        dst_lba: dv.getBigUint64(b + OR['data_descr.dst_lba'], true),
        data_len: dv.getInt32(b + OR['data_descr.data_len'], true),
      };
    default:
      return { kind: 'unknown', cmd_h, subcode };
  }
}

/** REPLY_AND_GET_CMD input: the reply pointer (0n: none) in an otherwise untouched slot. */
export function encodeGetCmdPreply(dv: DataView, base: number, preply: bigint): void {
  dv.setBigUint64(base + GET_CMD_OFF.preply, preply, true);
}
