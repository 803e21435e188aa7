// TCMU command-ring consumer: pure code over memory (an ArrayBuffer from koffi.view() of the
// /dev/uioN mapping in production, a plain ArrayBuffer in tests). No FFI, no files, no kernel.
//
// Protocol (tcmu.md §1.6, checked against target_core_user.c):
//  * The kernel appends entries at mailbox.cmd_head (store-release) and pokes the UIO counter.
//    We load cmd_head with Atomics.load (acquire), walk from our private `consumed` cursor,
//    skip PAD entries (which fill the ring's end before a wrap), copy out CDB + iovecs.
//  * We publish mailbox.cmd_tail with Atomics.store (release) after the response bytes (and
//    any data) are written; the kernel only looks at it on a UIO write (tcmu_irqcontrol), so
//    the caller does ONE 4-byte write per batch when takeNotify() says so.
//  * The kernel reaps from its cmdr_last_cleaned to cmd_tail: PAD/TMR entries are skipped; for
//    every other entry it looks up hdr.cmd_id and completes THAT command with the rsp found in
//    that entry (tcmu_handle_completions). Two legal ways to complete out of order follow:
//      - 'steal'    (libtcmu, go-tcmu; needs CAP_OOOC): write the finished command's cmd_id and
//                   rsp into the oldest not-yet-reaped CMD entry and advance the tail past it at
//                   once. No head-of-line blocking: a slow command never delays the others.
//      - 'in-place' write rsp into the command's own entry; the tail only advances over the
//                   completed prefix (per-entry state below). A slow command holds back every
//                   later completion until it finishes (kernel cmd_time_out still runs!).
//    Default 'auto' = 'steal' when the mailbox advertises CAP_OOOC, else 'in-place'.
//    Both overwrite bytes 8..111 of an entry (rsp overlays req), which is why the CDB and the
//    iovec list are COPIED at dequeue: after the tail passes an entry the kernel reuses it.
//
// What is safe to survive (decided here; see RingProblem.fatal):
//  * Recoverable, reported, ring continues:
//      - CMD entry whose iovec counts overrun the entry, whose iovec lies outside the data area
//        (or is not a safe integer), or whose cdb_off/CDB length does not fit inside the entry:
//        we never dispatch it and never touch its data; we complete it at once with CHECK
//        CONDITION, HARDWARE ERROR / INTERNAL TARGET FAILURE (44h/00h), so the kernel frees it.
//      - Unknown opcode (3..7): UNKNOWN_OP is set in its uflags and the entry is skipped, as
//        libtcmu does; entry boundaries are still known from len_op.
//      - TMR entry too short for its cmd_cnt: the ids that fit are delivered.
//      - Completion problems: double/stale completion (refused), sense > 96 bytes (truncated),
//        KEEP_BUF without CAP_KEEP_BUF (ignored), short read that cannot be reported.
//  * Fatal (ring marked broken; drain() delivers nothing more until reset(); completions of
//    commands already delivered still work, since their entries lie behind the bad one):
//      - cmd_head not 8-aligned or beyond the ring; entry length 0; entry running past the ring
//        end or past cmd_head: the next entry boundary is unknown, so nothing after it can be
//        trusted.
//      - CMD entry shorter than 112 bytes: no room for a response without clobbering the next
//        entry; cmd_id 0 or already in flight: completing it would make the kernel mark the
//        ring broken ("cmd_id N not found"), and not completing it wedges the tail.
//    The link's recovery is block_dev=1 → reset_ring → reset() → block_dev=0 (tcmu.md §1.8).

import {
  CMD_ENTRY_MIN_SIZE,
  CmdReq,
  CmdRsp,
  EntryHdr,
  Iovec,
  MAILBOX_HEAD_INDEX,
  MAILBOX_TAIL_INDEX,
  Mailbox,
  MailboxFlag,
  SamStatus,
  TCMU_MAILBOX_VERSION,
  TCMU_OP_ALIGN_SIZE,
  TCMU_SENSE_BUFFERSIZE,
  TmrEntry,
  TcmuOp,
  UFlag,
  VARIABLE_LENGTH_CMD,
  entryLen,
  entryOp,
  scsiCommandSize,
} from './abi.ts';
import { type TcmuIovec, gather, scatter, zeroFrom } from './iovec.ts';

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
  /** true: the ring stopped consuming (see the header comment); reset() clears it. */
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
   * of an earlier command reaches the initiator (tcmu.md §1.7).
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

