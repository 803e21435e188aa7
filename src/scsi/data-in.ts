// Data-in that is not copied: a READ served from the page cache hands the link the cached pages
// themselves. The pages are pinned (the cache copies a page on write instead of changing it)
// until the link calls release(), which it does once the bytes have left: after the socket write
// completed (iSCSI) or after the copy into the ring (tcmu), or at once if the response is dropped.

/** Bytes spread over several buffers, pinned until release(). */
export class PinnedData {
  /** The bytes, in order; their lengths add up to `length`. */
  readonly segments: readonly Buffer[];
  readonly length: number;
  private releaser: (() => void) | undefined;

  constructor(segments: readonly Buffer[], length: number, release: () => void) {
    this.segments = segments;
    this.length = length;
    this.releaser = release;
  }

  /** Unpins the pages. Idempotent: only the first call does anything. */
  release(): void {
    const r = this.releaser;
    if (r === undefined) return;
    this.releaser = undefined;
    r();
  }

  get released(): boolean {
    return this.releaser === undefined;
  }
}

/** What a command returns as data-in: one buffer (owned by the response) or pinned pages. */
export type DataIn = Buffer | PinnedData;

/** Releases pinned data-in (a no-op for a plain buffer or none). */
export function releaseData(d: DataIn | undefined): void {
  if (d instanceof PinnedData) d.release();
}

/** The data-in as one buffer: pinned data is copied and released (not for the hot path). */
export function dataBytes(d: DataIn | undefined): Buffer {
  if (d === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(d)) return d;
  const out = Buffer.allocUnsafe(d.length);
  copySegments(d.segments, out, 0);
  d.release();
  return out;
}

/** Copies `segments` one after the other into `into` at `at`, at most `max` bytes; returns the bytes copied. */
export function copySegments(segments: readonly Uint8Array[], into: Uint8Array, at: number, max = Infinity): number {
  let n = 0;
  for (const s of segments) {
    if (n >= max) break;
    const take = Math.min(s.length, max - n);
    into.set(take === s.length ? s : s.subarray(0, take), at + n);
    n += take;
  }
  return n;
}

/** Copies the first `max` bytes of the data-in into `into` (for links that own the target memory); returns the bytes copied. */
export function copyDataIn(d: DataIn, into: Uint8Array, max: number): number {
  if (Buffer.isBuffer(d)) return d.copy(into, 0, 0, Math.min(max, d.length));
  return copySegments(d.segments, into, 0, max);
}

/**
 * Walks the segments of pinned data front to back, cutting them at arbitrary byte positions
 * (PDU boundaries) without copying: `take(n)` returns the views covering the next n bytes.
 */
export class SegmentCursor {
  private readonly segments: readonly Buffer[];
  private index = 0;
  private offset = 0;

  constructor(segments: readonly Buffer[]) {
    this.segments = segments;
  }

  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    const segs = this.segments;
    while (n > 0 && this.index < segs.length) {
      const s = segs[this.index]!;
      const left = s.length - this.offset;
      const k = left < n ? left : n;
      out.push(this.offset === 0 && k === s.length ? s : s.subarray(this.offset, this.offset + k));
      n -= k;
      this.offset += k;
      if (this.offset === s.length) {
        this.index++;
        this.offset = 0;
      }
    }
    return out;
  }
}
