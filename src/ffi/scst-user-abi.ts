// The scst_user (/dev/scst_user) kernel ABI, as TypeScript: struct layouts, ioctl numbers,
// subcommand codes and constants, plus DataView encoders/decoders for the structs the data path
// touches on every command. Mirrors kernel/scst_user/scst_user_abi.h; the unit test
// test/unit/scst-user-abi.test.ts compiles kernel/scst_user/abi-check.c and checks every number
// here against gcc, against koffi's own layout of the same structs, and against _IOC computed
// in JS.
//
// Conventions: little-endian (x86_64 / aarch64); pointers and opaque 64-bit handles are BigInt
// (as koffi 3 pointers are); 64-bit byte counts and LBAs are read as JS numbers (exact below
// 2^53); every encoder zero-fills the struct first, so padding and unused union bytes are 0.
import koffi from 'koffi';
import type * as K from 'koffi';

// ---------------------------------------------------------------------------------------------
// _IOC (asm-generic/ioctl.h: nr 8 bits, type 8 bits, size 14 bits, dir 2 bits)
// ---------------------------------------------------------------------------------------------

export const IOC_DIR = { NONE: 0, WRITE: 1, READ: 2 } as const;

export function ioc(dir: number, type: string, nr: number, size: number): number {
  if (dir < 0 || dir > 3 || nr < 0 || nr > 0xff || size < 0 || size > 0x3fff || type.length !== 1) {
    throw new RangeError(`_IOC(${dir}, '${type}', ${nr}, ${size}) out of range`);
  }
  return ((dir << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;
}
export const io = (type: string, nr: number): number => ioc(IOC_DIR.NONE, type, nr, 0);
export const ior = (type: string, nr: number, size: number): number => ioc(IOC_DIR.READ, type, nr, size);
export const iow = (type: string, nr: number, size: number): number => ioc(IOC_DIR.WRITE, type, nr, size);
export const iowr = (type: string, nr: number, size: number): number =>
  ioc(IOC_DIR.READ | IOC_DIR.WRITE, type, nr, size);
export const iocNr = (req: number): number => req & 0xff;
export const iocType = (req: number): string => String.fromCharCode((req >>> 8) & 0xff);
export const iocSize = (req: number): number => (req >>> 16) & 0x3fff;
export const iocDir = (req: number): number => req >>> 30;

// ---------------------------------------------------------------------------------------------
// ioctl numbers and subcodes (hard-coded, as in scst.md §1.3/§1.4; verified by the unit test)
// ---------------------------------------------------------------------------------------------

export const SCST_USER_IOCTLS = {
  SCST_USER_REGISTER_DEVICE: 0x40a07501, //       _IOW('u', 1, scst_user_dev_desc)
  SCST_USER_UNREGISTER_DEVICE: 0x00007502, //     _IO('u', 2)   obsolete: only wakes waiters
  SCST_USER_SET_OPTIONS: 0x40147503, //           _IOW('u', 3, scst_user_opt)
  SCST_USER_GET_OPTIONS: 0x80147504, //           _IOR('u', 4, scst_user_opt)
  SCST_USER_REPLY_AND_GET_CMD: 0xc2207505, //     _IOWR('u', 5, scst_user_get_cmd)
  SCST_USER_REPLY_CMD: 0x40387506, //             _IOW('u', 6, scst_user_reply_cmd)
  SCST_USER_FLUSH_CACHE: 0x00007507, //           _IO('u', 7)
  SCST_USER_DEVICE_CAPACITY_CHANGED: 0x00007508, // _IO('u', 8)  TYPE_DISK only
  SCST_USER_GET_EXTENDED_CDB: 0xc0107509, //      _IOWR('u', 9, scst_user_get_ext_cdb)
  SCST_USER_PREALLOC_BUFFER: 0xc010750a, //       _IOWR('u', 10, union scst_user_prealloc_buffer)
  SCST_USER_REPLY_AND_GET_MULTI: 0xc010750b, //   _IOWR('u', 11, scst_user_get_multi)
} as const;

/** scst_user_get_cmd.subcode values; a reply must echo the received subcode exactly. */
export const SCST_USER_SUBCODES = {
  SCST_USER_ATTACH_SESS: 0x82187320, //           _IOR('s', 0x20, scst_user_sess)
  SCST_USER_DETACH_SESS: 0x82187321, //           _IOR('s', 0x21, scst_user_sess)
  SCST_USER_PARSE: 0xc0507301, //                 _IOWR('s', 1, scst_user_scsi_cmd_parse)
  SCST_USER_ALLOC_MEM: 0xc0287302, //             _IOWR('s', 2, scst_user_scsi_cmd_alloc_mem)
  SCST_USER_EXEC: 0xc0687303, //                  _IOWR('s', 3, scst_user_scsi_cmd_exec)
  SCST_USER_ON_FREE_CMD: 0x80107304, //           _IOR('s', 4, scst_user_scsi_on_free_cmd)
  SCST_USER_ON_CACHED_MEM_FREE: 0x80087305, //    _IOR('s', 5, scst_user_on_cached_mem_free)
  SCST_USER_TASK_MGMT_RECEIVED: 0xc0187308, //    _IOWR('s', 8, scst_user_tm)
  SCST_USER_TASK_MGMT_DONE: 0xc0187309, //        _IOWR('s', 9, scst_user_tm)
  SCST_USER_EXT_COPY_REMAP: 0xc0307306, //        _IOWR('s', 6, scst_user_ext_copy_remap)
} as const;

export type SubcodeName = keyof typeof SCST_USER_SUBCODES;
const SUBCODE_NAMES = new Map<number, SubcodeName>(
  (Object.entries(SCST_USER_SUBCODES) as [SubcodeName, number][]).map(([k, v]) => [v, k]),
);
/** The C name of a subcode, or undefined if this ABI does not know it. */
export const subcodeName = (subcode: number): SubcodeName | undefined => SUBCODE_NAMES.get(subcode >>> 0);

// ---------------------------------------------------------------------------------------------
// Constants (C names, grouped; every value is checked against gcc by the unit test)
// ---------------------------------------------------------------------------------------------

export const PARSE_TYPE = {
  SCST_USER_PARSE_STANDARD: 0,
  SCST_USER_PARSE_CALL: 1,
  SCST_USER_PARSE_EXCEPTION: 2,
  SCST_USER_MAX_PARSE_OPT: 2,
} as const;

export const ON_FREE_CMD_TYPE = {
  SCST_USER_ON_FREE_CMD_CALL: 0,
  SCST_USER_ON_FREE_CMD_IGNORE: 1,
  SCST_USER_MAX_ON_FREE_CMD_OPT: 1,
} as const;

export const MEMORY_REUSE_TYPE = {
  SCST_USER_MEM_NO_REUSE: 0,
  SCST_USER_MEM_REUSE_READ: 1,
  SCST_USER_MEM_REUSE_WRITE: 2,
  SCST_USER_MEM_REUSE_ALL: 3,
  SCST_USER_MAX_MEM_REUSE_OPT: 3,
} as const;

export const PARTIAL_TRANSFERS_TYPE = {
  SCST_USER_PARTIAL_TRANSFERS_NOT_SUPPORTED: 0,
  SCST_USER_PARTIAL_TRANSFERS_SUPPORTED_ORDERED: 1,
  SCST_USER_PARTIAL_TRANSFERS_SUPPORTED: 2,
  SCST_USER_MAX_PARTIAL_TRANSFERS_OPT: 2,
} as const;

/** Control mode page fields of scst_user_opt. */
export const CONTROL_MODE = {
  SCST_TST_0_SINGLE_TASK_SET: 0,
  SCST_TST_1_SEP_TASK_SETS: 1,
  SCST_QUEUE_ALG_0_RESTRICTED_REORDER: 0,
  SCST_QUEUE_ALG_1_UNRESTRICTED_REORDER: 1,
  SCST_QERR_0_ALL_RESUME: 0,
  SCST_QERR_1_ABORT_ALL: 1,
  SCST_QERR_2_RESERVED: 2,
  SCST_QERR_3_ABORT_THIS_NEXUS_ONLY: 3,
  SCST_D_SENSE_0_FIXED_SENSE: 0,
  SCST_D_SENSE_1_DESCR_SENSE: 1,
} as const;

export const SIZES = {
  SCST_MAX_CDB_SIZE: 16,
  SCST_MAX_LONG_CDB_SIZE: 65536,
  SCST_MAX_NAME: 50,
  SCST_MAX_EXTERNAL_NAME: 256,
  SCST_STANDARD_SENSE_LEN: 18,
  SCST_SENSE_BUFFERSIZE: 252,
} as const;

export const DATA_DIRECTION = {
  SCST_DATA_UNKNOWN: 0,
  SCST_DATA_WRITE: 1,
  SCST_DATA_READ: 2,
  SCST_DATA_BIDI: 3,
  SCST_DATA_NONE: 4,
} as const;

export const QUEUE_TYPE = {
  SCST_CMD_QUEUE_UNTAGGED: 0,
  SCST_CMD_QUEUE_SIMPLE: 1,
  SCST_CMD_QUEUE_ORDERED: 2,
  SCST_CMD_QUEUE_HEAD_OF_QUEUE: 3,
  SCST_CMD_QUEUE_ACA: 4,
} as const;

/** op_flags bits; a PARSE reply must include SCST_INFO_VALID. */
export const OP_FLAGS = {
  SCST_SMALL_TIMEOUT: 0x1,
  SCST_LONG_TIMEOUT: 0x2,
  SCST_TRANSFER_LEN_TYPE_FIXED: 0x4,
  SCST_UNKNOWN_LBA: 0x8,
  SCST_UNKNOWN_LENGTH: 0x10,
  SCST_INFO_VALID: 0x20,
  SCST_LBA_NOT_VALID: 0x40,
  SCST_IMPLICIT_HQ: 0x80,
  SCST_SKIP_UA: 0x100,
  SCST_WRITE_MEDIUM: 0x200,
  SCST_LOCAL_CMD: 0x400,
  SCST_FULLY_LOCAL_CMD: 0x800,
  SCST_REG_RESERVE_ALLOWED: 0x1000,
  SCST_WRITE_EXCL_ALLOWED: 0x2000,
  SCST_EXCL_ACCESS_ALLOWED: 0x4000,
  SCST_SERIALIZED: 0x10000,
  SCST_STRICTLY_SERIALIZED: 0x30000,
  SCST_CAN_GEN_3PARTY_COMMANDS: 0x40000,
  SCST_DESCRIPTORS_BASED: 0x80000,
  SCST_SCSI_ATOMIC: 0x100000,
} as const;

export const TM_FN = {
  SCST_ABORT_TASK: 0,
  SCST_ABORT_TASK_SET: 1,
  SCST_CLEAR_ACA: 2,
  SCST_CLEAR_TASK_SET: 3,
  SCST_LUN_RESET: 4,
  SCST_TARGET_RESET: 5,
  SCST_NEXUS_LOSS_SESS: 6,
  SCST_ABORT_ALL_TASKS_SESS: 7,
  SCST_NEXUS_LOSS: 8,
  SCST_ABORT_ALL_TASKS: 9,
  SCST_UNREG_SESS_TM: 10,
  SCST_PR_ABORT_ALL: 11,
} as const;

/** reply.result for TASK_MGMT_DONE. */
export const TM_STATUS = {
  SCST_MGMT_STATUS_SUCCESS: 0,
  SCST_MGMT_STATUS_TASK_NOT_EXIST: -1,
  SCST_MGMT_STATUS_LUN_NOT_EXIST: -2,
  SCST_MGMT_STATUS_FN_NOT_SUPPORTED: -5,
  SCST_MGMT_STATUS_REJECTED: -255,
  SCST_MGMT_STATUS_FAILED: -129,
} as const;

/** on_free_cmd.delivery_status (a __u8 in the struct; decodeGetCmd returns it sign-extended). */
export const DELIVERY_STATUS = {
  SCST_CMD_DELIVERY_SUCCESS: 0,
  SCST_CMD_DELIVERY_FAILED: -1,
  SCST_CMD_DELIVERY_ABORTED: -2,
} as const;

export const EXEC_REPLY_TYPE = {
  SCST_EXEC_REPLY_BACKGROUND: 0,
  SCST_EXEC_REPLY_COMPLETED: 1,
  SCST_EXEC_REPLY_DO_WRITE_SAME: 2,
} as const;

/** _IOC_NR of each subcode. */
export const UCMD_STATE = {
  UCMD_STATE_NEW: 0,
  UCMD_STATE_PARSING: 1,
  UCMD_STATE_BUF_ALLOCING: 2,
  UCMD_STATE_EXECING: 3,
  UCMD_STATE_ON_FREEING: 4,
  UCMD_STATE_ON_CACHE_FREEING: 5,
  UCMD_STATE_EXT_COPY_REMAPPING: 6,
  UCMD_STATE_ON_FREE_SKIPPED: 7,
  UCMD_STATE_TM_RECEIVED_EXECING: 8,
  UCMD_STATE_TM_DONE_EXECING: 9,
  UCMD_STATE_ATTACH_SESS: 0x20,
  UCMD_STATE_DETACH_SESS: 0x21,
} as const;

/** Every numeric constant of the header, by C name (what abi-check prints under "constants"). */
export const SCST_USER_CONSTANTS: Readonly<Record<string, number>> = Object.freeze({
  ...PARSE_TYPE,
  ...ON_FREE_CMD_TYPE,
  ...MEMORY_REUSE_TYPE,
  ...PARTIAL_TRANSFERS_TYPE,
  ...CONTROL_MODE,
  ...SIZES,
  ...DATA_DIRECTION,
  ...QUEUE_TYPE,
  ...OP_FLAGS,
  ...TM_FN,
  ...TM_STATUS,
  ...DELIVERY_STATUS,
  ...EXEC_REPLY_TYPE,
  ...UCMD_STATE,
});

export const DEV_USER_NAME = 'scst_user';
export const DEV_USER_PATH = '/dev/';
export const SCST_USER_DEVICE = DEV_USER_PATH + DEV_USER_NAME;

// ---------------------------------------------------------------------------------------------
// Version / license strings for REGISTER_DEVICE
// ---------------------------------------------------------------------------------------------

/** Licenses the kernel accepts in dev_desc.license_str (anything else: EPERM). */
export const ACCEPTED_LICENSES = ['GPL', 'GPL v2', 'Dual BSD/GPL', 'Dual MIT/GPL', 'Dual MPL/GPL'] as const;

export const VERSION_LIMITS = {
  SCST_ABI_SHA1_HEX_LEN: 40,
  /** The kernel copies max(strlen(DEV_USER_VERSION) + 1, 20) bytes from each string pointer. */
  SCST_ABI_STR_COPY_MIN: 20,
  /** Allocate (zero-padded) at least this many bytes for version_str and license_str. */
  SCST_ABI_STR_BUF_MIN: 128,
} as const;

/** sha1(scst_user.h): the same for 3.8 … 3.11.0-pre. */
export const SCST_ABI_DEV_USER_INTF_VER = '230a30730ec749a9738ef33d6d17b1e6739bd195';

export interface ScstRelease {
  readonly tag: string;
  readonly versionName: string;
  readonly devUserIntfVer: string;
  readonly constIntfVer: string;
}
/** Known releases whose scst_user ABI is exactly this one. */
export const KNOWN_SCST_RELEASES: readonly ScstRelease[] = [
  { tag: 'v3.8', versionName: '3.8.0', devUserIntfVer: SCST_ABI_DEV_USER_INTF_VER, constIntfVer: '7a108855086ad9ef49bdefa1a5819df2db0aba62' },
  { tag: 'v3.9', versionName: '3.9.0', devUserIntfVer: SCST_ABI_DEV_USER_INTF_VER, constIntfVer: '58760c5ceec7d20ce59c725a4a7a1f005466a6d0' },
  { tag: 'v3.10', versionName: '3.10.0', devUserIntfVer: SCST_ABI_DEV_USER_INTF_VER, constIntfVer: '85aa8654196eb07e34d2b0762f5607fb4b70af8b' },
  { tag: 'master', versionName: '3.11.0-pre', devUserIntfVer: SCST_ABI_DEV_USER_INTF_VER, constIntfVer: 'f03678ef2265294f64bc9fca39567ca80671f7d8' },
];

const SHA1_RE = /^[0-9a-f]{40}$/;

/** DEV_USER_VERSION = SCST_VERSION_NAME + DEV_USER_INTF_VER + SCST_CONST_INTF_VER. */
export function devUserVersion(versionName: string, devUserIntfVer: string, constIntfVer: string): string {
  if (!SHA1_RE.test(devUserIntfVer) || !SHA1_RE.test(constIntfVer)) {
    throw new RangeError('interface versions must be 40 lowercase hex digits (sha1)');
  }
  const v = versionName + devUserIntfVer + constIntfVer;
  if (v.length + 1 > VERSION_LIMITS.SCST_ABI_STR_BUF_MIN) throw new RangeError(`version string too long: ${v}`);
  return v;
}

/** How many bytes the kernel reads from version_str/license_str for this version string. */
export const versionCopyLength = (devUserVersion: string): number =>
  Math.max(devUserVersion.length + 1, VERSION_LIMITS.SCST_ABI_STR_COPY_MIN);

/** The three #defines of an installed scst_itf_ver.h (generated by SCST's Makefile). */
export function parseScstItfVer(text: string): { scstIntfVer?: string; constIntfVer: string; devUserIntfVer: string } {
  const get = (name: string): string | undefined =>
    new RegExp(`#define\\s+${name}\\s+"([0-9a-f]{40})"`).exec(text)?.[1];
  const constIntfVer = get('SCST_CONST_INTF_VER');
  const devUserIntfVer = get('DEV_USER_INTF_VER');
  if (!constIntfVer || !devUserIntfVer) throw new Error('scst_itf_ver.h: SCST_CONST_INTF_VER / DEV_USER_INTF_VER not found');
  const scstIntfVer = get('SCST_INTF_VER');
  return scstIntfVer ? { scstIntfVer, constIntfVer, devUserIntfVer } : { constIntfVer, devUserIntfVer };
}

/** SCST_VERSION_NAME from an installed scst_const.h. */
export function parseScstVersionName(scstConstH: string): string {
  const m = /#define\s+SCST_VERSION_NAME\s+"([^"]+)"/.exec(scstConstH);
  if (!m) throw new Error('scst_const.h: SCST_VERSION_NAME not found');
  return m[1]!;
}

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

// ---------------------------------------------------------------------------------------------
// Scalar helpers
// ---------------------------------------------------------------------------------------------

const TWO32 = 4294967296;

/** i64 as a number (exact when |v| < 2^53). */
export function getI64(dv: DataView, off: number): number {
  return dv.getInt32(off + 4, true) * TWO32 + dv.getUint32(off, true);
}

/** i64/u64 from a number (integer) or bigint. */
export function setI64(dv: DataView, off: number, v: number | bigint): void {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) {
    dv.setUint32(off, v % TWO32, true);
    dv.setUint32(off + 4, Math.floor(v / TWO32), true);
  } else {
    dv.setBigInt64(off, BigInt(v), true);
  }
}

/** A pointer / u64 handle. */
export function setU64(dv: DataView, off: number, v: bigint | number): void {
  dv.setBigUint64(off, BigInt(v), true);
}

function zero(dv: DataView, off: number, len: number): void {
  new Uint8Array(dv.buffer, dv.byteOffset + off, len).fill(0);
}

const latin1 = new TextDecoder('latin1');

function getCString(dv: DataView, off: number, max: number): string {
  const bytes = new Uint8Array(dv.buffer, dv.byteOffset + off, max);
  const end = bytes.indexOf(0);
  return latin1.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Writes s NUL-terminated into a char[size] field (zero-filling the rest); s must fit in size-1 bytes. */
export function setCString(dv: DataView, off: number, size: number, s: string): void {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length >= size) throw new RangeError(`"${s}" does not fit in char[${size}] (with its NUL)`);
  if (bytes.includes(0)) throw new RangeError('string contains NUL');
  const dst = new Uint8Array(dv.buffer, dv.byteOffset + off, size);
  dst.fill(0);
  dst.set(bytes);
}

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

// ---------------------------------------------------------------------------------------------
// scst_user_get_multi
// ---------------------------------------------------------------------------------------------

/** Bytes needed for a REPLY_AND_GET_MULTI argument with room for `cmds` commands. */
export const getMultiSize = (cmds: number): number => GET_MULTI_HEADER_SIZE + cmds * GET_CMD_SIZE;
/** Offset of command slot i within a REPLY_AND_GET_MULTI argument at base. */
export const getMultiCmdOffset = (base: number, i: number): number => base + GET_MULTI_HEADER_SIZE + i * GET_CMD_SIZE;

const MAX_S16 = 0x7fff;

/** Header: preplies → replies_cnt × scst_user_reply_cmd; cmds_cnt = slots following the header. */
export function encodeGetMulti(dv: DataView, base: number, preplies: bigint, replies_cnt: number, cmds_cnt: number): void {
  if (replies_cnt < 0 || replies_cnt > MAX_S16 || cmds_cnt < 0 || cmds_cnt > MAX_S16) {
    throw new RangeError('replies_cnt and cmds_cnt are int16');
  }
  dv.setBigUint64(base, preplies, true);
  dv.setInt16(base + 8, replies_cnt, true);
  dv.setInt16(base + 10, 0, true);
  dv.setInt16(base + 12, cmds_cnt, true);
  dv.setInt16(base + 14, 0, true);
}

/** After the ioctl (read it even when the ioctl failed): replies consumed, commands filled. */
export function decodeGetMultiResult(dv: DataView, base: number): { replies_done: number; cmds_cnt: number } {
  return { replies_done: dv.getInt16(base + 10, true), cmds_cnt: dv.getInt16(base + 12, true) };
}

// ---------------------------------------------------------------------------------------------
// Control structs (rare path; DataView too, so they work on koffi.alloc'd memory)
// ---------------------------------------------------------------------------------------------

export interface UserOpt {
  readonly parse_type: number;
  readonly on_free_cmd_type: number;
  readonly memory_reuse_type: number;
  readonly partial_transfers_type: number;
  readonly partial_len: number;
  readonly tst: number;
  readonly tmf_only: number;
  readonly queue_alg: number;
  readonly qerr: number;
  readonly tas: number;
  readonly swp: number;
  readonly d_sense: number;
  readonly has_own_order_mgmt: number;
  readonly ext_copy_remap_supported: number;
}
const OPT_U8 = [
  'parse_type', 'on_free_cmd_type', 'memory_reuse_type', 'partial_transfers_type', 'tst', 'tmf_only',
  'queue_alg', 'qerr', 'tas', 'swp', 'd_sense', 'has_own_order_mgmt', 'ext_copy_remap_supported',
] as const;

export function encodeOpt(dv: DataView, base: number, o: UserOpt): void {
  zero(dv, base, OPT_SIZE);
  for (const k of OPT_U8) dv.setUint8(base + OPT.fields[k]![0], o[k]);
  dv.setInt32(base + OPT.fields.partial_len![0], o.partial_len, true);
}

export function decodeOpt(dv: DataView, base: number): UserOpt {
  const o: Record<string, number> = {};
  for (const k of OPT_U8) o[k] = dv.getUint8(base + OPT.fields[k]![0]);
  o.partial_len = dv.getInt32(base + OPT.fields.partial_len![0], true);
  return o as unknown as UserOpt;
}

export interface DevDesc {
  /** Native addresses of zero-padded (≥ 128-byte) NUL-terminated strings. */
  readonly version_str: bigint;
  readonly license_str: bigint;
  readonly type: number;
  readonly sgv_shared?: number;
  readonly sgv_disable_clustered_pool?: number;
  readonly sgv_single_alloc_pages?: number;
  readonly sgv_purge_interval?: number;
  readonly opt: UserOpt;
  readonly block_size: number;
  readonly enable_pr_cmds_notifications?: number;
  readonly name: string;
  readonly sgv_name?: string;
}

export function encodeDevDesc(dv: DataView, base: number, d: DevDesc): void {
  const f = DEV_DESC.fields;
  zero(dv, base, DEV_DESC_SIZE);
  dv.setBigUint64(base + f.version_str![0], d.version_str, true);
  dv.setBigUint64(base + f.license_str![0], d.license_str, true);
  dv.setUint8(base + f.type![0], d.type);
  dv.setUint8(base + f.sgv_shared![0], d.sgv_shared ?? 0);
  dv.setUint8(base + f.sgv_disable_clustered_pool![0], d.sgv_disable_clustered_pool ?? 0);
  dv.setInt32(base + f.sgv_single_alloc_pages![0], d.sgv_single_alloc_pages ?? 0, true);
  dv.setInt32(base + f.sgv_purge_interval![0], d.sgv_purge_interval ?? 0, true);
  encodeOpt(dv, base + f.opt![0], d.opt);
  dv.setUint32(base + f.block_size![0], d.block_size, true);
  dv.setUint8(base + f.enable_pr_cmds_notifications![0], d.enable_pr_cmds_notifications ?? 0);
  setCString(dv, base + f.name![0], SIZES.SCST_MAX_NAME, d.name);
  setCString(dv, base + f.sgv_name![0], SIZES.SCST_MAX_NAME, d.sgv_name ?? '');
}

/** SCST_USER_GET_EXTENDED_CDB argument: the kernel copies cdb_len - 16 bytes to ext_cdb_buffer. */
export function encodeGetExtCdb(dv: DataView, base: number, cmd_h: number, ext_cdb_buffer: bigint): void {
  zero(dv, base, GET_EXT_CDB.size);
  dv.setUint32(base, cmd_h, true);
  dv.setBigUint64(base + 8, ext_cdb_buffer, true);
}

/** SCST_USER_PREALLOC_BUFFER input (pbuf page-aligned). */
export function encodePreallocBuffer(dv: DataView, base: number, pbuf: bigint, bufflen: number, for_clust_pool = 0): void {
  zero(dv, base, PREALLOC.size);
  dv.setBigUint64(base, pbuf, true);
  dv.setUint32(base + 8, bufflen, true);
  dv.setUint8(base + 12, for_clust_pool);
}
/** SCST_USER_PREALLOC_BUFFER output: the cmd_h later carried by ON_CACHED_MEM_FREE. */
export const decodePreallocBufferCmdH = (dv: DataView, base: number): number => dv.getUint32(base, true);

/** One WRITE SAME range for encodeExecWriteSameReply (the last one must have usdd_blocks 0). */
export function encodeDataDescriptor(dv: DataView, base: number, usdd_lba: bigint | number, usdd_blocks: bigint | number): void {
  setU64(dv, base, usdd_lba);
  setU64(dv, base + 8, usdd_blocks);
}

/** One leftover EXTENDED COPY segment for encodeRemapReply. */
export function encodeExtCopyDataDescr(dv: DataView, base: number, src_lba: bigint, dst_lba: bigint, data_len: number): void {
  zero(dv, base, EXT_COPY_DATA_DESCR.size);
  dv.setBigUint64(base, src_lba, true);
  dv.setBigUint64(base + 8, dst_lba, true);
  dv.setInt32(base + 16, data_len, true);
}
