// scst_user ABI (part of src/ffi/scst-user-abi.ts): offset, size and kind of every struct field,
// the struct sizes, and the absolute offsets the DataView codecs use.
import type { SubcodeName } from './ioctl.ts';

// ---------------------------------------------------------------------------------------------
// Layouts: offset, size and kind of every field (x86_64 and aarch64 alike)
// ---------------------------------------------------------------------------------------------

/** u8…u64 / i16…i64: integers; ptr: user pointer (u64); bytes: u8[]; char: char[] (NUL-terminated); struct: nested. */
export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'i16' | 'i32' | 'i64' | 'ptr' | 'bytes' | 'char' | 'struct' | 'flex';
export type FieldLayout = readonly [off: number, size: number, kind: FieldKind];
export interface StructLayout {
  readonly size: number;
  readonly align: number;
  readonly fields: Readonly<Record<string, FieldLayout>>;
}

/** true/false for integers (C signedness), null for aggregates. */
export function fieldSigned(kind: FieldKind): boolean | null {
  if (kind === 'i16' || kind === 'i32' || kind === 'i64') return true;
  if (kind === 'u8' || kind === 'u16' || kind === 'u32' || kind === 'u64' || kind === 'ptr') return false;
  return null;
}

function nest(prefix: string, base: number, layout: StructLayout): Record<string, FieldLayout> {
  const out: Record<string, FieldLayout> = {};
  for (const [name, [off, size, kind]] of Object.entries(layout.fields)) out[`${prefix}.${name}`] = [base + off, size, kind];
  return out;
}