interface Slot {
  /** Ring-relative offset and length of the entry. */
  readonly off: number;
  readonly len: number;
  /** true for CMD entries (they can carry a response); PAD/TMR/unknown are 'other'. */
  readonly isCmd: boolean;
  /** The tail may pass this entry. */
  done: boolean;
}

interface InFlight {
  readonly cmd: TcmuCommand;
  readonly slot: Slot;
}

/** HARDWARE ERROR, INTERNAL TARGET FAILURE (44h/00h), fixed format: for entries we cannot trust. */
const INTERNAL_FAILURE_SENSE = Uint8Array.of(0x70, 0, 0x04, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x44, 0x00, 0, 0, 0, 0);

const TWO_32 = 0x1_0000_0000;
/** Largest high word of a u64 that keeps the value a safe integer. */
const MAX_SAFE_HIGH = 0x1f_ffff;

/** Thrown by the constructor for an unusable mailbox or geometry. */
export class TcmuRingError extends Error {
  override name = 'TcmuRingError';
}

export class TcmuRing {
  /** mailbox.version (always 2 once constructed). */
  readonly version: number;
  /** mailbox.flags. */
  readonly flags: number;
  readonly capabilities: {
    readonly outOfOrder: boolean;
    readonly readLen: boolean;
    readonly tmr: boolean;
    readonly keepBuffer: boolean;
  };
  /** mailbox.cmdr_off: mmap offset of the ring. */
  readonly cmdrOff: number;
  /** mailbox.cmdr_size. */
  readonly cmdrSize: number;
  /** Size of the mapping. */
  readonly mapSize: number;
  readonly completionMode: CompletionMode;
  readonly stats: TcmuRingStats = { commands: 0, tmrs: 0, pads: 0, unknown: 0, completions: 0, rejected: 0, problems: 0 };

  readonly #words: Uint32Array; // mailbox, for Atomics on cmd_head / cmd_tail
  readonly #view: DataView; // mailbox + ring
  readonly #bytes: Uint8Array; // same bytes as #view
  readonly #data: DataAreaSpec;
  readonly #onProblem: (p: RingProblem) => void;

  #consumed: number;
  #tail: number;
  #slots: Slot[] = [];
  #slotHead = 0;
  readonly #inFlight = new Map<number, InFlight>();
  #notify = false;
  #broken: RingProblem | null = null;
  #seq = 0;

