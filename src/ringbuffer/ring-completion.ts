// Writing completions into the command ring for TcmuRing (src/ringbuffer/ring.ts): turning a
// TcmuCompletion into response fields, choosing the entry ('in-place': the command's own;
// 'steal': the oldest unreaped CMD entry) and writing the rsp over it.
import { CmdRsp, EntryHdr, SamStatus, TCMU_SENSE_BUFFERSIZE, UFlag } from './abi.ts';
import { type TcmuIovec, zeroFrom } from './iovec.ts';
import type { RingCapabilities } from './ring-mailbox.ts';
import type { RingProblem, TcmuCommand, TcmuCompletion } from './ring-types.ts';

/** One entry between the published tail and the consume cursor. */
export interface Slot {
  /** Ring-relative offset and length of the entry. */
  readonly off: number;
  readonly len: number;
  /** true for CMD entries (they can carry a response); PAD/TMR/unknown are 'other'. */
  readonly isCmd: boolean;
  /** The tail may pass this entry. */
  done: boolean;
}

/** HARDWARE ERROR, INTERNAL TARGET FAILURE (44h/00h), fixed format: for entries we cannot trust. */
export const INTERNAL_FAILURE_SENSE = Uint8Array.of(0x70, 0, 0x04, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x44, 0x00, 0, 0, 0, 0);

/** The bytes a completion puts into an entry's rsp. */
export interface ResponseFields {
  readonly status: number;
  readonly uflags: number;
  /** rsp.read_len (meaningful with UFlag.READ_LEN). */
  readonly readLen: number;
  /** At most TCMU_SENSE_BUFFERSIZE bytes. */
  readonly sense: Uint8Array | undefined;
}

/**
 * Checks a completion of an in-flight command and works out its rsp. Throws RangeError for a
 * bad status or readLen. A short read that cannot be reported through READ_LEN zeroes the rest of
 * the Data-In buffer (GOOD status) through `views`; other trouble goes to `report`.
 */
export function responseFields(
  cmd: TcmuCommand,
  completion: TcmuCompletion,
  capabilities: RingCapabilities,
  views: (iovecs: readonly TcmuIovec[]) => Buffer[],
  report: (problem: RingProblem) => void,
): ResponseFields {
  const { status } = completion;
  if (!Number.isInteger(status) || status < 0 || status > 0xff) throw new RangeError(`bad SCSI status ${status}`);
  const readLen = completion.readLen;
  if (readLen !== undefined && (!Number.isInteger(readLen) || readLen < 0)) throw new RangeError(`bad readLen ${readLen}`);

  let uflags = 0;
  let readLenField = 0;
  if (completion.unknownOp === true) uflags |= UFlag.UNKNOWN_OP;
  if (completion.keepBuffer === true) {
    if (capabilities.keepBuffer) uflags |= UFlag.KEEP_BUF;
    else report({ code: 'keep-buf-unsupported', message: 'KEEP_BUF asked for but the kernel lacks CAP_KEEP_BUF; ignored', cmdId: cmd.cmdId, fatal: false });
  }
  if (readLen !== undefined) {
    const bidi = cmd.bidiIovecs.length > 0;
    const inLength = bidi ? cmd.bidiLength : cmd.dataLength;
    if (readLen < inLength) {
      if (capabilities.readLen && !bidi && readLen > 0) {
        uflags |= UFlag.READ_LEN;
        readLenField = readLen;
      } else if (status === SamStatus.GOOD) {
        // The kernel will copy the whole buffer: never let stale bytes reach the initiator.
        zeroFrom(views(bidi ? cmd.bidiIovecs : cmd.iovecs), readLen);
      } else if (readLen > 0) {
        report({
          code: 'read-len-unsupported',
          message: `cmd_id ${cmd.cmdId}: ${readLen} bytes of data with status ${status} cannot be delivered without READ_LEN`,
          cmdId: cmd.cmdId,
          fatal: false,
        });
      }
    }
  }
  let sense = completion.sense;
  if (sense !== undefined && sense.length > TCMU_SENSE_BUFFERSIZE) {
    report({ code: 'sense-truncated', message: `cmd_id ${cmd.cmdId}: ${sense.length} sense bytes truncated to ${TCMU_SENSE_BUFFERSIZE}`, cmdId: cmd.cmdId, fatal: false });
    sense = sense.subarray(0, TCMU_SENSE_BUFFERSIZE);
  }
  return { status, uflags, readLen: readLenField, sense };
}

/**
 * 'steal' mode: the oldest entry the tail may not pass yet. PAD/TMR/unknown slots are always
 * done, so it is a CMD slot; one exists because the number of not-done CMD slots equals the
 * number of commands in flight (each completion marks exactly one), and the caller's command
 * still counts.
 */
export function oldestUnreapedSlot(slots: readonly Slot[], from: number): Slot {
  for (let i = from; i < slots.length; i++) if (!slots[i].done) return slots[i];
  throw new Error('TcmuRing invariant broken: no unreaped CMD entry to complete into');
}

/** Writes cmd_id, uflags and the rsp into the entry at mmap offset `at` of `v`/`bytes` (the same memory). */
export function writeResponse(
  v: DataView, bytes: Uint8Array, at: number, cmdId: number, status: number, uflags: number, readLen: number, sense: Uint8Array | undefined,
): void {
  v.setUint16(at + EntryHdr.CMD_ID, cmdId, true);
  v.setUint8(at + EntryHdr.UFLAGS, uflags);
  v.setUint8(at + CmdRsp.SCSI_STATUS, status);
  v.setUint8(at + CmdRsp.PAD1, 0);
  v.setUint16(at + CmdRsp.PAD2, 0, true);
  v.setUint32(at + CmdRsp.READ_LEN, readLen, true);
  // rsp overlays req: clear the whole sense buffer so no iovec/cdb_off bytes read as sense.
  const s = at + CmdRsp.SENSE;
  bytes.fill(0, s, s + TCMU_SENSE_BUFFERSIZE);
  if (sense !== undefined) bytes.set(sense, s);
}
