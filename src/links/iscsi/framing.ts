// Stream framing: socket chunks -> whole PDUs (BHS, AHS, header digest, data segment padded to
// 4, data digest) and PDUs -> buffer lists for a corked write. Pure: no sockets in here.
// Memory is bounded: at most one PDU (<= 48 + 1020 + 8 + MaxRecvDataSegmentLength + 3 bytes) is
// assembled at a time; larger announced lengths are refused before any of it is buffered.

import { BHS_LENGTH } from './constants.ts';
import { ioBuffer } from '../../backing/buffers.ts';
import { dataDigest, dataDigestOfParts, digestBytes, headerDigest } from './digest.ts';
import type { OutPdu, RawPdu } from './pdu.ts';
import { pduDataSegmentLength, pduTotalAhsLength } from './pdu.ts';

export interface FramingOptions {
  headerDigest: boolean;
  dataDigest: boolean;
  /** Largest data segment we accept (our declared MaxRecvDataSegmentLength). */
  maxDataSegmentLength: number;
}

export type FramingErrorKind = 'header-digest' | 'data-too-long';

/** A stream that can no longer be framed: the connection must be dropped. */
export class FramingError extends Error {
  readonly kind: FramingErrorKind;
  /** The offending BHS (for a Reject before the drop), when it could be read. */
  readonly header: Buffer | undefined;
  constructor(kind: FramingErrorKind, message: string, header?: Buffer) {
    super(message);
    this.name = 'FramingError';
    this.kind = kind;
    this.header = header;
  }
}

export interface FramedPdu extends RawPdu {
  /** Set when DataDigest is on and the data segment's CRC did not match. */
  readonly dataDigestError?: boolean;
}

/**
 * Where a data segment of `length` bytes with this BHS should be received: a view of exactly
 * `length` bytes (the write buffer of the command it belongs to), or undefined for a buffer of
 * its own. `home`, when given, is the whole buffer the view starts, passed on as RawPdu.dataHome.
 */
export type DataPlacement = (bhs: Buffer, length: number) => { view: Buffer; home?: Buffer } | undefined;

const EMPTY: Buffer = Buffer.alloc(0);
const PAD = Buffer.alloc(4);

const BHS_PIECE = 0;
const AHS_PIECE = 1;
const HEADER_DIGEST = 2;
const DATA = 3;
const PADDING = 4;
const DATA_DIGEST = 5;

/**
 * Socket bytes in, whole PDUs out. Every byte pushed is copied once, straight to where it stays
 * (the PDU's header, its data segment, or the write buffer a placement hook names), and nothing
 * keeps a reference to the pushed chunk: the socket may read into one reusable buffer.
 *
 * PDUs are framed as bytes arrive, except that during login a complete PDU stops the framing of
 * what follows (kept aside, copied) until it was taken with next(): a login PDU may change the
 * framing options (digests), which apply from the next PDU on. Set parseAhead once they are final.
 */
export class PduReader {
  readonly options: FramingOptions;
  /** Frame past a complete PDU at once (the full-feature phase: options no longer change). */
  parseAhead = false;
  /** Where data segments go (default: a buffer of their own). */
  placeData: DataPlacement | undefined;
  private readonly queue: FramedPdu[] = [];
  /** A PDU was framed while options may still change: later bytes wait (aside) for next(). */
  private holding = false;
  private aside: Buffer[] = [];
  private asideBytes = 0;
  private failed: FramingError | undefined;
  // the PDU being received: which piece, into which buffer, how far
  private piece = BHS_PIECE;
  private into: Buffer = Buffer.allocUnsafe(BHS_LENGTH);
  private got = 0;
  /** Bytes of the PDU being received so far. */
  private pduBytes = 0;
  private bhs: Buffer = EMPTY;
  private ahs: Buffer = EMPTY;
  private data: Buffer = EMPTY;
  private home: Buffer | undefined;
  private readonly scratch = Buffer.alloc(4);

  constructor(options: Partial<FramingOptions> = {}) {
    this.options = {
      headerDigest: options.headerDigest ?? false,
      dataDigest: options.dataDigest ?? false,
      maxDataSegmentLength: options.maxDataSegmentLength ?? 8192,
    };
  }