  constructor(options: TcmuRingOptions) {
    const { buffer } = options;
    const base = options.byteOffset ?? 0;
    if (!Number.isInteger(base) || base < 0 || base % 4 !== 0) {
      throw new TcmuRingError(`byteOffset ${base} must be a non-negative multiple of 4`);
    }
    const mapSize = options.mapSize ?? buffer.byteLength - base;
    if (mapSize < Mailbox.SIZE || base + mapSize > buffer.byteLength) {
      throw new TcmuRingError(`mapping of ${mapSize} bytes at ${base} does not fit a ${buffer.byteLength}-byte buffer`);
    }
    const mb = new DataView(buffer, base, Mailbox.SIZE);
    this.version = mb.getUint16(Mailbox.VERSION, true);
    if (this.version !== TCMU_MAILBOX_VERSION) {
      throw new TcmuRingError(`mailbox version ${this.version}, expected ${TCMU_MAILBOX_VERSION}`);
    }
    this.flags = mb.getUint16(Mailbox.FLAGS, true);
    this.cmdrOff = mb.getUint32(Mailbox.CMDR_OFF, true);
    this.cmdrSize = mb.getUint32(Mailbox.CMDR_SIZE, true);
    if (this.cmdrOff < Mailbox.SIZE || this.cmdrOff % TCMU_OP_ALIGN_SIZE !== 0) {
      throw new TcmuRingError(`mailbox cmdr_off ${this.cmdrOff} is not an aligned offset >= ${Mailbox.SIZE}`);
    }
    if (this.cmdrSize < CMD_ENTRY_MIN_SIZE || this.cmdrSize % TCMU_OP_ALIGN_SIZE !== 0) {
      throw new TcmuRingError(`mailbox cmdr_size ${this.cmdrSize} is not an aligned size >= ${CMD_ENTRY_MIN_SIZE}`);
    }
    const dataOff = this.cmdrOff + this.cmdrSize;
    if (dataOff > mapSize) {
      throw new TcmuRingError(`ring ends at ${dataOff}, beyond the ${mapSize}-byte mapping`);
    }
    this.mapSize = mapSize;
    this.capabilities = {
      outOfOrder: (this.flags & MailboxFlag.CAP_OOOC) !== 0,
      readLen: (this.flags & MailboxFlag.CAP_READ_LEN) !== 0,
      tmr: (this.flags & MailboxFlag.CAP_TMR) !== 0,
      keepBuffer: (this.flags & MailboxFlag.CAP_KEEP_BUF) !== 0,
    };
    const mode = options.completionMode ?? 'auto';
    this.completionMode = mode === 'auto' ? (this.capabilities.outOfOrder ? 'steal' : 'in-place') : mode;

    if (options.data !== undefined) {
      const d = options.data;
      if (d.byteOffset < 0 || d.length < 0 || d.byteOffset + d.length > d.buffer.byteLength) {
        throw new TcmuRingError('data area view does not fit its buffer');
      }
      if (d.mmapOffset < dataOff || d.mmapOffset + d.length > mapSize) {
        throw new TcmuRingError(`data area view [${d.mmapOffset}, +${d.length}) is not inside [${dataOff}, ${mapSize})`);
      }
      this.#data = d;
    } else {
      this.#data = { buffer, byteOffset: base + dataOff, mmapOffset: dataOff, length: mapSize - dataOff };
    }

    // Views are created once (koffi.view is costly; tcmu.md §5) and never cover the data area.
    this.#words = new Uint32Array(buffer, base, Mailbox.SIZE / 4);
    this.#view = new DataView(buffer, base, dataOff);
    this.#bytes = new Uint8Array(buffer, base, dataOff);
    this.#onProblem = options.onProblem ?? (() => {});

    const tail = Atomics.load(this.#words, MAILBOX_TAIL_INDEX);
    if (tail >= this.cmdrSize || tail % TCMU_OP_ALIGN_SIZE !== 0) {
      throw new TcmuRingError(`mailbox cmd_tail ${tail} is not an aligned ring offset`);
    }
    this.#consumed = tail;
    this.#tail = tail;
  }

  /** The fatal problem that stopped consumption, or null. */
  get broken(): RingProblem | null {
    return this.#broken;
  }

  /** Commands delivered and not yet completed. */
  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  /** The in-flight command with this cmd_id (e.g. to act on a TMR notification). */
  inFlight(cmdId: number): TcmuCommand | undefined {
    return this.#inFlight.get(cmdId)?.cmd;
  }

  /** Our private consume cursor and the published tail (ring-relative), for diagnostics. */
  get cursor(): { readonly consumed: number; readonly tail: number } {
    return { consumed: this.#consumed, tail: this.#tail };
  }

  /** The data area covered, as mmap offsets. */
  get dataArea(): { readonly mmapOffset: number; readonly length: number } {
    return { mmapOffset: this.#data.mmapOffset, length: this.#data.length };
  }

  /** True when cmd_tail moved since the last takeNotify(): the kernel needs one UIO write. */
  get notifyPending(): boolean {
    return this.#notify;
  }

  /** Returns (and clears) whether a 4-byte write to the UIO fd is due. Call once per batch. */
  takeNotify(): boolean {
    const n = this.#notify;
    this.#notify = false;
    return n;
  }

  /**
   * Consume every entry up to the current cmd_head. Call after clearing the UIO event counter
   * (a 4-byte read), so a command arriving during the scan raises it again.
   */
  drain(): TcmuRingEvent[] {
    const events: TcmuRingEvent[] = [];
    if (this.#broken !== null) return events;
    const size = this.cmdrSize;
    const head = Atomics.load(this.#words, MAILBOX_HEAD_INDEX); // acquire
    if (head >= size || head % TCMU_OP_ALIGN_SIZE !== 0) {
      this.#fatal({ code: 'bad-head', message: `cmd_head ${head} is not an aligned offset below cmdr_size ${size}` });
      return events;
    }
    while (this.#consumed !== head) {
      const off = this.#consumed;
      const at = this.cmdrOff + off;
      const lenOp = this.#view.getUint32(at + EntryHdr.LEN_OP, true);
      const op = entryOp(lenOp);
      const len = entryLen(lenOp);
      if (len === 0) {
        this.#fatal({ code: 'bad-entry-length', message: `entry at ${off} has length 0 (op ${op})`, entryOffset: off });
        break;
      }
      if (off + len > size) {
        this.#fatal({
          code: 'entry-crosses-ring-end',
          message: `entry at ${off} of ${len} bytes runs past the ring end ${size} (the kernel pads instead)`,
          entryOffset: off,
        });
        break;
      }
      if (head > off && off + len > head) {
        this.#fatal({ code: 'entry-past-head', message: `entry at ${off} of ${len} bytes runs past cmd_head ${head}`, entryOffset: off });
        break;
      }
      if (op === TcmuOp.CMD) {
        if (!this.#takeCmd(off, len, events)) break;
      } else {
        this.#slots.push({ off, len, isCmd: false, done: true });
        if (op === TcmuOp.PAD) {
          this.stats.pads++;
        } else if (op === TcmuOp.TMR) {
          this.#takeTmr(off, len, events);
        } else {
          this.stats.unknown++;
          this.#bytes[at + EntryHdr.UFLAGS] |= UFlag.UNKNOWN_OP;
          this.#problem({ code: 'unknown-op', message: `entry at ${off} has unknown op ${op}; set UNKNOWN_OP and skipped`, entryOffset: off, fatal: false });
        }
      }
      this.#consumed = (off + len) % size;
    }
    this.#advanceTail();
    return events;
  }

  /**
   * Complete a delivered command: writes status, sense, flags (and in 'steal' mode cmd_id)
   * into an entry, then publishes cmd_tail (release). Returns false, and reports
   * 'double-completion', for a command that is not in flight on this ring (already completed,
   * dropped by reset(), or foreign): a second completion would break the kernel's ring.
   */
  complete(cmd: TcmuCommand, completion: TcmuCompletion): boolean {
    const f = this.#inFlight.get(cmd.cmdId);
    if (f === undefined || f.cmd !== cmd) {
      this.#problem({
        code: 'double-completion',
        message: `cmd_id ${cmd.cmdId} (seq ${cmd.seq}) is not in flight; completion refused`,
        cmdId: cmd.cmdId,
        fatal: false,
      });
      return false;
    }
    const { status } = completion;
    if (!Number.isInteger(status) || status < 0 || status > 0xff) throw new RangeError(`bad SCSI status ${status}`);
    const readLen = completion.readLen;
    if (readLen !== undefined && (!Number.isInteger(readLen) || readLen < 0)) throw new RangeError(`bad readLen ${readLen}`);

    let uflags = 0;
    let readLenField = 0;
    if (completion.unknownOp === true) uflags |= UFlag.UNKNOWN_OP;
    if (completion.keepBuffer === true) {
      if (this.capabilities.keepBuffer) uflags |= UFlag.KEEP_BUF;
      else this.#problem({ code: 'keep-buf-unsupported', message: 'KEEP_BUF asked for but the kernel lacks CAP_KEEP_BUF; ignored', cmdId: cmd.cmdId, fatal: false });
    }
    if (readLen !== undefined) {
      const bidi = cmd.bidiIovecs.length > 0;
      const inLength = bidi ? cmd.bidiLength : cmd.dataLength;
      if (readLen < inLength) {
        if (this.capabilities.readLen && !bidi && readLen > 0) {
          uflags |= UFlag.READ_LEN;
          readLenField = readLen;
        } else if (status === SamStatus.GOOD) {
          // The kernel will copy the whole buffer: never let stale bytes reach the initiator.
          zeroFrom(this.#views(bidi ? cmd.bidiIovecs : cmd.iovecs), readLen);
        } else if (readLen > 0) {
          this.#problem({
            code: 'read-len-unsupported',
            message: `cmd_id ${cmd.cmdId}: ${readLen} bytes of data with status ${status} cannot be delivered without READ_LEN`,
            cmdId: cmd.cmdId,
            fatal: false,
          });
        }
      }
    }
    let sense = completion.sense;
    if (sense !== undefined && sense.length > TCMU_SENSE_BUFFERSIZE) {
      this.#problem({ code: 'sense-truncated', message: `cmd_id ${cmd.cmdId}: ${sense.length} sense bytes truncated to ${TCMU_SENSE_BUFFERSIZE}`, cmdId: cmd.cmdId, fatal: false });
      sense = sense.subarray(0, TCMU_SENSE_BUFFERSIZE);
    }

    this.#inFlight.delete(cmd.cmdId);
    let slot: Slot;
    if (this.completionMode === 'in-place') {
      slot = f.slot;
    } else {
      slot = this.#stealSlot();
    }
    this.#writeResponse(slot, cmd.cmdId, status, uflags, readLenField, sense);
    slot.done = true;
    this.stats.completions++;
    this.#advanceTail();
    return true;
  }

  /** Zero-copy Buffer views of the command's iovecs ('data' = the iov_cnt ones, 'bidi' = the Data-In of BIDI). */
  dataViews(cmd: TcmuCommand, part: 'data' | 'bidi' = 'data'): Buffer[] {
    this.#assertInFlight(cmd);
    return this.#views(part === 'data' ? cmd.iovecs : cmd.bidiIovecs);
  }

  /** The Data-Out bytes (iov_cnt iovecs) as one Buffer: a view for one iovec, a copy otherwise. */
  gatherData(cmd: TcmuCommand, into?: Buffer): Buffer {
    return gather(this.dataViews(cmd, 'data'), into);
  }

  /**
   * Copy Data-In bytes into the command's buffer (the bidi iovecs for BIDI, else the data
   * iovecs), starting at `offset`. Returns the number of bytes copied (excess is dropped).
   */
  scatterData(cmd: TcmuCommand, src: Uint8Array, offset = 0): number {
    return scatter(this.dataViews(cmd, cmd.bidiIovecs.length > 0 ? 'bidi' : 'data'), src, offset);
  }

  /**
   * Forget everything after the kernel's action/reset_ring (which zeroes head and tail and
   * fails the ring's commands itself). Returns the commands dropped; completing them later is
   * refused. Re-reads cmd_tail as the new cursor.
   */
  reset(): TcmuCommand[] {
    const dropped = [...this.#inFlight.values()].map((f) => f.cmd);
    this.#inFlight.clear();
    this.#slots = [];
    this.#slotHead = 0;
    this.#broken = null;
    this.#notify = false;
    const tail = Atomics.load(this.#words, MAILBOX_TAIL_INDEX);
    const t = tail < this.cmdrSize && tail % TCMU_OP_ALIGN_SIZE === 0 ? tail : 0;
    this.#consumed = t;
    this.#tail = t;
    return dropped;
  }

  // ---- internals ------------------------------------------------------------------------

  #takeCmd(off: number, len: number, events: TcmuRingEvent[]): boolean {
    const at = this.cmdrOff + off;
    const v = this.#view;
    const cmdId = v.getUint16(at + EntryHdr.CMD_ID, true);
    if (len < CMD_ENTRY_MIN_SIZE) {
      this.#fatal({ code: 'cmd-entry-too-short', message: `CMD entry at ${off} is ${len} bytes, less than ${CMD_ENTRY_MIN_SIZE}`, entryOffset: off, cmdId });
      return false;
    }
    if (cmdId === 0) {
      this.#fatal({ code: 'bad-cmd-id', message: `CMD entry at ${off} has cmd_id 0`, entryOffset: off, cmdId });
      return false;
    }
    if (this.#inFlight.has(cmdId)) {
      this.#fatal({ code: 'duplicate-cmd-id', message: `CMD entry at ${off} reuses cmd_id ${cmdId}, which is still in flight`, entryOffset: off, cmdId });
      return false;
    }
    const slot: Slot = { off, len, isCmd: true, done: false };
    this.#slots.push(slot);

    const iovCnt = v.getUint32(at + CmdReq.IOV_CNT, true);
    const bidiCnt = v.getUint32(at + CmdReq.IOV_BIDI_CNT, true);
    const difCnt = v.getUint32(at + CmdReq.IOV_DIF_CNT, true);
    const nIov = iovCnt + bidiCnt + difCnt;
    const iovEnd = CmdReq.IOV + Iovec.SIZE * nIov;
    if (iovEnd > len) {
      this.#reject(slot, cmdId, 'iov-count', `CMD ${cmdId} at ${off}: ${iovCnt}+${bidiCnt}+${difCnt} iovecs do not fit a ${len}-byte entry`);
      return true;
    }
    const lo = this.#data.mmapOffset;
    const hi = lo + this.#data.length;
    const all: TcmuIovec[] = [];
    for (let i = 0; i < nIov; i++) {
      const p = at + CmdReq.IOV + Iovec.SIZE * i;
      const baseHi = v.getUint32(p + Iovec.BASE + 4, true);
      const lenHi = v.getUint32(p + Iovec.LEN + 4, true);
      const ivBase = baseHi * TWO_32 + v.getUint32(p + Iovec.BASE, true);
      const ivLen = lenHi * TWO_32 + v.getUint32(p + Iovec.LEN, true);
      if (baseHi > MAX_SAFE_HIGH || lenHi > MAX_SAFE_HIGH || ivBase < lo || ivBase + ivLen > hi) {
        this.#reject(slot, cmdId, 'iovec-outside-data-area', `CMD ${cmdId} at ${off}: iovec ${i} [${ivBase}, +${ivLen}) is outside the data area [${lo}, ${hi})`);
        return true;
      }
      all.push({ offset: ivBase, length: ivLen });
    }
    // cdb_off is an mmap offset; the CDB must lie inside this entry, after the iovec array.
    const cdbHi = v.getUint32(at + CmdReq.CDB_OFF + 4, true);
    const cdbOff = cdbHi * TWO_32 + v.getUint32(at + CmdReq.CDB_OFF, true);
    const entryStart = at; // mmap offset of the entry (the view starts at the mmap base)
    const entryEnd = at + len;
    let cdbLen = -1;
    if (cdbHi === 0 && cdbOff >= entryStart + iovEnd && cdbOff < entryEnd) {
      const opcode = this.#bytes[cdbOff];
      const add = opcode === VARIABLE_LENGTH_CMD && cdbOff + 7 < entryEnd ? this.#bytes[cdbOff + 7] : undefined;
      cdbLen = scsiCommandSize(opcode, add);
    }
    if (cdbLen <= 0 || cdbOff + cdbLen > entryEnd) {
      this.#reject(slot, cmdId, 'bad-cdb', `CMD ${cmdId} at ${off}: cdb_off ${cdbOff} / CDB length ${cdbLen} does not fit the entry [${entryStart}, ${entryEnd})`);
      return true;
    }
    const cdb = Buffer.allocUnsafe(cdbLen);
    cdb.set(this.#bytes.subarray(cdbOff, cdbOff + cdbLen));

    const iovecs = all.slice(0, iovCnt);
    const bidiIovecs = all.slice(iovCnt, iovCnt + bidiCnt);
    const difIovecs = all.slice(iovCnt + bidiCnt);
    let dataLength = 0;
    for (const iv of iovecs) dataLength += iv.length;
    let bidiLength = 0;
    for (const iv of bidiIovecs) bidiLength += iv.length;
    const cmd: TcmuCommand = Object.freeze({
      kind: 'cmd' as const,
      cmdId,
      cdb,
      iovecs,
      bidiIovecs,
      difIovecs,
      dataLength,
      bidiLength,
      direction: bidiCnt > 0 ? ('bidi' as const) : dataLength === 0 ? ('none' as const) : ('in-or-out' as const),
      entryOffset: off,
      seq: this.#seq++,
    });
    this.#inFlight.set(cmdId, { cmd, slot });
    this.stats.commands++;
    events.push(cmd);
    return true;
  }

  #takeTmr(off: number, len: number, events: TcmuRingEvent[]): void {
    this.stats.tmrs++;
    const at = this.cmdrOff + off;
    if (len < TmrEntry.SIZE) {
      this.#problem({ code: 'bad-tmr', message: `TMR entry at ${off} is ${len} bytes, less than ${TmrEntry.SIZE}; skipped`, entryOffset: off, fatal: false });
      return;
    }
    const tmrType = this.#view.getUint8(at + TmrEntry.TMR_TYPE);
    const count = this.#view.getUint32(at + TmrEntry.CMD_CNT, true);
    const fit = (len - TmrEntry.CMD_IDS) >> 1;
    if (count > fit) {
      this.#problem({ code: 'bad-tmr', message: `TMR entry at ${off} lists ${count} cmd_ids but holds ${fit}; delivering those`, entryOffset: off, fatal: false });
    }
    const n = Math.min(count, fit);
    const cmdIds: number[] = new Array(n);
    for (let i = 0; i < n; i++) cmdIds[i] = this.#view.getUint16(at + TmrEntry.CMD_IDS + 2 * i, true);
    events.push(Object.freeze({ kind: 'tmr' as const, tmrType, cmdIds, entryOffset: off }));
  }

  /** An entry we cannot dispatch but whose cmd_id is good: fail it at once, touch no data. */
  #reject(slot: Slot, cmdId: number, code: RingProblemCode, message: string): void {
    this.stats.rejected++;
    this.#problem({ code, message, entryOffset: slot.off, cmdId, fatal: false });
    // In 'steal' mode the oldest unreaped CMD slot is reused exactly as complete() does.
    const s = this.completionMode === 'in-place' ? slot : this.#stealSlot();
    this.#writeResponse(s, cmdId, SamStatus.CHECK_CONDITION, 0, 0, INTERNAL_FAILURE_SENSE);
    s.done = true;
    this.#advanceTail();
  }

  /**
   * 'steal' mode: the oldest entry the tail may not pass yet. PAD/TMR/unknown slots are always
   * done, so it is a CMD slot; one exists because the number of not-done CMD slots equals the
   * number of commands in flight (each completion marks exactly one), and the caller's command
   * still counts.
   */
  #stealSlot(): Slot {
    const slots = this.#slots;
    for (let i = this.#slotHead; i < slots.length; i++) if (!slots[i].done) return slots[i];
    throw new Error('TcmuRing invariant broken: no unreaped CMD entry to complete into');
  }

  #writeResponse(slot: Slot, cmdId: number, status: number, uflags: number, readLen: number, sense: Uint8Array | undefined): void {
    const at = this.cmdrOff + slot.off;
    const v = this.#view;
    v.setUint16(at + EntryHdr.CMD_ID, cmdId, true);
    v.setUint8(at + EntryHdr.UFLAGS, uflags);
    v.setUint8(at + CmdRsp.SCSI_STATUS, status);
    v.setUint8(at + CmdRsp.PAD1, 0);
    v.setUint16(at + CmdRsp.PAD2, 0, true);
    v.setUint32(at + CmdRsp.READ_LEN, readLen, true);
    // rsp overlays req: clear the whole sense buffer so no iovec/cdb_off bytes read as sense.
    const s = at + CmdRsp.SENSE;
    this.#bytes.fill(0, s, s + TCMU_SENSE_BUFFERSIZE);
    if (sense !== undefined) this.#bytes.set(sense, s);
  }