const OPT: StructLayout = {
  size: 20, align: 4, fields: {
    parse_type: [0, 1, 'u8'], on_free_cmd_type: [1, 1, 'u8'], memory_reuse_type: [2, 1, 'u8'],
    partial_transfers_type: [3, 1, 'u8'], partial_len: [4, 4, 'i32'],
    tst: [8, 1, 'u8'], tmf_only: [9, 1, 'u8'], queue_alg: [10, 1, 'u8'], qerr: [11, 1, 'u8'],
    tas: [12, 1, 'u8'], swp: [13, 1, 'u8'], d_sense: [14, 1, 'u8'],
    has_own_order_mgmt: [15, 1, 'u8'], ext_copy_remap_supported: [16, 1, 'u8'],
  },
};
const DEV_DESC: StructLayout = {
  size: 160, align: 8, fields: {
    version_str: [0, 8, 'ptr'], license_str: [8, 8, 'ptr'], type: [16, 1, 'u8'], sgv_shared: [17, 1, 'u8'],
    sgv_disable_clustered_pool: [18, 1, 'u8'], sgv_single_alloc_pages: [20, 4, 'i32'],
    sgv_purge_interval: [24, 4, 'i32'], opt: [28, 20, 'struct'], block_size: [48, 4, 'u32'],
    enable_pr_cmds_notifications: [52, 1, 'u8'], name: [53, 50, 'char'], sgv_name: [103, 50, 'char'],
  },
};
const SESS: StructLayout = {
  size: 536, align: 8, fields: {
    sess_h: [0, 8, 'u64'], lun: [8, 8, 'u64'], threads_num: [16, 2, 'u16'], rd_only: [18, 1, 'u8'],
    scsi_transport_version: [20, 2, 'u16'], phys_transport_version: [22, 2, 'u16'],
    initiator_name: [24, 256, 'char'], target_name: [280, 256, 'char'],
  },
};
const PARSE: StructLayout = {
  size: 80, align: 8, fields: {
    sess_h: [0, 8, 'u64'], cdb: [8, 16, 'bytes'], cdb_len: [24, 2, 'u16'], lba: [32, 8, 'i64'],
    data_len: [40, 8, 'i64'], bufflen: [48, 4, 'i32'], out_bufflen: [52, 4, 'i32'], timeout: [56, 4, 'i32'],
    op_flags: [60, 4, 'u32'], queue_type: [64, 1, 'u8'], data_direction: [65, 1, 'u8'],
    expected_values_set: [66, 1, 'u8'], expected_data_direction: [67, 1, 'u8'],
    expected_transfer_len: [68, 4, 'i32'], expected_out_transfer_len: [72, 4, 'i32'], sn: [76, 4, 'u32'],
  },
};
const ALLOC_MEM: StructLayout = {
  size: 40, align: 8, fields: {
    sess_h: [0, 8, 'u64'], cdb: [8, 16, 'bytes'], cdb_len: [24, 2, 'u16'], alloc_len: [28, 4, 'i32'],
    queue_type: [32, 1, 'u8'], data_direction: [33, 1, 'u8'], sn: [36, 4, 'u32'],
  },
};
const EXEC: StructLayout = {
  size: 104, align: 8, fields: {
    sess_h: [0, 8, 'u64'], cdb: [8, 16, 'bytes'], cdb_len: [24, 2, 'u16'], lba: [32, 8, 'i64'],
    data_len: [40, 8, 'i64'], bufflen: [48, 4, 'i32'], alloc_len: [52, 4, 'i32'], pbuf: [56, 8, 'ptr'],
    queue_type: [64, 1, 'u8'], data_direction: [65, 1, 'u8'], partial: [66, 1, 'u8'], timeout: [68, 4, 'i32'],
    p_out_buf: [72, 8, 'ptr'], out_bufflen: [80, 4, 'i32'], sn: [84, 4, 'u32'], parent_cmd_h: [88, 4, 'u32'],
    parent_cmd_data_len: [92, 4, 'i32'], partial_offset: [96, 4, 'u32'],
  },
};
const ON_FREE: StructLayout = {
  size: 16, align: 8, fields: {
    pbuf: [0, 8, 'ptr'], resp_data_len: [8, 4, 'i32'], buffer_cached: [12, 1, 'u8'], aborted: [13, 1, 'u8'],
    status: [14, 1, 'u8'], delivery_status: [15, 1, 'u8'],
  },
};
const ON_CACHED_MEM_FREE: StructLayout = { size: 8, align: 8, fields: { pbuf: [0, 8, 'ptr'] } };
const TM: StructLayout = {
  size: 24, align: 8, fields: {
    sess_h: [0, 8, 'u64'], fn: [8, 4, 'u32'], cmd_h_to_abort: [12, 4, 'u32'], cmd_sn: [16, 4, 'u32'],
    cmd_sn_set: [20, 1, 'u8'],
  },
};
const EXT_COPY_DATA_DESCR: StructLayout = {
  size: 24, align: 8, fields: { src_lba: [0, 8, 'u64'], dst_lba: [8, 8, 'u64'], data_len: [16, 4, 'i32'] },
};
const EXT_COPY_REMAP: StructLayout = {
  size: 48, align: 8, fields: {
    sess_h: [0, 8, 'u64'], src_sess_h: [8, 8, 'u64'], dst_sess_h: [16, 8, 'u64'], data_descr: [24, 24, 'struct'],
    ...nest('data_descr', 24, EXT_COPY_DATA_DESCR),
  },
};
/** Offset of the subcommand union inside scst_user_get_cmd / scst_user_reply_cmd. */
export const PAYLOAD_OFF = 8;
const GET_CMD: StructLayout = {
  size: 544, align: 8, fields: {
    cmd_h: [0, 4, 'u32'], subcode: [4, 4, 'u32'], preply: [8, 8, 'ptr'],
    sess: [8, 536, 'struct'], parse_cmd: [8, 80, 'struct'], alloc_cmd: [8, 40, 'struct'],
    exec_cmd: [8, 104, 'struct'], on_free_cmd: [8, 16, 'struct'], on_cached_mem_free: [8, 8, 'struct'],
    tm_cmd: [8, 24, 'struct'], remap_cmd: [8, 48, 'struct'],
    ...nest('sess', PAYLOAD_OFF, SESS),
    ...nest('parse_cmd', PAYLOAD_OFF, PARSE),
    ...nest('alloc_cmd', PAYLOAD_OFF, ALLOC_MEM),
    ...nest('exec_cmd', PAYLOAD_OFF, EXEC),
    ...nest('on_free_cmd', PAYLOAD_OFF, ON_FREE),
    ...nest('on_cached_mem_free', PAYLOAD_OFF, ON_CACHED_MEM_FREE),
    ...nest('tm_cmd', PAYLOAD_OFF, TM),
    ...nest('remap_cmd', PAYLOAD_OFF, EXT_COPY_REMAP),
  },
};
const REPLY_PARSE: StructLayout = {
  size: 48, align: 8, fields: {
    status: [0, 1, 'u8'],
    // status == 0
    queue_type: [8, 1, 'u8'], data_direction: [9, 1, 'u8'], cdb_len: [10, 2, 'u16'], lba: [16, 8, 'i64'],
    data_len: [24, 8, 'i64'], bufflen: [32, 4, 'i32'], op_flags: [36, 4, 'u32'], out_bufflen: [40, 4, 'i32'],
    // status != 0
    sense_len: [8, 1, 'u8'], psense_buffer: [16, 8, 'ptr'],
  },
};
const REPLY_ALLOC_MEM: StructLayout = { size: 8, align: 8, fields: { pbuf: [0, 8, 'ptr'] } };
const DATA_DESCRIPTOR: StructLayout = { size: 16, align: 8, fields: { usdd_lba: [0, 8, 'u64'], usdd_blocks: [8, 8, 'u64'] } };
const REPLY_EXEC: StructLayout = {
  size: 40, align: 8, fields: {
    resp_data_len: [0, 4, 'i32'], pbuf: [8, 8, 'ptr'], reply_type: [16, 1, 'u8'], status: [17, 1, 'u8'],
    sense_len: [24, 1, 'u8'], psense_buffer: [32, 8, 'ptr'],
    ws_descriptors_len: [24, 2, 'u16'], ws_descriptors: [32, 8, 'ptr'],
  },
};
const REPLY_REMAP: StructLayout = {
  size: 24, align: 8, fields: {
    remap_descriptors: [0, 8, 'ptr'], remap_descriptors_len: [8, 2, 'u16'], status: [10, 1, 'u8'],
    sense_len: [11, 1, 'u8'], psense_buffer: [16, 8, 'ptr'],
  },
};
const REPLY_CMD: StructLayout = {
  size: 56, align: 8, fields: {
    cmd_h: [0, 4, 'u32'], subcode: [4, 4, 'u32'], result: [8, 4, 'i32'],
    parse_reply: [8, 48, 'struct'], alloc_reply: [8, 8, 'struct'], exec_reply: [8, 40, 'struct'],
    remap_reply: [8, 24, 'struct'],
    ...nest('parse_reply', PAYLOAD_OFF, REPLY_PARSE),
    ...nest('alloc_reply', PAYLOAD_OFF, REPLY_ALLOC_MEM),
    ...nest('exec_reply', PAYLOAD_OFF, REPLY_EXEC),
    ...nest('remap_reply', PAYLOAD_OFF, REPLY_REMAP),
  },
};
const GET_EXT_CDB: StructLayout = { size: 16, align: 8, fields: { cmd_h: [0, 4, 'u32'], ext_cdb_buffer: [8, 8, 'ptr'] } };
const PREALLOC_IN: StructLayout = {
  size: 16, align: 8, fields: { pbuf: [0, 8, 'ptr'], bufflen: [8, 4, 'u32'], for_clust_pool: [12, 1, 'u8'] },
};
const PREALLOC_OUT: StructLayout = { size: 4, align: 4, fields: { cmd_h: [0, 4, 'u32'] } };
const PREALLOC: StructLayout = {
  size: 16, align: 8, fields: {
    in: [0, 16, 'struct'], out: [0, 4, 'struct'], ...nest('in', 0, PREALLOC_IN), ...nest('out', 0, PREALLOC_OUT),
  },
};
const GET_MULTI: StructLayout = {
  size: 16, align: 8, fields: {
    preplies: [0, 8, 'ptr'], replies_cnt: [8, 2, 'i16'], replies_done: [10, 2, 'i16'], cmds_cnt: [12, 2, 'i16'],
    pad: [14, 2, 'i16'], cmds: [16, 0, 'flex'],
  },
};

