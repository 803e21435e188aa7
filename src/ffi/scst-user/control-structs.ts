// scst_user ABI (part of src/ffi/scst-user-abi.ts): DataView codecs of the control-path structs
// (options, device descriptor, extended CDB, preallocated buffers, WRITE SAME / remap descriptors).
//
// Conventions: little-endian (x86_64 / aarch64); pointers and opaque 64-bit handles are BigInt
// (as koffi 3 pointers are); 64-bit byte counts and LBAs are read as JS numbers (exact below
// 2^53); every encoder zero-fills the struct first, so padding and unused union bytes are 0.
import { SIZES } from './constants.ts';
import { DEV_DESC_SIZE, LAYOUTS, OPT_SIZE } from './layouts.ts';
import { setCString, setU64, zero } from './scalars.ts';

const {
  scst_user_opt: OPT,
  scst_user_dev_desc: DEV_DESC,
  scst_user_get_ext_cdb: GET_EXT_CDB,
  scst_user_prealloc_buffer: PREALLOC,
  scst_user_ext_copy_data_descr: EXT_COPY_DATA_DESCR,
} = LAYOUTS;

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
