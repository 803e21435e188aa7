// A tiny stand-in for LIO's target_core_user on an ArrayBuffer, for unit tests only.
// It lays out the mailbox, enqueues CMD/TMR entries the way queue_cmd_ring() does (keep one
// byte free, PAD to the ring end when the entry does not fit, lowest free cmd_id, lowest free
// data blocks with adjacent blocks merged into one iovec, CDB right after the iovec array) and
// reaps completions the way tcmu_handle_completions() does (skip PAD/TMR, look the command up
// by the cmd_id found in the entry at last_cleaned, "ring is broken" when it is unknown).

import {
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
  TCMU_SENSE_BUFFERSIZE,
  TcmuOp,
  TmrEntry,
  UFlag,
  cmdBaseSize,
  cmdEntrySize,
  entryLen,
  entryOp,
  makeLenOp,
  scsiCommandSize,
  tmrEntrySize,
} from '../../src/ringbuffer/abi.ts';
import type { TcmuIovec } from '../../src/ringbuffer/iovec.ts';

export const ALL_CAPS = MailboxFlag.CAP_OOOC | MailboxFlag.CAP_READ_LEN | MailboxFlag.CAP_TMR | MailboxFlag.CAP_KEEP_BUF;

/** Byte the fake kernel fills the data area with: "stale data from an earlier command". */
export const STALE = 0xa5;

export interface FakeKernelOptions {
  /** cmdr_size; default 4096 - 128 so the data area starts page aligned at 4096. */
  readonly cmdrSize?: number;
  readonly dataSize?: number;
  readonly blockSize?: number;
  readonly flags?: number;
  readonly version?: number;
  /** Back the mapping with a SharedArrayBuffer (for cross-thread tests). */
  readonly shared?: boolean;
  /** Use this buffer instead of allocating (e.g. a SharedArrayBuffer from another thread). */
  readonly attach?: ArrayBuffer | SharedArrayBuffer;
}

export interface SubmitSpec {
  readonly cdb: Uint8Array;
  /** Data-Out (write) bytes; copied into the data area. */
  readonly dataOut?: Uint8Array;
  /** Data-In (read) buffer length. With dataOut too, the command is BIDI. */
  readonly dataInLength?: number;
  /** Called after the entry is written and before cmd_head moves: corrupt it for tests. */
  readonly mutate?: (entry: DataView, entryMmapOffset: number) => void;
}

export interface Pending {
  readonly cmdId: number;
  readonly direction: 'none' | 'in' | 'out' | 'bidi';
  readonly dataLength: number;
  readonly bidiLength: number;
  readonly iovecs: TcmuIovec[];
  readonly bidiIovecs: TcmuIovec[];
  readonly blocks: number[];
  readonly entryOffset: number;
}

export interface KernelCompletion {
  readonly cmdId: number;
  /** Status as LIO sees it (UNKNOWN_OP turns into CHECK CONDITION). */
  readonly status: number;
  readonly uflags: number;
  /** Data the initiator receives (Data-In), after READ_LEN semantics. */
  readonly dataIn: Buffer;
  /** read_len when the kernel honoured READ_LEN, else undefined. */
  readonly readLen: number | undefined;
  readonly sense: Buffer;
  /** Ring offset of the entry the completion was found in. */
  readonly entryOffset: number;
}

export class RingFullError extends Error {}

export class FakeTcmuKernel {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly cmdrOff = Mailbox.SIZE;
  readonly cmdrSize: number;
  readonly dataOff: number;
  readonly dataSize: number;
  readonly blockSize: number;
  readonly view: DataView;
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  readonly pending = new Map<number, Pending>();
  lastCleaned = 0;
  broken: string | null = null;
  readonly warnings: string[] = [];
  readonly #used: boolean[];