/** Every struct of the ABI, by C name. (prealloc_buffer is a union.) */
export const LAYOUTS = {
  scst_user_opt: OPT,
  scst_user_dev_desc: DEV_DESC,
  scst_user_sess: SESS,
  scst_user_scsi_cmd_parse: PARSE,
  scst_user_scsi_cmd_alloc_mem: ALLOC_MEM,
  scst_user_scsi_cmd_exec: EXEC,
  scst_user_scsi_on_free_cmd: ON_FREE,
  scst_user_on_cached_mem_free: ON_CACHED_MEM_FREE,
  scst_user_tm: TM,
  scst_user_ext_copy_data_descr: EXT_COPY_DATA_DESCR,
  scst_user_ext_copy_remap: EXT_COPY_REMAP,
  scst_user_get_cmd: GET_CMD,
  scst_user_scsi_cmd_reply_parse: REPLY_PARSE,
  scst_user_scsi_cmd_reply_alloc_mem: REPLY_ALLOC_MEM,
  scst_user_data_descriptor: DATA_DESCRIPTOR,
  scst_user_scsi_cmd_reply_exec: REPLY_EXEC,
  scst_user_ext_copy_reply_remap: REPLY_REMAP,
  scst_user_reply_cmd: REPLY_CMD,
  scst_user_get_ext_cdb: GET_EXT_CDB,
  scst_user_prealloc_buffer_in: PREALLOC_IN,
  scst_user_prealloc_buffer_out: PREALLOC_OUT,
  scst_user_prealloc_buffer: PREALLOC,
  scst_user_get_multi: GET_MULTI,
} as const satisfies Record<string, StructLayout>;
export type LayoutName = keyof typeof LAYOUTS;

