// Gather/scatter between a command's iovec views and ordinary buffers.
//
// These work on the per-iovec Buffer views that TcmuRing.dataViews() hands out (each one a
// zero-copy window on exactly one iovec of the data area). They never create a view of
// anything else, so they cannot touch data pages outside the command's iovecs (touching an
// unallocated data page of a real TCMU mapping is a SIGBUS: target_core_user.c tcmu_vma_fault).

/** One iovec as decoded from a CMD entry: a range of the mmap, inside the data area. */
export interface TcmuIovec {
  /** Offset from the mmap base (iov_base as the kernel writes it). */
  readonly offset: number;
  /** Length in bytes (iov_len). */
  readonly length: number;
}

/** Sum of the lengths. */
export function totalLength(views: readonly { readonly length: number }[]): number {
  let n = 0;
  for (const v of views) n += v.length;
  return n;
}

/**
 * The concatenation of views as one Buffer. One view comes back as-is (no copy); several are
 * copied into `into` (when given and large enough) or into a new Buffer.
 */
export function gather(views: readonly Buffer[], into?: Buffer): Buffer {
  if (views.length === 1 && into === undefined) return views[0];
  const total = totalLength(views);
  const out = into !== undefined ? into.subarray(0, total) : Buffer.allocUnsafe(total);
  if (out.length < total) throw new RangeError(`gather: target holds ${out.length} of ${total} bytes`);
  let at = 0;
  for (const v of views) {
    out.set(v, at);
    at += v.length;
  }
  return out;
}

/**
 * Copy src into the iovec space starting at byte `offset` of the concatenated views.
 * Copies min(src.length, space - offset) bytes and returns that count; never writes outside
 * the views.
 */
export function scatter(views: readonly Uint8Array[], src: Uint8Array, offset = 0): number {
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`scatter: bad offset ${offset}`);
  let skip = offset;
  let from = 0;
  for (const v of views) {
    if (from >= src.length) break;
    if (skip >= v.length) {
      skip -= v.length;
      continue;
    }
    const n = Math.min(v.length - skip, src.length - from);
    v.set(src.subarray(from, from + n), skip);
    from += n;
    skip = 0;
  }
  return from;
}

/** Zero the iovec space from byte `offset` to its end; returns the number of bytes zeroed. */
export function zeroFrom(views: readonly Uint8Array[], offset: number): number {
  let skip = Math.max(0, offset);
  let zeroed = 0;
  for (const v of views) {
    if (skip >= v.length) {
      skip -= v.length;
      continue;
    }
    v.fill(0, skip);
    zeroed += v.length - skip;
    skip = 0;
  }
  return zeroed;
}