  constructor(opts: FakeKernelOptions = {}) {
    this.cmdrSize = opts.cmdrSize ?? 4096 - Mailbox.SIZE;
    this.dataSize = opts.dataSize ?? 64 * 1024;
    this.blockSize = opts.blockSize ?? 4096;
    this.dataOff = this.cmdrOff + this.cmdrSize;
    const total = this.dataOff + this.dataSize;
    if (opts.attach !== undefined) {
      this.buffer = opts.attach;
    } else {
      this.buffer = opts.shared === true ? new SharedArrayBuffer(total) : new ArrayBuffer(total);
    }
    this.view = new DataView(this.buffer);
    this.bytes = new Uint8Array(this.buffer);
    this.words = new Uint32Array(this.buffer, 0, Mailbox.SIZE / 4);
    this.#used = new Array<boolean>(Math.floor(this.dataSize / this.blockSize)).fill(false);
    if (opts.attach === undefined) {
      this.bytes.fill(STALE, this.dataOff);
      this.view.setUint16(Mailbox.VERSION, opts.version ?? TCMU_MAILBOX_VERSION, true);
      this.view.setUint16(Mailbox.FLAGS, opts.flags ?? ALL_CAPS, true);
      this.view.setUint32(Mailbox.CMDR_OFF, this.cmdrOff, true);
      this.view.setUint32(Mailbox.CMDR_SIZE, this.cmdrSize, true);
    }
  }

  get head(): number {
    return Atomics.load(this.words, MAILBOX_HEAD_INDEX);
  }

  get tail(): number {
    return Atomics.load(this.words, MAILBOX_TAIL_INDEX);
  }

  /** Free ring bytes as the kernel computes them (one byte always kept free). */
  spaceFree(): number {
    const head = this.head;
    const used = head >= this.lastCleaned ? head - this.lastCleaned : this.cmdrSize + head - this.lastCleaned;
    return this.cmdrSize - used - 1;
  }

  /** Mark data blocks busy, to force fragmented (multi-iovec) allocations. */
  reserveBlocks(indices: number[]): void {
    for (const i of indices) this.#used[i] = true;
  }