export const GET_CMD_SIZE = 544;
export const REPLY_CMD_SIZE = 56;
export const GET_MULTI_HEADER_SIZE = 16;
export const DEV_DESC_SIZE = 160;
export const OPT_SIZE = 20;

/** Absolute offsets (from the start of scst_user_get_cmd / scst_user_reply_cmd) used by the codecs. */
function abs(layout: StructLayout, prefix: string): Readonly<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, [off]] of Object.entries(layout.fields)) {
    if (name.startsWith(prefix + '.')) out[name.slice(prefix.length + 1)] = off;
  }
  return Object.freeze(out);
}
export const GET_CMD_OFF = {
  cmd_h: 0, subcode: 4, preply: 8,
  sess: abs(GET_CMD, 'sess'),
  parse_cmd: abs(GET_CMD, 'parse_cmd'),
  alloc_cmd: abs(GET_CMD, 'alloc_cmd'),
  exec_cmd: abs(GET_CMD, 'exec_cmd'),
  on_free_cmd: abs(GET_CMD, 'on_free_cmd'),
  on_cached_mem_free: abs(GET_CMD, 'on_cached_mem_free'),
  tm_cmd: abs(GET_CMD, 'tm_cmd'),
  remap_cmd: abs(GET_CMD, 'remap_cmd'),
} as const;
export const REPLY_CMD_OFF = {
  cmd_h: 0, subcode: 4, result: 8,
  parse_reply: abs(REPLY_CMD, 'parse_reply'),
  alloc_reply: abs(REPLY_CMD, 'alloc_reply'),
  exec_reply: abs(REPLY_CMD, 'exec_reply'),
  remap_reply: abs(REPLY_CMD, 'remap_reply'),
} as const;

/**
 * Bytes the kernel writes into a scst_user_get_cmd slot per subcode (header + payload);
 * the rest of the 544 bytes is stale.
 */
export const GET_CMD_BYTES_WRITTEN: Readonly<Record<SubcodeName, number>> = {
  SCST_USER_ATTACH_SESS: PAYLOAD_OFF + SESS.size,
  SCST_USER_DETACH_SESS: PAYLOAD_OFF + SESS.size,
  SCST_USER_PARSE: PAYLOAD_OFF + PARSE.size,
  SCST_USER_ALLOC_MEM: PAYLOAD_OFF + ALLOC_MEM.size,
  SCST_USER_EXEC: PAYLOAD_OFF + EXEC.size,
  SCST_USER_ON_FREE_CMD: PAYLOAD_OFF + ON_FREE.size,
  SCST_USER_ON_CACHED_MEM_FREE: PAYLOAD_OFF + ON_CACHED_MEM_FREE.size,
  SCST_USER_TASK_MGMT_RECEIVED: PAYLOAD_OFF + TM.size,
  SCST_USER_TASK_MGMT_DONE: PAYLOAD_OFF + TM.size,
  SCST_USER_EXT_COPY_REMAP: PAYLOAD_OFF + EXT_COPY_REMAP.size,
};
