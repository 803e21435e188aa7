// Stream framing: socket chunks -> whole PDUs (BHS, AHS, header digest, data segment padded to
// 4, data digest) and PDUs -> buffer lists for a corked write. Pure: no sockets in here.
// Memory is bounded: at most one PDU (<= 48 + 1020 + 8 + MaxRecvDataSegmentLength + 3 bytes) is
// assembled at a time; larger announced lengths are refused before any of it is buffered.

import { BHS_LENGTH } from './constants.ts';
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

const EMPTY: Buffer = Buffer.alloc(0);
const PAD = Buffer.alloc(4);

export class PduReader {
  readonly options: FramingOptions;
  private chunks: Buffer[] = [];
  private head = 0; // read offset into chunks[0]
  private avail = 0;
  private bhs: Buffer | undefined; // header of the PDU being assembled
  private failed: FramingError | undefined;

  constructor(options: Partial<FramingOptions> = {}) {
    this.options = {
      headerDigest: options.headerDigest ?? false,
      dataDigest: options.dataDigest ?? false,
      maxDataSegmentLength: options.maxDataSegmentLength ?? 8192,
    };
  }

  /** Bytes received but not yet returned as PDUs. */
  get buffered(): number {
    return this.avail + (this.bhs ? BHS_LENGTH : 0);
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.failed) return;
    this.chunks.push(chunk);
    this.avail += chunk.length;
  }

  /** The next complete PDU, or null when more bytes are needed. Throws FramingError (sticky). */
  next(): FramedPdu | null {
    if (this.failed) throw this.failed;
    const o = this.options;
    if (!this.bhs) {
      if (this.avail < BHS_LENGTH) return null;
      this.bhs = this.take(BHS_LENGTH);
    }
    const bhs = this.bhs;
    const ahsLen = pduTotalAhsLength(bhs);
    const dsl = pduDataSegmentLength(bhs);
    if (dsl > o.maxDataSegmentLength) {
      this.failed = new FramingError(
        'data-too-long',
        `data segment of ${dsl} bytes exceeds MaxRecvDataSegmentLength ${o.maxDataSegmentLength}`,
        bhs,
      );
      this.release();
      throw this.failed;
    }
    const padded = (dsl + 3) & ~3;
    const need = ahsLen + (o.headerDigest ? 4 : 0) + padded + (dsl > 0 && o.dataDigest ? 4 : 0);
    if (this.avail < need) return null;
    this.bhs = undefined;
    const ahs = ahsLen ? this.take(ahsLen) : EMPTY;
    if (o.headerDigest) {
      const got = this.take(4).readUInt32LE(0);
      const want = headerDigest(bhs, ahs);
      if (got !== want) {
        this.failed = new FramingError('header-digest', `header digest mismatch (got ${hex(got)}, want ${hex(want)})`, bhs);
        this.release();
        throw this.failed;
      }
    }
    let data = EMPTY;
    let dataDigestError = false;
    if (dsl > 0) {
      const withPad = this.take(padded);
      if (o.dataDigest) {
        const got = this.take(4).readUInt32LE(0);
        if (got !== dataDigest(withPad.subarray(0, dsl))) dataDigestError = true;
      }
      data = withPad.subarray(0, dsl);
    }
    return dataDigestError ? { bhs, ahs, data, dataDigestError } : { bhs, ahs, data };
  }

  private release(): void {
    this.chunks = [];
    this.avail = 0;
    this.head = 0;
  }

  /** n bytes from the front: a view when they sit in one chunk, else one copy. */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    const left = first.length - this.head;
    if (left >= n) {
      const v = first.subarray(this.head, this.head + n);
      this.head += n;
      this.avail -= n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return v;
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const c = this.chunks[0]!;
      const m = Math.min(n - got, c.length - this.head);
      c.copy(out, got, this.head, this.head + m);
      got += m;
      this.head += m;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.avail -= n;
    return out;
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
