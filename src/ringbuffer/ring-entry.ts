// Decoding and validating command-ring entries for TcmuRing (src/ringbuffer/ring.ts): entry
// boundaries, CMD entries (cmd_id, iovecs, CDB) and TMR entries. Pure functions over the ring's
// views; what to do with a problem (fatal or reject) is the ring's decision, see its header.
import { CMD_ENTRY_MIN_SIZE, CmdReq, EntryHdr, Iovec, TmrEntry, VARIABLE_LENGTH_CMD, scsiCommandSize } from './abi.ts';
import type { TcmuIovec } from './iovec.ts';
import type { DataAreaSpec, RingProblem, RingProblemCode, TcmuCommand, TcmuTmrNotification } from './ring-types.ts';

const TWO_32 = 0x1_0000_0000;
/** Largest high word of a u64 that keeps the value a safe integer. */
const MAX_SAFE_HIGH = 0x1f_ffff;

/** A problem that stops consumption (the ring adds fatal: true). */
export type FatalEntryProblem = Omit<RingProblem, 'fatal'>;

/**
 * The entry at ring offset `off` (`len` bytes, from len_op) against the ring end and cmd_head:
 * null when its boundaries can be trusted.
 */
export function entryBoundsProblem(off: number, len: number, op: number, head: number, size: number): FatalEntryProblem | null {
  if (len === 0) {
    return { code: 'bad-entry-length', message: `entry at ${off} has length 0 (op ${op})`, entryOffset: off };
  }
  if (off + len > size) {
    return {
      code: 'entry-crosses-ring-end',
      message: `entry at ${off} of ${len} bytes runs past the ring end ${size} (the kernel pads instead)`,
      entryOffset: off,
    };
  }
  if (head > off && off + len > head) {
    return { code: 'entry-past-head', message: `entry at ${off} of ${len} bytes runs past cmd_head ${head}`, entryOffset: off };
  }
  return null;
}

/** hdr.cmd_id of the entry at mmap offset `at`. */
export const entryCmdId = (v: DataView, at: number): number => v.getUint16(at + EntryHdr.CMD_ID, true);

/**
 * A CMD entry that cannot get a response without breaking the ring: too short for one, cmd_id 0,
 * or a cmd_id still in flight. null when it can be completed (even if rejected later).
 */
export function cmdEntryProblem(off: number, len: number, cmdId: number, inFlight: ReadonlyMap<number, unknown>): FatalEntryProblem | null {
  if (len < CMD_ENTRY_MIN_SIZE) {
    return { code: 'cmd-entry-too-short', message: `CMD entry at ${off} is ${len} bytes, less than ${CMD_ENTRY_MIN_SIZE}`, entryOffset: off, cmdId };
  }
  if (cmdId === 0) {
    return { code: 'bad-cmd-id', message: `CMD entry at ${off} has cmd_id 0`, entryOffset: off, cmdId };
  }
  if (inFlight.has(cmdId)) {
    return { code: 'duplicate-cmd-id', message: `CMD entry at ${off} reuses cmd_id ${cmdId}, which is still in flight`, entryOffset: off, cmdId };
  }
  return null;
}

/** What a CMD entry says, copied out (the entry is reused once the tail passes it). */
export type CmdEntryBody = Pick<TcmuCommand, 'cdb' | 'iovecs' | 'bidiIovecs' | 'difIovecs' | 'dataLength' | 'bidiLength' | 'direction'>;

export type CmdEntryDecoding =
  | { readonly ok: true; readonly body: CmdEntryBody }
  /** Not to be dispatched: the ring fails it at once and touches no data. */
  | { readonly ok: false; readonly code: RingProblemCode; readonly message: string };

/**
 * Decodes the CMD entry at mmap offset `at` (ring offset `off`, `len` bytes) of `v`/`bytes` (the
 * same memory, from the mmap base): its iovecs must fit the entry and lie inside `data`, its CDB
 * must fit the entry after the iovec array.
 */
