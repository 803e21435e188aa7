// CRC32C (Castagnoli) for iSCSI HeaderDigest / DataDigest (RFC 7143 §13.1, appendix B.4).
// Headers (48..1072 bytes) use a JS slice-by-8 table: crossing into native code costs more than
// the CRC itself. Data segments use @node-rs/crc32 (SSE4.2), with the table as fallback.
// The digest goes on the wire least significant byte first.

import { createRequire } from 'node:module';

const POLY = 0x82f63b78; // reflected Castagnoli polynomial

const TABLE = new Uint32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  TABLE[n] = c >>> 0;
}
for (let n = 0; n < 256; n++) {
  let c = TABLE[n]!;
  for (let t = 1; t < 8; t++) {
    c = (TABLE[c & 0xff]! ^ (c >>> 8)) >>> 0;
    TABLE[t * 256 + n] = c;
  }
}

/** CRC32C in JS, continuing from `seed` (the CRC of the bytes before, 0 to start). */
export function crc32cJs(buf: Uint8Array, seed = 0, start = 0, end = buf.length): number {
  let crc = ~seed >>> 0;
  let i = start;
  const t = TABLE;
  for (; i + 8 <= end; i += 8) {
    const a = (crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0;
    crc =
      t[7 * 256 + (a & 0xff)]! ^
      t[6 * 256 + ((a >>> 8) & 0xff)]! ^
      t[5 * 256 + ((a >>> 16) & 0xff)]! ^
      t[4 * 256 + (a >>> 24)]! ^
      t[3 * 256 + buf[i + 4]!]! ^
      t[2 * 256 + buf[i + 5]!]! ^
      t[256 + buf[i + 6]!]! ^
      t[buf[i + 7]!]!;
  }
  for (; i < end; i++) crc = t[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

type Crc32cFn = (input: Uint8Array, seed?: number) => number;
let native: Crc32cFn | undefined;
try {
  const require = createRequire(import.meta.url);
  native = (require('@node-rs/crc32') as { crc32c: Crc32cFn }).crc32c;
} catch {
  native = undefined;
}

const NATIVE_THRESHOLD = 512;

/** CRC32C of buf continuing from seed; native for large buffers. */
export function crc32c(buf: Uint8Array, seed = 0): number {
  if (native && buf.length >= NATIVE_THRESHOLD) return native(buf, seed) >>> 0;
  return crc32cJs(buf, seed);
}

const ZERO_PAD = Buffer.alloc(4);

/** Data digest: CRC32C over the data segment and its zero padding to a multiple of 4. */
export function dataDigest(data: Uint8Array): number {
  const pad = (4 - (data.length & 3)) & 3;
  const crc = crc32c(data);
  return pad ? crc32cJs(ZERO_PAD, crc, 0, pad) : crc;
}

/** Data digest of a data segment given in pieces (CRC32C continued across them, then the padding). */
export function dataDigestOfParts(parts: readonly Uint8Array[]): number {
  let crc = 0;
  let len = 0;
  for (const p of parts) {
    crc = crc32c(p, crc);
    len += p.length;
  }
  const pad = (4 - (len & 3)) & 3;
  return pad ? crc32cJs(ZERO_PAD, crc, 0, pad) : crc;
}

/** Header digest: CRC32C over BHS + AHS. */
export function headerDigest(bhs: Uint8Array, ahs?: Uint8Array): number {
  const crc = crc32cJs(bhs);
  return ahs && ahs.length ? crc32cJs(ahs, crc) : crc;
}

/** The 4 wire bytes of a digest value (little-endian). */
export function digestBytes(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(value >>> 0, 0);
  return b;
}
