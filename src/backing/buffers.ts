// Buffers for data read from a store, carved from shared slabs. Node's own pool only serves
// allocations below 4 KiB, so every 4 KiB READ used to cost a fresh ArrayBuffer (allocation,
// external-memory accounting and a GC finaliser). A slab is freed by the GC once its last
// slice (a response on its way to the socket) is gone; slices never overlap.

const SLAB_BYTES = 256 << 10;
/** Larger buffers are allocated on their own. */
export const SLAB_MAX_SLICE = 64 << 10;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let used = 0;
const u8fill = Uint8Array.prototype.fill;

/** An uninitialised buffer of `length` bytes (the caller fills all of it). */
export function ioBuffer(length: number): Buffer {
  if (length > SLAB_MAX_SLICE) return Buffer.allocUnsafe(length);
  if (used + length > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    used = 0;
  }
  const b = slab.subarray(used, used + length);
  used = (used + length + 7) & ~7;
  return b;
}

/** A zero-filled buffer of `length` bytes. */
export function zeroBuffer(length: number): Buffer {
  if (length > SLAB_MAX_SLICE) return Buffer.alloc(length);
  const b = ioBuffer(length);
  u8fill.call(b, 0); // the TypedArray builtin: a plain memset without Buffer#fill's argument handling
  return b;
}

/**
 * The same bytes with views that follow each other in one ArrayBuffer joined into one view
 * (cache pages carved next to each other in a slab): fewer iovecs, fewer socket writes.
 */
export function joinAdjacent(views: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < views.length) {
    const a = views[i]!;
    let end = a.byteOffset + a.length;
    let j = i + 1;
    while (j < views.length && views[j]!.buffer === a.buffer && views[j]!.byteOffset === end) end += views[j++]!.length;
    out.push(j === i + 1 ? a : Buffer.from(a.buffer, a.byteOffset, end - a.byteOffset));
    i = j;
  }
  return out;
}