  /** Queue a SCSI command. Returns its cmd_id. Throws RingFullError like the qfull path. */
  submit(spec: SubmitSpec): number {
    const cdbLen = scsiCommandSize(spec.cdb[0], spec.cdb[7]);
    if (cdbLen !== spec.cdb.length) throw new Error(`test bug: CDB of ${spec.cdb.length} bytes, opcode says ${cdbLen}`);
    const outLen = spec.dataOut?.length ?? 0;
    const inLen = spec.dataInLength ?? 0;
    const bidi = outLen > 0 && inLen > 0;
    const direction = bidi ? 'bidi' : outLen > 0 ? 'out' : inLen > 0 ? 'in' : 'none';
    const firstLen = bidi || outLen > 0 ? outLen : inLen;
    const secondLen = bidi ? inLen : 0;

    const blocksNeeded = Math.ceil(firstLen / this.blockSize) + Math.ceil(secondLen / this.blockSize);
    const free: number[] = [];
    for (let i = 0; i < this.#used.length && free.length < blocksNeeded; i++) if (!this.#used[i]) free.push(i);
    if (free.length < blocksNeeded) throw new RingFullError('data area full');
    const firstBlocks = free.slice(0, Math.ceil(firstLen / this.blockSize));
    const secondBlocks = free.slice(firstBlocks.length);
    const iovecs = this.#iovecs(firstBlocks, firstLen);
    const bidiIovecs = this.#iovecs(secondBlocks, secondLen);

    const size = cmdEntrySize(iovecs.length + bidiIovecs.length, cdbLen);
    const base = cmdBaseSize(iovecs.length + bidiIovecs.length);
    const at = this.#reserve(size);
    for (const b of free) this.#used[b] = true;

    let cmdId = 1;
    while (this.pending.has(cmdId)) cmdId++;
    if (cmdId > 0xffff) throw new RingFullError('no cmd_id');

    const e = this.cmdrOff + at;
    this.bytes.fill(0, e, e + size);
    this.view.setUint32(e + EntryHdr.LEN_OP, makeLenOp(size, TcmuOp.CMD), true);
    this.view.setUint16(e + EntryHdr.CMD_ID, cmdId, true);
    this.view.setUint32(e + CmdReq.IOV_CNT, iovecs.length, true);
    this.view.setUint32(e + CmdReq.IOV_BIDI_CNT, bidiIovecs.length, true);
    [...iovecs, ...bidiIovecs].forEach((iv, i) => {
      const p = e + CmdReq.IOV + Iovec.SIZE * i;
      this.view.setBigUint64(p + Iovec.BASE, BigInt(iv.offset), true);
      this.view.setBigUint64(p + Iovec.LEN, BigInt(iv.length), true);
    });
    const cdbOff = e + base;
    this.bytes.set(spec.cdb, cdbOff);
    this.view.setBigUint64(e + CmdReq.CDB_OFF, BigInt(cdbOff), true);
    if (spec.dataOut !== undefined) this.#scatter(iovecs, spec.dataOut);
    spec.mutate?.(new DataView(this.buffer, e, size), e);

    this.pending.set(cmdId, { cmdId, direction, dataLength: firstLen, bidiLength: secondLen, iovecs, bidiIovecs, blocks: free, entryOffset: at });
    Atomics.store(this.words, MAILBOX_HEAD_INDEX, (at + size) % this.cmdrSize);
    return cmdId;
  }

  /** Queue a TMR notification listing cmd_ids. */
  submitTmr(tmrType: number, cmdIds: number[]): number {
    const size = tmrEntrySize(cmdIds.length);
    const at = this.#reserve(size);
    const e = this.cmdrOff + at;
    this.bytes.fill(0, e, e + size);
    this.view.setUint32(e + EntryHdr.LEN_OP, makeLenOp(size, TcmuOp.TMR), true);
    this.view.setUint8(e + TmrEntry.TMR_TYPE, tmrType);
    this.view.setUint32(e + TmrEntry.CMD_CNT, cmdIds.length, true);
    cmdIds.forEach((id, i) => this.view.setUint16(e + TmrEntry.CMD_IDS + 2 * i, id, true));
    Atomics.store(this.words, MAILBOX_HEAD_INDEX, (at + size) % this.cmdrSize);
    return at;
  }

  /** Queue raw entry bytes (length must be 8-aligned) with PAD-on-wrap; returns its ring offset. */
  submitRaw(entry: Uint8Array): number {
    const at = this.#reserve(entry.length);
    this.bytes.set(entry, this.cmdrOff + at);
    Atomics.store(this.words, MAILBOX_HEAD_INDEX, (at + entry.length) % this.cmdrSize);
    return at;
  }

  /** tcmu_handle_completions(): reap everything up to cmd_tail. */
  reap(): KernelCompletion[] {
    const out: KernelCompletion[] = [];
    if (this.broken !== null) return out;
    const tail = this.tail;
    while (this.lastCleaned !== tail) {
      const at = this.cmdrOff + this.lastCleaned;
      const lenOp = this.view.getUint32(at + EntryHdr.LEN_OP, true);
      const op = entryOp(lenOp);
      const len = entryLen(lenOp);
      if (op === TcmuOp.PAD || op === TcmuOp.TMR) {
        this.lastCleaned = (this.lastCleaned + len) % this.cmdrSize;
        continue;
      }
      if (op !== TcmuOp.CMD) this.warnings.push(`WARN_ON: op ${op} at ${this.lastCleaned}`);
      const cmdId = this.view.getUint16(at + EntryHdr.CMD_ID, true);
      const p = this.pending.get(cmdId);
      if (p === undefined) {
        this.broken = `cmd_id ${cmdId} not found, ring is broken`;
        break;
      }
      this.pending.delete(cmdId);
      const uflags = this.bytes[at + EntryHdr.UFLAGS];
      let status = this.bytes[at + CmdRsp.SCSI_STATUS];
      const rspReadLen = this.view.getUint32(at + CmdRsp.READ_LEN, true);
      const sense = Buffer.from(this.bytes.slice(at + CmdRsp.SENSE, at + CmdRsp.SENSE + TCMU_SENSE_BUFFERSIZE));
      let dataIn: Buffer = Buffer.alloc(0);
      let readLen: number | undefined;
      if (uflags & UFlag.UNKNOWN_OP) {
        status = SamStatus.CHECK_CONDITION;
      } else {
        let n = p.direction === 'bidi' ? p.bidiLength : p.dataLength;
        const valid = p.direction === 'in' && (uflags & UFlag.READ_LEN) !== 0 && rspReadLen !== 0;
        if (valid) {
          readLen = Math.min(rspReadLen, n);
          n = readLen;
        }
        if (!(status === SamStatus.CHECK_CONDITION && !valid)) {
          if (p.direction === 'bidi') dataIn = this.#gather(p.bidiIovecs, n);
          else if (p.direction === 'in') dataIn = this.#gather(p.iovecs, n);
        }
      }
      if ((uflags & UFlag.KEEP_BUF) === 0) for (const b of p.blocks) this.#used[b] = false;
      out.push({ cmdId, status, uflags, dataIn, readLen, sense, entryOffset: this.lastCleaned });
      this.lastCleaned = (this.lastCleaned + len) % this.cmdrSize;
    }
    return out;
  }

  /** Bytes of the data area outside every pending command's iovecs that differ from `fill`. */
  touchedOutsideIovecs(fill = STALE): number[] {
    const inside = new Uint8Array(this.dataSize);
    for (const p of this.pending.values()) {
      for (const iv of [...p.iovecs, ...p.bidiIovecs]) inside.fill(1, iv.offset - this.dataOff, iv.offset - this.dataOff + iv.length);
    }
    const bad: number[] = [];
    for (let i = 0; i < this.dataSize; i++) if (!inside[i] && this.bytes[this.dataOff + i] !== fill) bad.push(this.dataOff + i);
    return bad;
  }

  // Room for `size` bytes at head, writing a PAD to the ring end first when needed.
  #reserve(size: number): number {
    let head = this.head;
    const toEnd = this.cmdrSize - head;
    const needed = toEnd >= size ? size : size + toEnd;
    if (this.spaceFree() < needed) throw new RingFullError(`ring full: need ${needed}, free ${this.spaceFree()}`);
    if (size > this.cmdrSize / 2) throw new Error('entry larger than half the ring');
    if (toEnd < size) {
      const e = this.cmdrOff + head;
      this.view.setUint32(e + EntryHdr.LEN_OP, makeLenOp(toEnd, TcmuOp.PAD), true);
      this.view.setUint16(e + EntryHdr.CMD_ID, 0, true);
      this.bytes[e + EntryHdr.KFLAGS] = 0;
      this.bytes[e + EntryHdr.UFLAGS] = 0;
      Atomics.store(this.words, MAILBOX_HEAD_INDEX, 0);
      head = 0;
    }
    return head;
  }

