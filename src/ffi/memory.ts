// Native memory helpers. This folder is the only place that imports koffi.
import koffi from 'koffi';

/**
 * A Buffer of `size` bytes whose first byte is aligned to `align` (a power of two), as O_DIRECT
 * needs. It is an ordinary GC-owned Buffer: we over-allocate and slice at the aligned address.
 */
export function alignedBuffer(size: number, align = 4096): Buffer {
  if (align <= 0 || (align & (align - 1)) !== 0) throw new RangeError(`alignment ${align} is not a power of two`);
  const raw = Buffer.allocUnsafeSlow(size + align);
  const address = koffi.address(raw) as bigint;
  const skew = Number(address & BigInt(align - 1));
  const start = skew === 0 ? 0 : align - skew;
  return raw.subarray(start, start + size);
}

/** The address of a Buffer's first byte (for alignment checks in tests). */
export function addressOf(buf: Buffer): bigint {
  return koffi.address(buf) as bigint;
}
