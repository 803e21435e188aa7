// Data-out collection for one SCSI write (RFC 7143 §4.2.5, §11.7, §11.8): immediate data,
// the unsolicited Data-Out burst (up to FirstBurstLength when InitialR2T=No), then R2T
// sequences of at most MaxBurstLength, MaxOutstandingR2T at a time. Pure: it validates each
// Data-Out (DataSN, Buffer Offset, TTT, F bit, lengths) and says which R2Ts to send.

import { RESERVED_TAG } from './constants.ts';

export interface WriteLimits {
  firstBurstLength: number;
  maxBurstLength: number;
  maxOutstandingR2T: number;
}

export interface R2TRequest {
  ttt: number;
  r2tSN: number;
  offset: number;
  length: number;
}

interface Sequence extends R2TRequest {
  end: number;
  nextOffset: number;
  nextDataSN: number;
}

export interface DataOutFields {
  ttt: number;
  dataSN: number;
  bufferOffset: number;
  final: boolean;
  data: Buffer;
}

/**
 * A Data-Out the collector refuses. The ASC/ASCQ (SPC-4, sense key ABORTED COMMAND) lets the
 * link fail the command: 4B/00 DATA PHASE ERROR, 4B/01 INVALID TARGET PORT TRANSFER TAG
 * RECEIVED, 4B/02 TOO MUCH WRITE DATA, 4B/05 DATA OFFSET ERROR.
 */
export class DataOutError extends Error {
  readonly asc: number;
  readonly ascq: number;
  constructor(message: string, ascq = 0x00) {
    super(message);
    this.name = 'DataOutError';
    this.asc = 0x4b;
    this.ascq = ascq;
  }
}

const TTT_ERROR = 0x01;
const TOO_MUCH = 0x02;
const OFFSET_ERROR = 0x05;

export class WriteCollector {
  readonly edtl: number;
  private buf: Buffer | undefined;
  private readonly store: boolean;
  private readonly limits: WriteLimits;
  private received = 0;
  private unsolicitedOpen: boolean;
  private unsolicitedOffset: number;
  private unsolicitedDataSN = 0;
  private readonly unsolicitedLimit: number;
  private nextR2TOffset = 0;
  private r2tSN = 0;
  /** R2T sequences not completed yet, by TTT (made for the first R2T: most writes need none). */
  private outstanding: Map<number, Sequence> | undefined;
  private openPlacements = 0;

  /**
   * @param immediate data carried by the SCSI Command PDU
   * @param unsolicitedFollows the command's F bit was 0: unsolicited Data-Out PDUs follow
   * @param store false to validate and discard the data (a command we will fail anyway)
   * @param home the buffer the immediate data was received into the start of (RawPdu.dataHome):
   *   the rest is collected there
   */
  constructor(edtl: number, immediate: Buffer, unsolicitedFollows: boolean, limits: WriteLimits, store = true, home?: Buffer) {
    this.edtl = edtl;
    this.limits = limits;
    this.store = store;
    this.unsolicitedLimit = Math.min(limits.firstBurstLength, edtl);
    if (immediate.length > edtl) throw new DataOutError(`immediate data (${immediate.length}) exceeds EDTL ${edtl}`, TOO_MUCH);
    if (immediate.length > limits.firstBurstLength) {
      throw new DataOutError(`immediate data (${immediate.length}) exceeds FirstBurstLength ${limits.firstBurstLength}`, TOO_MUCH);
    }
    if (store) {
      if (immediate.length === edtl && !unsolicitedFollows) this.buf = immediate; // no copy
      else if (home && home.length >= edtl && home.buffer === immediate.buffer && home.byteOffset === immediate.byteOffset) this.buf = home.subarray(0, edtl);
      else if (edtl > 0) {
        this.buf = Buffer.allocUnsafe(edtl);
        immediate.copy(this.buf, 0);
      }
    }
    this.received = immediate.length;
    this.unsolicitedOffset = immediate.length;
    this.unsolicitedOpen = unsolicitedFollows && immediate.length < this.unsolicitedLimit;
    if (!this.unsolicitedOpen) this.closeUnsolicited();
  }

  /** All data is in. */
  get complete(): boolean {
    return !this.unsolicitedOpen && (this.outstanding?.size ?? 0) === 0 && this.nextR2TOffset >= this.edtl;
  }

  /** Bytes received so far. */
  get bytesReceived(): number {
    return this.received;
  }

  /** R2Ts sent so far (the SCSI Response's ExpDataSN for a write). */
  get r2tCount(): number {
    return this.r2tSN;
  }

  /** The collected data (EDTL bytes), once complete. Undefined when discarding. */
  get data(): Buffer | undefined {
    return this.buf;
  }