  /** Move the tail over the completed prefix; publish it with a release store. */
  #advanceTail(): void {
    let moved = false;
    const slots = this.#slots;
    while (this.#slotHead < slots.length && slots[this.#slotHead].done) {
      const s = slots[this.#slotHead++];
      this.#tail = (s.off + s.len) % this.cmdrSize;
      moved = true;
    }
    if (this.#slotHead === slots.length) {
      this.#slots = [];
      this.#slotHead = 0;
    } else if (this.#slotHead > 1024 && this.#slotHead * 2 > slots.length) {
      this.#slots = slots.slice(this.#slotHead);
      this.#slotHead = 0;
    }
    if (moved) {
      Atomics.store(this.#words, MAILBOX_TAIL_INDEX, this.#tail); // release, after rsp + data
      this.#notify = true;
    }
  }

  #views(iovecs: readonly TcmuIovec[]): Buffer[] {
    const d = this.#data;
    return iovecs.map((iv) => Buffer.from(d.buffer, d.byteOffset + (iv.offset - d.mmapOffset), iv.length));
  }

  #assertInFlight(cmd: TcmuCommand): void {
    if (this.#inFlight.get(cmd.cmdId)?.cmd !== cmd) {
      throw new Error(`cmd_id ${cmd.cmdId} (seq ${cmd.seq}) is not in flight: its data area may already belong to another command`);
    }
  }

  #fatal(p: Omit<RingProblem, 'fatal'>): void {
    const problem: RingProblem = { ...p, fatal: true };
    this.#broken = problem;
    this.#problem(problem);
  }

  #problem(p: RingProblem): void {
    this.stats.problems++;
    this.#onProblem(p);
  }
}
