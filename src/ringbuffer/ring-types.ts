// The public types of the TCMU ring consumer (src/ringbuffer/ring.ts): options, decoded events,
// completions, problems and counters.
import type { TcmuIovec } from './iovec.ts';

export type CompletionMode = 'steal' | 'in-place';

export type RingProblemCode =
  | 'bad-head'
  | 'bad-entry-length'
  | 'entry-crosses-ring-end'
  | 'entry-past-head'
  | 'cmd-entry-too-short'
  | 'bad-cmd-id'
  | 'duplicate-cmd-id'
  | 'iov-count'
  | 'iovec-outside-data-area'
  | 'bad-cdb'
  | 'unknown-op'
  | 'bad-tmr'
  | 'double-completion'
  | 'sense-truncated'
  | 'keep-buf-unsupported'
  | 'read-len-unsupported';

export interface RingProblem {
  readonly code: RingProblemCode;
  readonly message: string;
  /** true: the ring stopped consuming (see the header comment of ring.ts); reset() clears it. */
  readonly fatal: boolean;
  /** Ring-relative offset of the entry concerned, when there is one. */
  readonly entryOffset?: number;
  readonly cmdId?: number;
}

/** Where the data area lives when it is not simply the rest of the mailbox+ring buffer. */
export interface DataAreaSpec {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** Byte index in `buffer` that corresponds to mmap offset `mmapOffset`. */
  readonly byteOffset: number;
  /** mmap offset of the first byte of this view (normally cmdr_off + cmdr_size). */
  readonly mmapOffset: number;
  /** Bytes of data area covered; iovecs must lie inside [mmapOffset, mmapOffset + length). */
  readonly length: number;
}

export interface TcmuRingOptions {
  /** Memory with the mailbox at `byteOffset` (the mmap base) and the command ring after it. */
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** Where the mmap base lies in `buffer`; must be a multiple of 4 (8 recommended). Default 0. */
  readonly byteOffset?: number;
  /** Size of the whole mapping (sysfs maps/map0/size). Default: rest of `buffer`. */
  readonly mapSize?: number;
  /** A separate view of the data area; default: same buffer, from cmdr_off + cmdr_size to mapSize. */
  readonly data?: DataAreaSpec;
  /** Default 'auto': 'steal' with CAP_OOOC, else 'in-place'. */
  readonly completionMode?: 'auto' | CompletionMode;
  /** Called for every problem (also counted in stats.problems). Must not throw. */
  readonly onProblem?: (problem: RingProblem) => void;
}

/** A SCSI command as decoded from a CMD entry. Everything here is a copy; the entry may be reused. */
export interface TcmuCommand {
  readonly kind: 'cmd';
  /** hdr.cmd_id, 1..65535; the kernel reuses ids once a completion is reaped. */
  readonly cmdId: number;
  /** The CDB (6..263 bytes; length from the opcode group or 8 + cdb[7] for 0x7f), copied. */
  readonly cdb: Buffer;
  /** The first iov_cnt iovecs: Data-Out for writes, Data-In for reads. */
  readonly iovecs: readonly TcmuIovec[];
  /** The iov_bidi_cnt iovecs that follow: the Data-In buffer of a BIDI command. */
  readonly bidiIovecs: readonly TcmuIovec[];
  /** The iov_dif_cnt iovecs after those (always empty on current kernels). */
  readonly difIovecs: readonly TcmuIovec[];
  /** Sum of `iovecs` lengths: the initiator's expected transfer length (se_cmd->data_length). */
  readonly dataLength: number;
  /** Sum of `bidiIovecs` lengths. */
  readonly bidiLength: number;
  /**
   * What the entry can tell: 'none' (no data), 'bidi' (iovecs = Data-Out, bidiIovecs = Data-In),
   * or 'in-or-out' (TCMU does not say which; the CDB does). For a write, gatherData() is the
   * Data-Out; for a read, scatterData() fills the Data-In.
   */
  readonly direction: 'none' | 'in-or-out' | 'bidi';
  /** Ring-relative offset of the entry it came from (for logs). */
  readonly entryOffset: number;
  /** Monotonic per ring, never reused (unlike cmdId). */
  readonly seq: number;
}

/** A TMR notification (tmr_notification=1, CAP_TMR). Informational: the listed commands still need completing. */
export interface TcmuTmrNotification {
  readonly kind: 'tmr';
  /** TcmuTmrType value. */
  readonly tmrType: number;
  /** cmd_ids of commands on the ring affected by the TMF. */
  readonly cmdIds: readonly number[];
  readonly entryOffset: number;
}

export type TcmuRingEvent = TcmuCommand | TcmuTmrNotification;

export interface TcmuCompletion {
  /** SAM status (0 GOOD, 2 CHECK CONDITION, 8 BUSY, ...). */
  readonly status: number;
  /** Sense data (fixed or descriptor); at most 96 bytes are delivered, the rest is zeroed. */
  readonly sense?: Uint8Array;
  /**
   * Bytes of Data-In actually produced, when fewer than the buffer. With CAP_READ_LEN (and
   * readLen > 0, not BIDI) the kernel is told through READ_LEN/read_len and reports a residual;
   * otherwise, for GOOD status, the rest of the Data-In buffer is zeroed so that no stale data
   * of an earlier command reaches the initiator (target_core_user.c tcmu_handle_completion).
   */
  readonly readLen?: number;
  /** Set TCMU_UFLAG_UNKNOWN_OP: the kernel then fails the command with CHECK CONDITION. */
  readonly unknownOp?: boolean;
  /** Set TCMU_UFLAG_KEEP_BUF (only with CAP_KEEP_BUF; free later via action/free_kept_buf). */
  readonly keepBuffer?: boolean;
}

export interface TcmuRingStats {
  commands: number;
  tmrs: number;
  pads: number;
  unknown: number;
  completions: number;
  rejected: number;
  problems: number;
}
