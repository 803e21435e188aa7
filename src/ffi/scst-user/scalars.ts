// scst_user ABI (part of src/ffi/scst-user-abi.ts): DataView helpers for 64-bit integers and
// C strings, shared by the codecs. (zero and getCString are internal: not re-exported.)
//
// Conventions: little-endian (x86_64 / aarch64); pointers and opaque 64-bit handles are BigInt
// (as koffi 3 pointers are); 64-bit byte counts and LBAs are read as JS numbers (exact below
// 2^53); every encoder zero-fills the struct first, so padding and unused union bytes are 0.

// ---------------------------------------------------------------------------------------------
// Scalar helpers
// ---------------------------------------------------------------------------------------------

const TWO32 = 4294967296;

/** i64 as a number (exact when |v| < 2^53). */
export function getI64(dv: DataView, off: number): number {
  return dv.getInt32(off + 4, true) * TWO32 + dv.getUint32(off, true);
}

/** i64/u64 from a number (integer) or bigint. */
export function setI64(dv: DataView, off: number, v: number | bigint): void {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) {
    dv.setUint32(off, v % TWO32, true);
    dv.setUint32(off + 4, Math.floor(v / TWO32), true);
  } else {
    dv.setBigInt64(off, BigInt(v), true);
  }
}

/** A pointer / u64 handle. */
export function setU64(dv: DataView, off: number, v: bigint | number): void {
  dv.setBigUint64(off, BigInt(v), true);
}

export function zero(dv: DataView, off: number, len: number): void {
  new Uint8Array(dv.buffer, dv.byteOffset + off, len).fill(0);
}

const latin1 = new TextDecoder('latin1');

export function getCString(dv: DataView, off: number, max: number): string {
  const bytes = new Uint8Array(dv.buffer, dv.byteOffset + off, max);
  const end = bytes.indexOf(0);
  return latin1.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Writes s NUL-terminated into a char[size] field (zero-filling the rest); s must fit in size-1 bytes. */
export function setCString(dv: DataView, off: number, size: number, s: string): void {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length >= size) throw new RangeError(`"${s}" does not fit in char[${size}] (with its NUL)`);
  if (bytes.includes(0)) throw new RangeError('string contains NUL');
  const dst = new Uint8Array(dv.buffer, dv.byteOffset + off, size);
  dst.fill(0);
  dst.set(bytes);
}
