// TCMU command-ring consumer: pure code over memory (an ArrayBuffer from koffi.view() of the
// /dev/uioN mapping in production, a plain ArrayBuffer in tests). No FFI, no files, no kernel.
//
// Protocol (target_core_user.c: queue_cmd_ring, tcmu_handle_completions):
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
//    The link's recovery is block_dev=1 → reset_ring → reset() → block_dev=0 (target_core_user.c: tcmu_block_dev, tcmu_reset_ring).
//
// The parts live next to this file: ring-types.ts (the public types), ring-mailbox.ts (mailbox
// and geometry checks), ring-entry.ts (entry decoding and validation), ring-completion.ts
// (response writing, both completion modes). This file is the consumer: cursors and in-flight
// bookkeeping.

import { EntryHdr, MAILBOX_HEAD_INDEX, MAILBOX_TAIL_INDEX, Mailbox, SamStatus, TCMU_OP_ALIGN_SIZE, TcmuOp, UFlag, entryLen, entryOp } from './abi.ts';
import { type TcmuIovec, gather, scatter } from './iovec.ts';
import { INTERNAL_FAILURE_SENSE, type Slot, oldestUnreapedSlot, responseFields, writeResponse } from './ring-completion.ts';
import { cmdEntryProblem, decodeCmdEntry, decodeTmrEntry, entryBoundsProblem, entryCmdId } from './ring-entry.ts';
import { type RingCapabilities, TcmuRingError, readRingGeometry } from './ring-mailbox.ts';
import type {
  CompletionMode, DataAreaSpec, RingProblem, RingProblemCode, TcmuCommand, TcmuCompletion, TcmuRingEvent, TcmuRingOptions, TcmuRingStats,
} from './ring-types.ts';

export type {
  CompletionMode, DataAreaSpec, RingProblem, RingProblemCode, TcmuCommand, TcmuCompletion, TcmuRingEvent, TcmuRingOptions, TcmuRingStats,
  TcmuTmrNotification,
} from './ring-types.ts';
export { TcmuRingError } from './ring-mailbox.ts';

interface InFlight {
  readonly cmd: TcmuCommand;
  readonly slot: Slot;
}

export class TcmuRing {
  /** mailbox.version (always 2 once constructed). */
  readonly version: number;
  /** mailbox.flags. */
  readonly flags: number;
  readonly capabilities: RingCapabilities;
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
    const g = readRingGeometry(options);
    const base = g.base;
    const dataOff = g.dataOff;
    this.version = g.version;
    this.flags = g.flags;
    this.cmdrOff = g.cmdrOff;
    this.cmdrSize = g.cmdrSize;
    this.mapSize = g.mapSize;
    this.capabilities = g.capabilities;
    this.completionMode = g.completionMode;
    this.#data = g.data;

    // Views are created once (koffi.view is costly: it copies its arguments into a new view object) and never cover the data area.
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
      const bad = entryBoundsProblem(off, len, op, head, size);
      if (bad !== null) {
        this.#fatal(bad);
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
    const r = responseFields(cmd, completion, this.capabilities, (iovecs) => this.#views(iovecs), (p) => this.#problem(p));

    this.#inFlight.delete(cmd.cmdId);
    let slot: Slot;
    if (this.completionMode === 'in-place') {
      slot = f.slot;
    } else {
      slot = this.#stealSlot();
    }
    this.#writeResponse(slot, cmd.cmdId, r.status, r.uflags, r.readLen, r.sense);
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
   * iovecs), starting at `offset`. `src` may be several pieces (pinned cache pages), copied one
   * after the other. Returns the number of bytes copied (excess is dropped).
   */
  scatterData(cmd: TcmuCommand, src: Uint8Array | readonly Uint8Array[], offset = 0): number {
    const views = this.dataViews(cmd, cmd.bidiIovecs.length > 0 ? 'bidi' : 'data');
    if (src instanceof Uint8Array) return scatter(views, src, offset);
    let n = 0;
    for (const piece of src) {
      const k = scatter(views, piece, offset + n);
      n += k;
      if (k < piece.length) break; // the iovecs are full
    }
    return n;
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
    const cmdId = entryCmdId(this.#view, at);
    const bad = cmdEntryProblem(off, len, cmdId, this.#inFlight);
    if (bad !== null) {
      this.#fatal(bad);
      return false;
    }
    const slot: Slot = { off, len, isCmd: true, done: false };
    this.#slots.push(slot);

    const decoded = decodeCmdEntry(this.#view, this.#bytes, at, off, len, cmdId, this.#data);
    if (!decoded.ok) {
      this.#reject(slot, cmdId, decoded.code, decoded.message);
      return true;
    }
    const cmd: TcmuCommand = Object.freeze({ kind: 'cmd' as const, cmdId, ...decoded.body, entryOffset: off, seq: this.#seq++ });
    this.#inFlight.set(cmdId, { cmd, slot });
    this.stats.commands++;
    events.push(cmd);
    return true;
  }

  #takeTmr(off: number, len: number, events: TcmuRingEvent[]): void {
    this.stats.tmrs++;
    const { event, problem } = decodeTmrEntry(this.#view, this.cmdrOff + off, off, len);
    if (problem !== undefined) this.#problem(problem);
    if (event !== undefined) events.push(event);
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

  /** 'steal' mode: the oldest entry the tail may not pass yet (see oldestUnreapedSlot). */
  #stealSlot(): Slot {
    return oldestUnreapedSlot(this.#slots, this.#slotHead);
  }

  #writeResponse(slot: Slot, cmdId: number, status: number, uflags: number, readLen: number, sense: Uint8Array | undefined): void {
    writeResponse(this.#view, this.#bytes, this.cmdrOff + slot.off, cmdId, status, uflags, readLen, sense);
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
