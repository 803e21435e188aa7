// Reading and validating the TCMU mailbox and the mapping's geometry for TcmuRing
// (src/ringbuffer/ring.ts): version, flags, ring and data-area placement, completion mode.
import { CMD_ENTRY_MIN_SIZE, Mailbox, MailboxFlag, TCMU_MAILBOX_VERSION, TCMU_OP_ALIGN_SIZE } from './abi.ts';
import type { CompletionMode, DataAreaSpec, TcmuRingOptions } from './ring-types.ts';

/** Thrown by the constructor for an unusable mailbox or geometry. */
export class TcmuRingError extends Error {
  override name = 'TcmuRingError';
}

/** What the kernel offers, from mailbox.flags. */
export interface RingCapabilities {
  readonly outOfOrder: boolean;
  readonly readLen: boolean;
  readonly tmr: boolean;
  readonly keepBuffer: boolean;
}

/** A mailbox and mapping that passed every check; the ring is built from this. */
export interface RingGeometry {
  /** Where the mmap base lies in the buffer. */
  readonly base: number;
  /** mailbox.version. */
  readonly version: number;
  /** mailbox.flags. */
  readonly flags: number;
  /** mailbox.cmdr_off: mmap offset of the ring. */
  readonly cmdrOff: number;
  /** mailbox.cmdr_size. */
  readonly cmdrSize: number;
  /** mmap offset just past the ring (cmdr_off + cmdr_size). */
  readonly dataOff: number;
  /** Size of the mapping. */
  readonly mapSize: number;
  readonly capabilities: RingCapabilities;
  readonly completionMode: CompletionMode;
  readonly data: DataAreaSpec;
}

/** Checks the options and the mailbox they point at; throws TcmuRingError when unusable. */
export function readRingGeometry(options: TcmuRingOptions): RingGeometry {
  const { buffer } = options;
  const base = options.byteOffset ?? 0;
  if (!Number.isInteger(base) || base < 0 || base % 4 !== 0) {
    throw new TcmuRingError(`byteOffset ${base} must be a non-negative multiple of 4`);
  }
  const mapSize = options.mapSize ?? buffer.byteLength - base;
  if (mapSize < Mailbox.SIZE || base + mapSize > buffer.byteLength) {
    throw new TcmuRingError(`mapping of ${mapSize} bytes at ${base} does not fit a ${buffer.byteLength}-byte buffer`);
  }
  const mb = new DataView(buffer, base, Mailbox.SIZE);
  const version = mb.getUint16(Mailbox.VERSION, true);
  if (version !== TCMU_MAILBOX_VERSION) {
    throw new TcmuRingError(`mailbox version ${version}, expected ${TCMU_MAILBOX_VERSION}`);
  }
  const flags = mb.getUint16(Mailbox.FLAGS, true);
  const cmdrOff = mb.getUint32(Mailbox.CMDR_OFF, true);
  const cmdrSize = mb.getUint32(Mailbox.CMDR_SIZE, true);
  if (cmdrOff < Mailbox.SIZE || cmdrOff % TCMU_OP_ALIGN_SIZE !== 0) {
    throw new TcmuRingError(`mailbox cmdr_off ${cmdrOff} is not an aligned offset >= ${Mailbox.SIZE}`);
  }
  if (cmdrSize < CMD_ENTRY_MIN_SIZE || cmdrSize % TCMU_OP_ALIGN_SIZE !== 0) {
    throw new TcmuRingError(`mailbox cmdr_size ${cmdrSize} is not an aligned size >= ${CMD_ENTRY_MIN_SIZE}`);
  }
  const dataOff = cmdrOff + cmdrSize;
  if (dataOff > mapSize) {
    throw new TcmuRingError(`ring ends at ${dataOff}, beyond the ${mapSize}-byte mapping`);
  }
  const capabilities: RingCapabilities = {
    outOfOrder: (flags & MailboxFlag.CAP_OOOC) !== 0,
    readLen: (flags & MailboxFlag.CAP_READ_LEN) !== 0,
    tmr: (flags & MailboxFlag.CAP_TMR) !== 0,
    keepBuffer: (flags & MailboxFlag.CAP_KEEP_BUF) !== 0,
  };
  const mode = options.completionMode ?? 'auto';
  const completionMode: CompletionMode = mode === 'auto' ? (capabilities.outOfOrder ? 'steal' : 'in-place') : mode;

  let data: DataAreaSpec;
  if (options.data !== undefined) {
    const d = options.data;
    if (d.byteOffset < 0 || d.length < 0 || d.byteOffset + d.length > d.buffer.byteLength) {
      throw new TcmuRingError('data area view does not fit its buffer');
    }
    if (d.mmapOffset < dataOff || d.mmapOffset + d.length > mapSize) {
      throw new TcmuRingError(`data area view [${d.mmapOffset}, +${d.length}) is not inside [${dataOff}, ${mapSize})`);
    }
    data = d;
  } else {
    data = { buffer, byteOffset: base + dataOff, mmapOffset: dataOff, length: mapSize - dataOff };
  }
  return { base, version, flags, cmdrOff, cmdrSize, dataOff, mapSize, capabilities, completionMode, data };
}
