// The native memory one device's ioctls point into: the REPLY_AND_GET_MULTI argument (header and
// command slots), the replies array and one sense buffer per reply, the REGISTER_DEVICE
// descriptor with its zero-padded version and license strings, and small control arguments.
// One anonymous mapping, page-aligned and MADV_DONTFORK; every pointer handed to the kernel is
// `address + offset` into it, so nothing here ever points at a (movable) JS buffer.
import { Mapping } from '../../ffi/mmap.ts';
import {
  DEV_DESC_SIZE,
  GET_MULTI_HEADER_SIZE,
  REPLY_CMD_SIZE,
  SIZES,
  VERSION_LIMITS,
  getMultiCmdOffset,
  getMultiSize,
} from '../../ffi/scst-user-abi.ts';

/** Command slots per REPLY_AND_GET_MULTI call (fileio_tgt uses 2; the kernel fills what it has). */
export const CMDS_PER_CALL = 32;
/** Replies sent per call at most (int16 in the ABI; more wait for the next call). */
export const REPLIES_PER_CALL = 64;
/** Sense bytes the kernel copies at most (SCST_SENSE_BUFFERSIZE), rounded to 8. */
const SENSE_SLOT = 256;
/** Bytes after the 16 inline CDB bytes (SCST_USER_GET_EXTENDED_CDB), for CDBs up to 260 bytes. */
export const EXT_CDB_MAX = 260 - SIZES.SCST_MAX_CDB_SIZE;

const align = (n: number, a = 64) => Math.ceil(n / a) * a;

const MULTI_OFF = 0;
const REPLIES_OFF = align(MULTI_OFF + getMultiSize(CMDS_PER_CALL));
const SENSE_OFF = align(REPLIES_OFF + REPLIES_PER_CALL * REPLY_CMD_SIZE);
const DESC_OFF = align(SENSE_OFF + REPLIES_PER_CALL * SENSE_SLOT);
const VERSION_OFF = align(DESC_OFF + DEV_DESC_SIZE);
const LICENSE_OFF = VERSION_OFF + VERSION_LIMITS.SCST_ABI_STR_BUF_MIN;
const ARG_OFF = align(LICENSE_OFF + VERSION_LIMITS.SCST_ABI_STR_BUF_MIN);
const ARG_SIZE = 64;
const EXT_CDB_OFF = align(ARG_OFF + ARG_SIZE);
const TOTAL = align(EXT_CDB_OFF + EXT_CDB_MAX, 4096);

export class ControlBlock {
  readonly #map: Mapping;
  readonly dv: DataView;
  readonly bytes: Buffer;
  readonly base: bigint;

  constructor() {
    this.#map = Mapping.anonymous(TOTAL, { dontFork: true });
    this.dv = new DataView(this.#map.buffer);
    this.bytes = Buffer.from(this.#map.buffer);
    this.base = this.#map.address;
  }

  // ---- REPLY_AND_GET_MULTI ----
  readonly multiOffset = MULTI_OFF;
  get multiAddress(): bigint {
    return this.base + BigInt(MULTI_OFF);
  }
  /** Offset of command slot i (inside dv). */
  slotOffset(i: number): number {
    return getMultiCmdOffset(MULTI_OFF, i);
  }
  readonly headerSize = GET_MULTI_HEADER_SIZE;

  // ---- replies and their sense ----
  replyOffset(i: number): number {
    return REPLIES_OFF + i * REPLY_CMD_SIZE;
  }
  get repliesAddress(): bigint {
    return this.base + BigInt(REPLIES_OFF);
  }
  /** Copies sense into the slot of reply i; returns its address and the length the kernel takes. */
  putSense(i: number, sense: Buffer): { address: bigint; length: number } {
    const length = Math.min(sense.length, SIZES.SCST_SENSE_BUFFERSIZE);
    const off = SENSE_OFF + i * SENSE_SLOT;
    sense.copy(this.bytes, off, 0, length);
    return { address: this.base + BigInt(off), length };
  }

  // ---- REGISTER_DEVICE ----
  readonly descOffset = DESC_OFF;
  get descAddress(): bigint {
    return this.base + BigInt(DESC_OFF);
  }
  /** Writes the zero-padded version and license strings; returns their addresses. */
  putStrings(version: string, license: string): { version: bigint; license: bigint } {
    const n = VERSION_LIMITS.SCST_ABI_STR_BUF_MIN;
    for (const [off, s] of [[VERSION_OFF, version], [LICENSE_OFF, license]] as const) {
      const b = Buffer.from(s, 'latin1');
      if (b.length >= n) throw new RangeError(`"${s}" is longer than ${n - 1} bytes`);
      this.bytes.fill(0, off, off + n);
      b.copy(this.bytes, off);
    }
    return { version: this.base + BigInt(VERSION_OFF), license: this.base + BigInt(LICENSE_OFF) };
  }

  // ---- small control arguments (PREALLOC_BUFFER, GET_EXTENDED_CDB) ----
  readonly argOffset = ARG_OFF;
  get argAddress(): bigint {
    return this.base + BigInt(ARG_OFF);
  }
  get extCdbAddress(): bigint {
    return this.base + BigInt(EXT_CDB_OFF);
  }
  /** The bytes GET_EXTENDED_CDB wrote (beyond the 16 inline ones). */
  extCdb(length: number): Buffer {
    return this.bytes.subarray(EXT_CDB_OFF, EXT_CDB_OFF + Math.min(length, EXT_CDB_MAX));
  }

  /** Unmap (after the fd is closed: the kernel no longer reads any of it). Idempotent. */
  dispose(): void {
    this.#map.unmap();
  }
}