  /** Bytes received that are not part of a PDU returned or queued yet. */
  get buffered(): number {
    return this.asideBytes + this.pduBytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.failed) return;
    this.consume(chunk, 0);
  }

  /**
   * The next complete PDU, or null when more bytes are needed. Throws FramingError (sticky) once
   * the PDUs before the error were taken. Without parseAhead, the bytes after a PDU are framed
   * only when the caller comes back for more (after it handled that PDU).
   */
  next(): FramedPdu | null {
    if (this.queue.length === 0) {
      this.holding = false;
      if (this.asideBytes > 0 && !this.failed) {
        const aside = this.aside;
        this.aside = [];
        this.asideBytes = 0;
        for (const c of aside) this.consume(c, 0);
      }
    }
    const p = this.queue.shift();
    if (p) return p;
    if (this.failed) throw this.failed;
    return null;
  }

  private consume(chunk: Buffer, at: number): void {
    const len = chunk.length;
    while (at < len && !this.failed) {
      if (this.holding) {
        const rest = Buffer.from(chunk.subarray(at)); // the chunk's memory is the socket's again after push()
        this.aside.push(rest);
        this.asideBytes += rest.length;
        return;
      }
      const want = this.into.length - this.got;
      const n = want < len - at ? want : len - at;
      chunk.copy(this.into, this.got, at, at + n);
      this.got += n;
      this.pduBytes += n;
      at += n;
      if (this.got === this.into.length) this.pieceDone();
    }
  }

  private start(piece: number, into: Buffer): void {
    this.piece = piece;
    this.into = into;
    this.got = 0;
  }

  private pieceDone(): void {
    const o = this.options;
    switch (this.piece) {
      case BHS_PIECE: {
        const bhs = this.into;
        this.bhs = bhs;
        const dsl = pduDataSegmentLength(bhs);
        if (dsl > o.maxDataSegmentLength) {
          this.fail(new FramingError('data-too-long', `data segment of ${dsl} bytes exceeds MaxRecvDataSegmentLength ${o.maxDataSegmentLength}`, bhs));
          return;
        }
        const ahsLen = pduTotalAhsLength(bhs);
        if (ahsLen > 0) this.start(AHS_PIECE, Buffer.allocUnsafe(ahsLen));
        else this.afterAhs(EMPTY);
        return;
      }
      case AHS_PIECE:
        this.afterAhs(this.into);
        return;
      case HEADER_DIGEST: {
        const got = this.scratch.readUInt32LE(0);
        const want = headerDigest(this.bhs, this.ahs);
        if (got !== want) {
          this.fail(new FramingError('header-digest', `header digest mismatch (got ${hex(got)}, want ${hex(want)})`, this.bhs));
          return;
        }
        this.startData();
        return;
      }
      case DATA: {
        const pad = (4 - (this.data.length & 3)) & 3;
        if (pad) this.start(PADDING, this.scratch.subarray(0, pad));
        else this.afterData();
        return;
      }
      case PADDING:
        this.afterData();
        return;
      case DATA_DIGEST:
        this.finish(this.scratch.readUInt32LE(0) !== dataDigest(this.data));
        return;
    }
  }

  private afterAhs(ahs: Buffer): void {
    this.ahs = ahs;
    if (this.options.headerDigest) this.start(HEADER_DIGEST, this.scratch);
    else this.startData();
  }

  private startData(): void {
    const dsl = pduDataSegmentLength(this.bhs);
    this.home = undefined;
    if (dsl === 0) {
      this.data = EMPTY;
      this.finish(false);
      return;
    }
    const placed = this.placeData?.(this.bhs, dsl);
    if (placed && placed.view.length === dsl) {
      this.data = placed.view;
      this.home = placed.home;
    } else this.data = ioBuffer(dsl);
    this.start(DATA, this.data);
  }

  private afterData(): void {
    if (this.options.dataDigest) this.start(DATA_DIGEST, this.scratch);
    else this.finish(false);
  }

  private finish(dataDigestError: boolean): void {
    const pdu: FramedPdu = { bhs: this.bhs, ahs: this.ahs, data: this.data, dataHome: this.home, dataDigestError };
    this.queue.push(pdu);
    this.holding = !this.parseAhead;
    this.pduBytes = 0;
    this.ahs = EMPTY;
    this.data = EMPTY;
    this.home = undefined;
    this.start(BHS_PIECE, Buffer.allocUnsafe(BHS_LENGTH));
  }

  private fail(e: FramingError): void {
    this.failed = e;
    this.aside = [];
    this.asideBytes = 0;
  }
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

/** The buffers that put one PDU on the wire (to be written corked, i.e. as one writev). */
export function frameOut(pdu: OutPdu, digests: { headerDigest: boolean; dataDigest: boolean }, into: Buffer[] = []): Buffer[] {
  into.push(pdu.bhs);
  if (pdu.ahs && pdu.ahs.length) into.push(pdu.ahs);
  if (digests.headerDigest) into.push(digestBytes(headerDigest(pdu.bhs, pdu.ahs)));
  const data = pdu.data;
  if (data && data.length) {
    into.push(data);
    const pad = (4 - (data.length & 3)) & 3;
    if (pad) into.push(PAD.subarray(0, pad));
    if (digests.dataDigest) into.push(digestBytes(dataDigest(data)));
  } else if (pdu.dataParts && pdu.dataParts.length) {
    let len = 0;
    for (const p of pdu.dataParts) {
      into.push(p);
      len += p.length;
    }
    const pad = (4 - (len & 3)) & 3;
    if (pad) into.push(PAD.subarray(0, pad));
    if (digests.dataDigest) into.push(digestBytes(dataDigestOfParts(pdu.dataParts)));
  }
  return into;
}
