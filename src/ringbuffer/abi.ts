// The LIO target_core_user (TCMU) shared-memory ABI, pinned as numbers.
//
// Source of truth: include/uapi/linux/target_core_user.h, cross-checked against
// drivers/target/target_core_user.c. kernel/tcmu/abi-check.c prints gcc's view of the header
// and test/unit/ringbuffer-abi-gcc.test.ts compares every number here with it. Every struct in
// the header is __packed at the top level, BUT the anonymous req/rsp structs inside
// tcmu_cmd_entry's union are not, which puts 4 bytes of padding before req.cdb_off (offset 24,
// not 20), an easy thing to get wrong.
//
// All multi-byte fields are little-endian on the platforms we run on (x86_64, aarch64); the
// header uses native-endian __u16/__u32/__u64, so readers pass littleEndian=true.

/** TCMU_MAILBOX_VERSION (uapi header). libtcmu refuses any other value; so do we. */
export const TCMU_MAILBOX_VERSION = 2;

/** TCMU_VERSION string (uapi header); informational only. */
export const TCMU_VERSION = '2.0';

/**
 * struct tcmu_mailbox (uapi header; sizeof 128 on x86_64).
 * cmd_tail carries __attribute__((__aligned__(ALIGN_SIZE=64))), so it sits at 64, alone on
 * its cache line, and the struct is padded out to 128.
 */
export const Mailbox = {
  /** __u16 version: TCMU_MAILBOX_VERSION, written by the kernel. */
  VERSION: 0,
  /** __u16 flags: TCMU_MAILBOX_FLAG_CAP_* bits, written by the kernel. */
  FLAGS: 2,
  /** __u32 cmdr_off: byte offset of the command ring from the mmap base (= sizeof mailbox). */
  CMDR_OFF: 4,
  /** __u32 cmdr_size: ring size in bytes; NOT a power of two (8 MiB - 128 by default). */
  CMDR_SIZE: 8,
  /** __u32 cmd_head: producer cursor (ring-relative), kernel smp_store_release. */
  CMD_HEAD: 12,
  /** __u32 cmd_tail: consumer cursor (ring-relative), written by userspace, own cache line. */
  CMD_TAIL: 64,
  /** sizeof(struct tcmu_mailbox); also CMDR_OFF in target_core_user.c. */
  SIZE: 128,
} as const;

/** Index of cmd_head / cmd_tail in a Uint32Array laid over the mailbox (offset / 4). */
export const MAILBOX_HEAD_INDEX = Mailbox.CMD_HEAD / 4;
export const MAILBOX_TAIL_INDEX = Mailbox.CMD_TAIL / 4;

/** TCMU_MAILBOX_FLAG_CAP_* (uapi header). */
export const MailboxFlag = {
  /** (1 << 0) out-of-order completions: the kernel finds the command by hdr.cmd_id. */
  CAP_OOOC: 1 << 0,
  /** (1 << 1) userspace may report a short read via TCMU_UFLAG_READ_LEN + rsp.read_len (~4.15). */
  CAP_READ_LEN: 1 << 1,
  /** (1 << 2) TMR notification entries (TCMU_OP_TMR) may appear (~5.9; per-device attr). */
  CAP_TMR: 1 << 2,
  /** (1 << 3) userspace may keep the data buffer past completion (TCMU_UFLAG_KEEP_BUF, ~5.13). */
  CAP_KEEP_BUF: 1 << 3,
} as const;

/** enum tcmu_opcode (uapi header): the low 3 bits of hdr.len_op. */
export const TcmuOp = {
  /** Skip hdr length bytes; written by the kernel to fill the ring's end before a wrap. */
  PAD: 0,
  /** A SCSI command (struct tcmu_cmd_entry). */
  CMD: 1,
  /** A task-management notification (struct tcmu_tmr_entry). */
  TMR: 2,
} as const;

/** TCMU_OP_MASK (uapi header): op = len_op & 7; len = len_op & ~7 (length is NOT shifted). */
export const TCMU_OP_MASK = 0x7;

/** TCMU_OP_ALIGN_SIZE = sizeof(__u64) (uapi header): entry lengths and offsets are 8-aligned. */
export const TCMU_OP_ALIGN_SIZE = 8;

/** struct tcmu_cmd_entry_hdr (uapi header; packed, 8 bytes). Offsets from the entry start. */
export const EntryHdr = {
  /** __u32 len_op. */
  LEN_OP: 0,
  /** __u16 cmd_id: 1..65535 for CMD (xa_alloc), 0 for PAD and TMR. */
  CMD_ID: 4,
  /** __u8 kflags: kernel-owned, always 0 today. */
  KFLAGS: 6,
  /** __u8 uflags: userspace-owned (TCMU_UFLAG_*). */
  UFLAGS: 7,
  SIZE: 8,
} as const;

/** TCMU_UFLAG_* (uapi header). Written by userspace into hdr.uflags. */
export const UFlag = {
  /** 0x1: userspace did not understand the entry; on a CMD the kernel returns CHECK CONDITION. */
  UNKNOWN_OP: 0x1,
  /** 0x2: rsp.read_len is valid (needs CAP_READ_LEN; kernel ignores read_len == 0). */
  READ_LEN: 0x2,
  /** 0x4: keep the data blocks until action/free_kept_buf (needs CAP_KEEP_BUF). */
  KEEP_BUF: 0x4,
} as const;

