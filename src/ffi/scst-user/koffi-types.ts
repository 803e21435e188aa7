// scst_user ABI (part of src/ffi/scst-user-abi.ts): koffi declarations of the structs.
import koffi from 'koffi';
import type * as K from 'koffi';
import { SIZES } from './constants.ts';
import type { LayoutName } from './layouts.ts';

// ---------------------------------------------------------------------------------------------
// koffi types (for koffi.sizeof/offsetof and for marshalling rare control ioctls)
// ---------------------------------------------------------------------------------------------

/**
 * koffi declarations of the same structs. C's anonymous unions/structs have no name in koffi,
 * so they appear as members named `_u`, `_ok`, `_err`, `_sense`, `_ws`; a field path such as
 * "parse_reply.lba" must look through members whose name starts with '_'. The flexible array
 * scst_user_get_multi.cmds is not declared. Created on first call (koffi type names are global).
 */
export type ScstUserKoffiTypes = { readonly [N in LayoutName]: K.TypeObject };
let koffiTypes: ScstUserKoffiTypes | undefined;

export function scstUserKoffiTypes(): ScstUserKoffiTypes {
  if (koffiTypes) return koffiTypes;
  const u64 = [8, 'uint64_t'] as [number, string]; // aligned_u64
  const i64 = [8, 'int64_t'] as [number, string]; //  aligned_i64
  const cdb = koffi.array('uint8_t', SIZES.SCST_MAX_CDB_SIZE);
  const opt = koffi.struct('scst_user_opt', {
    parse_type: 'uint8_t', on_free_cmd_type: 'uint8_t', memory_reuse_type: 'uint8_t',
    partial_transfers_type: 'uint8_t', partial_len: 'int32_t', tst: 'uint8_t', tmf_only: 'uint8_t',
    queue_alg: 'uint8_t', qerr: 'uint8_t', tas: 'uint8_t', swp: 'uint8_t', d_sense: 'uint8_t',
    has_own_order_mgmt: 'uint8_t', ext_copy_remap_supported: 'uint8_t',
  });
  const devDesc = koffi.struct('scst_user_dev_desc', {
    version_str: u64, license_str: u64, type: 'uint8_t', sgv_shared: 'uint8_t',
    sgv_disable_clustered_pool: 'uint8_t', sgv_single_alloc_pages: 'int32_t', sgv_purge_interval: 'int32_t',
    opt, block_size: 'uint32_t', enable_pr_cmds_notifications: 'uint8_t',
    name: koffi.array('char', SIZES.SCST_MAX_NAME), sgv_name: koffi.array('char', SIZES.SCST_MAX_NAME),
  });
  const sess = koffi.struct('scst_user_sess', {
    sess_h: u64, lun: u64, threads_num: 'uint16_t', rd_only: 'uint8_t', scsi_transport_version: 'uint16_t',
    phys_transport_version: 'uint16_t', initiator_name: koffi.array('char', SIZES.SCST_MAX_EXTERNAL_NAME),
    target_name: koffi.array('char', SIZES.SCST_MAX_EXTERNAL_NAME),
  });
  const parse = koffi.struct('scst_user_scsi_cmd_parse', {
    sess_h: u64, cdb, cdb_len: 'uint16_t', lba: i64, data_len: i64, bufflen: 'int32_t', out_bufflen: 'int32_t',
    timeout: 'int32_t', op_flags: 'uint32_t', queue_type: 'uint8_t', data_direction: 'uint8_t',
    expected_values_set: 'uint8_t', expected_data_direction: 'uint8_t', expected_transfer_len: 'int32_t',
    expected_out_transfer_len: 'int32_t', sn: 'uint32_t',
  });
  const allocMem = koffi.struct('scst_user_scsi_cmd_alloc_mem', {
    sess_h: u64, cdb, cdb_len: 'uint16_t', alloc_len: 'int32_t', queue_type: 'uint8_t',
    data_direction: 'uint8_t', sn: 'uint32_t',
  });
  const exec = koffi.struct('scst_user_scsi_cmd_exec', {
    sess_h: u64, cdb, cdb_len: 'uint16_t', lba: i64, data_len: i64, bufflen: 'int32_t', alloc_len: 'int32_t',
    pbuf: u64, queue_type: 'uint8_t', data_direction: 'uint8_t', partial: 'uint8_t', timeout: 'int32_t',
    p_out_buf: u64, out_bufflen: 'int32_t', sn: 'uint32_t', parent_cmd_h: 'uint32_t',
    parent_cmd_data_len: 'int32_t', partial_offset: 'uint32_t',
  });
  const onFree = koffi.struct('scst_user_scsi_on_free_cmd', {
    pbuf: u64, resp_data_len: 'int32_t', buffer_cached: 'uint8_t', aborted: 'uint8_t', status: 'uint8_t',
    delivery_status: 'uint8_t',
  });
  const onCached = koffi.struct('scst_user_on_cached_mem_free', { pbuf: u64 });
  const tm = koffi.struct('scst_user_tm', {
    sess_h: u64, fn: 'uint32_t', cmd_h_to_abort: 'uint32_t', cmd_sn: 'uint32_t', cmd_sn_set: 'uint8_t',
  });
  const descr = koffi.struct('scst_user_ext_copy_data_descr', { src_lba: u64, dst_lba: u64, data_len: 'int32_t' });
  const remap = koffi.struct('scst_user_ext_copy_remap', {
    sess_h: u64, src_sess_h: u64, dst_sess_h: u64, data_descr: descr,
  });
  const getCmd = koffi.struct('scst_user_get_cmd', {
    cmd_h: 'uint32_t', subcode: 'uint32_t',
    _u: koffi.union({
      preply: u64, sess, parse_cmd: parse, alloc_cmd: allocMem, exec_cmd: exec, on_free_cmd: onFree,
      on_cached_mem_free: onCached, tm_cmd: tm, remap_cmd: remap,
    }),
  });
  const replyParse = koffi.struct('scst_user_scsi_cmd_reply_parse', {
    status: 'uint8_t',
    _u: koffi.union({
      _ok: koffi.struct({
        queue_type: 'uint8_t', data_direction: 'uint8_t', cdb_len: 'uint16_t', lba: i64, data_len: i64,
        bufflen: 'int32_t', op_flags: 'uint32_t', out_bufflen: 'int32_t',
      }),
      _err: koffi.struct({ sense_len: 'uint8_t', psense_buffer: u64 }),
    }),
  });
  const replyAlloc = koffi.struct('scst_user_scsi_cmd_reply_alloc_mem', { pbuf: u64 });
  const dataDescriptor = koffi.struct('scst_user_data_descriptor', { usdd_lba: u64, usdd_blocks: u64 });
  const replyExec = koffi.struct('scst_user_scsi_cmd_reply_exec', {
    resp_data_len: 'int32_t', pbuf: u64, reply_type: 'uint8_t', status: 'uint8_t',
    _u: koffi.union({
      _sense: koffi.struct({ sense_len: 'uint8_t', psense_buffer: u64 }),
      _ws: koffi.struct({ ws_descriptors_len: 'uint16_t', ws_descriptors: u64 }),
    }),
  });
  const replyRemap = koffi.struct('scst_user_ext_copy_reply_remap', {
    remap_descriptors: u64, remap_descriptors_len: 'uint16_t', status: 'uint8_t', sense_len: 'uint8_t',
    psense_buffer: u64,
  });
  const replyCmd = koffi.struct('scst_user_reply_cmd', {
    cmd_h: 'uint32_t', subcode: 'uint32_t',
    _u: koffi.union({
      result: 'int32_t', parse_reply: replyParse, alloc_reply: replyAlloc, exec_reply: replyExec,
      remap_reply: replyRemap,
    }),
  });
  const getExtCdb = koffi.struct('scst_user_get_ext_cdb', { cmd_h: 'uint32_t', ext_cdb_buffer: u64 });
  const preIn = koffi.struct('scst_user_prealloc_buffer_in', { pbuf: u64, bufflen: 'uint32_t', for_clust_pool: 'uint8_t' });
  const preOut = koffi.struct('scst_user_prealloc_buffer_out', { cmd_h: 'uint32_t' });
  const pre = koffi.union('scst_user_prealloc_buffer', { in: preIn, out: preOut });
  const getMulti = koffi.struct('scst_user_get_multi', {
    preplies: u64, replies_cnt: 'int16_t', replies_done: 'int16_t', cmds_cnt: 'int16_t', pad: 'int16_t',
  });
  koffiTypes = Object.freeze({
    scst_user_opt: opt,
    scst_user_dev_desc: devDesc,
    scst_user_sess: sess,
    scst_user_scsi_cmd_parse: parse,
    scst_user_scsi_cmd_alloc_mem: allocMem,
    scst_user_scsi_cmd_exec: exec,
    scst_user_scsi_on_free_cmd: onFree,
    scst_user_on_cached_mem_free: onCached,
    scst_user_tm: tm,
    scst_user_ext_copy_data_descr: descr,
    scst_user_ext_copy_remap: remap,
    scst_user_get_cmd: getCmd,
    scst_user_scsi_cmd_reply_parse: replyParse,
    scst_user_scsi_cmd_reply_alloc_mem: replyAlloc,
    scst_user_data_descriptor: dataDescriptor,
    scst_user_scsi_cmd_reply_exec: replyExec,
    scst_user_ext_copy_reply_remap: replyRemap,
    scst_user_reply_cmd: replyCmd,
    scst_user_get_ext_cdb: getExtCdb,
    scst_user_prealloc_buffer_in: preIn,
    scst_user_prealloc_buffer_out: preOut,
    scst_user_prealloc_buffer: pre,
    scst_user_get_multi: getMulti,
  });
  return koffiTypes;
}