  /** R2Ts to send now (call after construction and after every accepted Data-Out). */
  nextR2Ts(allocTtt: () => number): R2TRequest[] {
    const out: R2TRequest[] = [];
    while (!this.unsolicitedOpen && (this.outstanding?.size ?? 0) < this.limits.maxOutstandingR2T && this.nextR2TOffset < this.edtl) {
      const length = Math.min(this.limits.maxBurstLength, this.edtl - this.nextR2TOffset);
      const seq: Sequence = {
        ttt: allocTtt(),
        r2tSN: this.r2tSN++,
        offset: this.nextR2TOffset,
        length,
        end: this.nextR2TOffset + length,
        nextOffset: this.nextR2TOffset,
        nextDataSN: 0,
      };
      this.nextR2TOffset += length;
      (this.outstanding ??= new Map()).set(seq.ttt, seq);
      out.push({ ttt: seq.ttt, r2tSN: seq.r2tSN, offset: seq.offset, length });
    }
    return out;
  }

  /** Validates and stores one Data-Out. Throws DataOutError on any inconsistency. */
  accept(d: DataOutFields): void {
    const b = this.buf;
    if (b && d.data.buffer === b.buffer && d.data.byteOffset >= b.byteOffset && d.data.byteOffset < b.byteOffset + b.length) this.openPlacements--;
    const len = d.data.length;
    // RFC 7143 §11.7.5: past the last Data-Out no DataSN is in order (a repeat of the last one
    // included); at ERL 0 this is a protocol error for the task
    if (this.complete) throw new DataOutError(`Data-Out (DataSN ${d.dataSN}, offset ${d.bufferOffset}) after all ${this.edtl} bytes were received`);
    if (d.ttt === RESERVED_TAG) {
      if (!this.unsolicitedOpen) throw new DataOutError('unsolicited Data-Out outside the unsolicited burst');
      if (d.dataSN !== this.unsolicitedDataSN) throw new DataOutError(`DataSN ${d.dataSN}, expected ${this.unsolicitedDataSN}`);
      if (d.bufferOffset !== this.unsolicitedOffset) {
        throw new DataOutError(`Buffer Offset ${d.bufferOffset}, expected ${this.unsolicitedOffset}`, OFFSET_ERROR);
      }
      if (d.bufferOffset + len > this.unsolicitedLimit) {
        throw new DataOutError(`unsolicited data up to ${d.bufferOffset + len} exceeds ${this.unsolicitedLimit} (FirstBurstLength/EDTL)`, TOO_MUCH);
      }
      this.put(d.bufferOffset, d.data);
      this.unsolicitedOffset += len;
      this.unsolicitedDataSN++;
      if (d.final || this.unsolicitedOffset >= this.unsolicitedLimit) {
        this.unsolicitedOpen = false;
        this.closeUnsolicited();
      }
      return;
    }
    const seq = this.outstanding?.get(d.ttt);
    if (!seq) throw new DataOutError(`Data-Out with unknown Target Transfer Tag 0x${d.ttt.toString(16)}`, TTT_ERROR);
    if (d.dataSN !== seq.nextDataSN) throw new DataOutError(`DataSN ${d.dataSN}, expected ${seq.nextDataSN}`);
    if (d.bufferOffset !== seq.nextOffset) throw new DataOutError(`Buffer Offset ${d.bufferOffset}, expected ${seq.nextOffset}`, OFFSET_ERROR);
    if (d.bufferOffset + len > seq.end) throw new DataOutError(`Data-Out beyond the R2T (${d.bufferOffset + len} > ${seq.end})`, TOO_MUCH);
    this.put(d.bufferOffset, d.data);
    seq.nextOffset += len;
    seq.nextDataSN++;
    if (seq.nextOffset === seq.end) this.outstanding!.delete(d.ttt);
    else if (d.final) throw new DataOutError(`F bit at ${seq.nextOffset}, before the end of the R2T burst at ${seq.end}`);
  }

  private closeUnsolicited(): void {
    // Solicited data starts where the unsolicited data stopped; when discarding, solicit nothing.
    this.nextR2TOffset = this.store ? this.unsolicitedOffset : this.edtl;
  }

  /** Where a Data-Out's data of `length` bytes at `offset` belongs, to be received there (or undefined). */
  placement(offset: number, length: number): Buffer | undefined {
    const b = this.buf;
    // complete: no Data-Out belongs here (one would be refused), and the buffer may go back to a pool
    if (!b || this.complete || offset < 0 || offset + length > b.length) return undefined;
    this.openPlacements++;
    return b.subarray(offset, offset + length);
  }

  /**
   * Data-Outs received into the buffer (placement()) that were not accepted yet: while one is,
   * bytes may still arrive into the buffer, so it must not be handed to anyone else.
   */
  get receiving(): boolean {
    return this.openPlacements > 0;
  }

  private put(offset: number, data: Buffer): void {
    const b = this.buf;
    // data received in place (placement()) is there already
    if (b && data.length && (data.buffer !== b.buffer || data.byteOffset !== b.byteOffset + offset)) data.copy(b, offset);
    this.received += data.length;
  }
}