export function decodeCmdEntry(
  v: DataView, bytes: Uint8Array, at: number, off: number, len: number, cmdId: number, data: DataAreaSpec,
): CmdEntryDecoding {
  const iovCnt = v.getUint32(at + CmdReq.IOV_CNT, true);
  const bidiCnt = v.getUint32(at + CmdReq.IOV_BIDI_CNT, true);
  const difCnt = v.getUint32(at + CmdReq.IOV_DIF_CNT, true);
  const nIov = iovCnt + bidiCnt + difCnt;
  const iovEnd = CmdReq.IOV + Iovec.SIZE * nIov;
  if (iovEnd > len) {
    return { ok: false, code: 'iov-count', message: `CMD ${cmdId} at ${off}: ${iovCnt}+${bidiCnt}+${difCnt} iovecs do not fit a ${len}-byte entry` };
  }
  const lo = data.mmapOffset;
  const hi = lo + data.length;
  const all: TcmuIovec[] = [];
  for (let i = 0; i < nIov; i++) {
    const p = at + CmdReq.IOV + Iovec.SIZE * i;
    const baseHi = v.getUint32(p + Iovec.BASE + 4, true);
    const lenHi = v.getUint32(p + Iovec.LEN + 4, true);
    const ivBase = baseHi * TWO_32 + v.getUint32(p + Iovec.BASE, true);
    const ivLen = lenHi * TWO_32 + v.getUint32(p + Iovec.LEN, true);
    if (baseHi > MAX_SAFE_HIGH || lenHi > MAX_SAFE_HIGH || ivBase < lo || ivBase + ivLen > hi) {
      return { ok: false, code: 'iovec-outside-data-area', message: `CMD ${cmdId} at ${off}: iovec ${i} [${ivBase}, +${ivLen}) is outside the data area [${lo}, ${hi})` };
    }
    all.push({ offset: ivBase, length: ivLen });
  }
  // cdb_off is an mmap offset; the CDB must lie inside this entry, after the iovec array.
  const cdbHi = v.getUint32(at + CmdReq.CDB_OFF + 4, true);
  const cdbOff = cdbHi * TWO_32 + v.getUint32(at + CmdReq.CDB_OFF, true);
  const entryStart = at; // mmap offset of the entry (the view starts at the mmap base)
  const entryEnd = at + len;
  let cdbLen = -1;
  if (cdbHi === 0 && cdbOff >= entryStart + iovEnd && cdbOff < entryEnd) {
    const opcode = bytes[cdbOff];
    const add = opcode === VARIABLE_LENGTH_CMD && cdbOff + 7 < entryEnd ? bytes[cdbOff + 7] : undefined;
    cdbLen = scsiCommandSize(opcode, add);
  }
  if (cdbLen <= 0 || cdbOff + cdbLen > entryEnd) {
    return { ok: false, code: 'bad-cdb', message: `CMD ${cmdId} at ${off}: cdb_off ${cdbOff} / CDB length ${cdbLen} does not fit the entry [${entryStart}, ${entryEnd})` };
  }
  const cdb = Buffer.allocUnsafe(cdbLen);
  cdb.set(bytes.subarray(cdbOff, cdbOff + cdbLen));

  const iovecs = all.slice(0, iovCnt);
  const bidiIovecs = all.slice(iovCnt, iovCnt + bidiCnt);
  const difIovecs = all.slice(iovCnt + bidiCnt);
  let dataLength = 0;
  for (const iv of iovecs) dataLength += iv.length;
  let bidiLength = 0;
  for (const iv of bidiIovecs) bidiLength += iv.length;
  return {
    ok: true,
    body: {
      cdb,
      iovecs,
      bidiIovecs,
      difIovecs,
      dataLength,
      bidiLength,
      direction: bidiCnt > 0 ? ('bidi' as const) : dataLength === 0 ? ('none' as const) : ('in-or-out' as const),
    },
  };
}

/**
 * Decodes the TMR entry at mmap offset `at` (ring offset `off`, `len` bytes). A problem comes
 * without an event when the entry is too short for its header, with one (the ids that fit) when
 * cmd_cnt overruns the entry.
 */
export function decodeTmrEntry(
  v: DataView, at: number, off: number, len: number,
): { readonly event?: TcmuTmrNotification; readonly problem?: RingProblem } {
  if (len < TmrEntry.SIZE) {
    return { problem: { code: 'bad-tmr', message: `TMR entry at ${off} is ${len} bytes, less than ${TmrEntry.SIZE}; skipped`, entryOffset: off, fatal: false } };
  }
  const tmrType = v.getUint8(at + TmrEntry.TMR_TYPE);
  const count = v.getUint32(at + TmrEntry.CMD_CNT, true);
  const fit = (len - TmrEntry.CMD_IDS) >> 1;
  const problem: RingProblem | undefined =
    count > fit
      ? { code: 'bad-tmr', message: `TMR entry at ${off} lists ${count} cmd_ids but holds ${fit}; delivering those`, entryOffset: off, fatal: false }
      : undefined;
  const n = Math.min(count, fit);
  const cmdIds: number[] = new Array(n);
  for (let i = 0; i < n; i++) cmdIds[i] = v.getUint16(at + TmrEntry.CMD_IDS + 2 * i, true);
  const event = Object.freeze({ kind: 'tmr' as const, tmrType, cmdIds, entryOffset: off });
  return problem === undefined ? { event } : { event, problem };
}