  #iovecs(blocks: number[], length: number): TcmuIovec[] {
    const out: { offset: number; length: number }[] = [];
    let left = length;
    for (const b of blocks) {
      const n = Math.min(left, this.blockSize);
      const off = this.dataOff + b * this.blockSize;
      const last = out[out.length - 1];
      if (last !== undefined && last.offset + last.length === off) last.length += n;
      else out.push({ offset: off, length: n });
      left -= n;
    }
    return out;
  }

  #scatter(iovecs: TcmuIovec[], src: Uint8Array): void {
    let from = 0;
    for (const iv of iovecs) {
      this.bytes.set(src.subarray(from, from + iv.length), iv.offset);
      from += iv.length;
    }
  }

  #gather(iovecs: TcmuIovec[], n: number): Buffer {
    const out = Buffer.alloc(n);
    let at = 0;
    for (const iv of iovecs) {
      if (at >= n) break;
      const k = Math.min(iv.length, n - at);
      out.set(this.bytes.subarray(iv.offset, iv.offset + k), at);
      at += k;
    }
    return out;
  }
}

/** CDB builders for tests. */
export const Cdb = {
  tur: (): Uint8Array => new Uint8Array(6),
  read10: (lba: number, blocks: number): Uint8Array => {
    const c = new Uint8Array(10);
    c[0] = 0x28;
    new DataView(c.buffer).setUint32(2, lba);
    new DataView(c.buffer).setUint16(7, blocks);
    return c;
  },
  write10: (lba: number, blocks: number): Uint8Array => {
    const c = Cdb.read10(lba, blocks);
    c[0] = 0x2a;
    return c;
  },
  read16: (lba: number, blocks: number): Uint8Array => {
    const c = new Uint8Array(16);
    c[0] = 0x88;
    new DataView(c.buffer).setBigUint64(2, BigInt(lba));
    new DataView(c.buffer).setUint32(10, blocks);
    return c;
  },
  /** VARIABLE LENGTH CDB (0x7f) of 32 bytes: additional length 24. */
  variable32: (serviceAction = 0x0009): Uint8Array => {
    const c = new Uint8Array(32);
    c[0] = 0x7f;
    c[7] = 24;
    c[8] = serviceAction >> 8;
    c[9] = serviceAction & 0xff;
    for (let i = 10; i < 32; i++) c[i] = i;
    return c;
  },
};