/** tcmu_cmd_entry.req (uapi header; inner struct NOT packed). Offsets from the entry start. */
export const CmdReq = {
  /** __u32 iov_cnt: Data-Out iovecs for writes, Data-In iovecs for reads. */
  IOV_CNT: 8,
  /** __u32 iov_bidi_cnt: Data-In iovecs of a BIDI command, following the iov_cnt ones. */
  IOV_BIDI_CNT: 12,
  /** __u32 iov_dif_cnt: protection-info iovecs (always 0: DIF is not implemented). */
  IOV_DIF_CNT: 16,
  /** __u64 cdb_off at 24 (4 bytes of alignment padding at 20): offset from the MMAP BASE. */
  CDB_OFF: 24,
  /** __u64 __pad1, __pad2 at 32 and 40. */
  PAD1: 32,
  PAD2: 40,
  /** struct iovec iov[] at 48, 16 bytes each. */
  IOV: 48,
} as const;

/** struct iovec as the kernel fills it: both fields are 64-bit; iov_base is an mmap offset. */
export const Iovec = {
  /** iov_base: offset from the mmap base (NOT a pointer), into the data area. */
  BASE: 0,
  /** iov_len. */
  LEN: 8,
  SIZE: 16,
} as const;

/** tcmu_cmd_entry.rsp (uapi header): overlays req from byte 8; written by userspace. */
export const CmdRsp = {
  /** __u8 scsi_status (SAM status). */
  SCSI_STATUS: 8,
  /** __u8 __pad1, __u16 __pad2. */
  PAD1: 9,
  PAD2: 10,
  /** __u32 read_len (was __pad3 before READ_LEN existed). */
  READ_LEN: 12,
  /** char sense_buffer[TCMU_SENSE_BUFFERSIZE] at 16..111. */
  SENSE: 16,
} as const;

/** TCMU_SENSE_BUFFERSIZE (uapi header) = SCSI_SENSE_BUFFERSIZE. */
export const TCMU_SENSE_BUFFERSIZE = 96;

/** sizeof(struct tcmu_cmd_entry) = 112: the minimum CMD entry (room for rsp). */
export const CMD_ENTRY_MIN_SIZE = CmdRsp.SENSE + TCMU_SENSE_BUFFERSIZE;

/** struct tcmu_tmr_entry (uapi header; sizeof 32 before cmd_ids[]). */
export const TmrEntry = {
  /** __u8 tmr_type (TcmuTmrType). */
  TMR_TYPE: 8,
  /** __u32 cmd_cnt: number of cmd_ids that follow (__u8 __pad1 at 9, __u16 __pad2 at 10). */
  CMD_CNT: 12,
  /** __u16 cmd_ids[cmd_cnt], after two __u64 pads at 16 and 24. */
  CMD_IDS: 32,
  /** sizeof(struct tcmu_tmr_entry) without the flexible array. */
  SIZE: 32,
} as const;

/** enum tcmu_tmr_type (uapi header). */
export const TcmuTmrType = {
  UNKNOWN: 0,
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LUN_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
  /** Pseudo LUN reset caused by a PERSISTENT RESERVE OUT preempt-and-abort. */
  LUN_RESET_PRO: 128,
} as const;

/** SAM status values used by this module (SAM-5; the kernel's SAM_STAT_*). */
export const SamStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  BUSY: 0x08,
  TASK_SET_FULL: 0x28,
} as const;

/** tcmu_hdr_get_op(): the opcode in the low bits. */
export function entryOp(lenOp: number): number {
  return lenOp & TCMU_OP_MASK;
}

/** tcmu_hdr_get_len(): the entry length, already a byte count (not shifted). */
export function entryLen(lenOp: number): number {
  return (lenOp & ~TCMU_OP_MASK) >>> 0;
}

/** Build len_op the way tcmu_hdr_set_op/tcmu_hdr_set_len do. */
export function makeLenOp(len: number, op: number): number {
  return ((len & ~TCMU_OP_MASK) | (op & TCMU_OP_MASK)) >>> 0;
}

/** Round up to TCMU_OP_ALIGN_SIZE. */
export function alignEntry(n: number): number {
  return (n + TCMU_OP_ALIGN_SIZE - 1) & ~(TCMU_OP_ALIGN_SIZE - 1);
}

/** tcmu_cmd_get_base_cmd_size(): max(offsetof(req.iov[n]), sizeof(struct tcmu_cmd_entry)). */
export function cmdBaseSize(iovCnt: number): number {
  return Math.max(CmdReq.IOV + Iovec.SIZE * iovCnt, CMD_ENTRY_MIN_SIZE);
}

/** tcmu_cmd_get_cmd_size(): base + round_up(cdb length, 8). The CDB follows the iovecs. */
export function cmdEntrySize(iovCnt: number, cdbLen: number): number {
  return cmdBaseSize(iovCnt) + alignEntry(cdbLen);
}

/** tcmu_tmr_get_size() equivalent: round_up(32 + 2 * cmd_cnt, 8). */
export function tmrEntrySize(cmdCnt: number): number {
  return alignEntry(TmrEntry.SIZE + 2 * cmdCnt);
}

/** VARIABLE_LENGTH_CMD (0x7f): CDB length is 8 + cdb[7]. */
export const VARIABLE_LENGTH_CMD = 0x7f;

/** scsi_command_size_tbl[] from include/scsi/scsi_common.h, indexed by opcode group (op >> 5). */
const COMMAND_SIZE_BY_GROUP = [6, 10, 10, 12, 16, 12, 10, 10] as const;

/**
 * scsi_command_size() as the kernel computes it when it copies the CDB into the entry:
 * group table, or 8 + cdb[7] for VARIABLE LENGTH (0x7f). Returns 0 when cdb is empty, and
 * -1 for a variable-length CDB whose length byte is not yet readable.
 */
export function scsiCommandSize(opcode: number, additionalLength?: number): number {
  if (opcode === VARIABLE_LENGTH_CMD) {
    return additionalLength === undefined ? -1 : 8 + additionalLength;
  }
  return COMMAND_SIZE_BY_GROUP[(opcode >> 5) & 7];
}
