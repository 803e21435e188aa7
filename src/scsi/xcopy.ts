// EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (SPC-4 §6.4, §6.18) for block -> block segments
// between logical units of this process, and the Third-party Copy VPD page 8Fh (SPC-4 §7.8.17).
//
// Copy targets (CSCDs) are named by identification descriptor target descriptors (E4h) holding the
// NAA designator a LU reports in VPD 83h; LUs that can take part register themselves here.
// Limits: copies go through the LUs' block I/O directly, so the reservations and the task-set
// ordering of a LU other than the one that received the EXTENDED COPY are not consulted.
import { Asc, Op, SenseKey } from './constants.ts';
import { checkReserved, truncate, u16, u32 } from './cdb.ts';
import { CheckCondition, invalidCdbField, parameterListLength } from './sense.ts';
import { requireDataOut, usage, type CommandContext, type CommandEntry } from './table.ts';
import type { ScsiCommand } from './command.ts';

const COPY_ABORTED = 0x0a;

/** What a copy needs from a block LU. */
export interface CopyEndpoint {
  /** The LU's NAA designator value (VPD 83h, association 0, type 3). */
  readonly naa: Buffer;
  readonly blockSize: number;
  readonly blocks: bigint;
  /** Throws NOT READY when the medium is not accessible. */
  checkReady(): void;
  readonly writeProtected: boolean;
  read(lba: bigint, count: number): Promise<Buffer>;
  write(lba: bigint, data: Buffer): Promise<void>;
}

const registry = new Map<string, CopyEndpoint[]>();

/** Makes a LU reachable as a copy target; returns the function that removes it again. */
export function registerCopyEndpoint(e: CopyEndpoint): () => void {
  const k = e.naa.toString('hex');
  const list = registry.get(k) ?? [];
  list.push(e);
  registry.set(k, list);
  return () => {
    const l = registry.get(k);
    if (!l) return;
    const i = l.indexOf(e);
    if (i >= 0) l.splice(i, 1);
    if (l.length === 0) registry.delete(k);
  };
}

/** The most recently registered endpoint with this NAA designator. */
export function findCopyEndpoint(naa: Buffer): CopyEndpoint | undefined {
  const l = registry.get(naa.toString('hex'));
  return l?.[l.length - 1];
}

/** Copy manager limits (RECEIVE COPY RESULTS OPERATING PARAMETERS, VPD 8Fh). */
export const XCOPY_LIMITS = {
  maxTargetDescriptors: 8,
  maxSegmentDescriptors: 16,
  maxDescriptorListLength: 1024,
  /** Bytes one segment may move. */
  maxSegmentLength: 256 << 20,
  totalConcurrentCopies: 16,
} as const;

const TD_IDENTIFICATION = 0xe4;
const SD_BLOCK_TO_BLOCK = 0x02;
const SUPPORTED_DESCRIPTORS = [SD_BLOCK_TO_BLOCK, TD_IDENTIFICATION];
const CHUNK = 1 << 20;
const HELD_PER_NEXUS = 16;

interface CopyResult {
  status: 1 | 2; // completed good / with error
  segments: number;
  bytes: number;
  sense?: Buffer;
}

function copyAborted(code = Asc.NO_ADDITIONAL_SENSE, segment?: number): CheckCondition {
  return new CheckCondition(COPY_ABORTED, code, segment === undefined ? {} : { commandSpecific: segment });
}

/** The copy manager of one LU: held results per I_T nexus. */
export class CopyManager {
  private readonly self: CopyEndpoint;
  private readonly held = new Map<string, Map<number, CopyResult>>();

  constructor(self: CopyEndpoint) {
    this.self = self;
  }

  nexusLost(nexusId: string): void {
    this.held.delete(nexusId);
  }

  reset(): void {
    this.held.clear();
  }

  private hold(nexusId: string, listId: number, r: CopyResult): void {
    let m = this.held.get(nexusId);
    if (!m) this.held.set(nexusId, (m = new Map()));
    m.delete(listId);
    m.set(listId, r);
    while (m.size > HELD_PER_NEXUS) m.delete(m.keys().next().value!);
  }

  async extendedCopy(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    for (let i = 2; i <= 9; i++) checkReserved(cdb, i, 0xff);
    checkReserved(cdb, 14, 0xff);
    const plen = u32(cdb, 10);
    if (plen === 0) return;
    if (plen < 16) throw parameterListLength(10);
    const p = requireDataOut(ctx, plen);
    const listId = p[0]!;
    const usageBits = (p[1]! >> 3) & 0x03;
    if (p[1]! & 0xc0) throw paramField(1, 7);
    if (usageBits === 1) throw paramField(1, 4);
    if (usageBits === 3 && listId !== 0) throw paramField(0);
    const tdLen = u16(p, 2);
    const sdLen = u32(p, 8);
    const inlineLen = u32(p, 12);
    if (tdLen + sdLen > XCOPY_LIMITS.maxDescriptorListLength) throw parameterListLength(10);
    if (16 + tdLen + sdLen + inlineLen > plen) throw parameterListLength(10);
    if (inlineLen !== 0) throw paramField(12); // no segment type that uses inline data is supported
    if (tdLen % 32 !== 0) throw paramField(2);

    // target descriptors (all E4h, 32 bytes each)
    const tdCount = tdLen / 32;
    if (tdCount > XCOPY_LIMITS.maxTargetDescriptors) {
      throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.TOO_MANY_TARGET_DESCRIPTORS);
    }
    const targets: Array<{ naa: Buffer; peripheral: number; blockLength: number; offset: number }> = [];
    for (let i = 0; i < tdCount; i++) {
      const off = 16 + i * 32;
      const d = p.subarray(off, off + 32);
      if (d[0] !== TD_IDENTIFICATION) {
        throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE, { field: { inCdb: false, byte: off } });
      }
      // byte 1: LU ID TYPE (ignored in SPC-4), NUL (obsolete), PERIPHERAL DEVICE TYPE
      const peripheral = d[1]! & 0x1f;
      if (peripheral !== 0) throw paramField(off + 1, 4);
      const codeSet = d[4]! & 0x0f;
      const assoc = (d[5]! >> 4) & 0x03;
      const type = d[5]! & 0x0f;
      const dlen = d[7]!;
      if (dlen > 16) throw paramField(off + 7);
      const value = Buffer.from(d.subarray(8, 8 + dlen));
      // only NAA LU designators name our LUs; anything else cannot be reached
      const naa = codeSet === 1 && assoc === 0 && type === 3 ? value : Buffer.alloc(0);
      targets.push({ naa, peripheral, blockLength: (d[29]! << 16) | (d[30]! << 8) | d[31]!, offset: off });
    }

    // segment descriptors
    const segs: Array<{ src: number; dst: number; dc: boolean; blocks: number; srcLba: bigint; dstLba: bigint }> = [];
    let off = 16 + tdLen;
    const end = off + sdLen;
    while (off < end) {
      if (off + 4 > end) throw parameterListLength(10);
      const type = p[off]!;
      const dlen = u16(p, off + 2) + 4;
      if (type !== SD_BLOCK_TO_BLOCK) {
        throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE, { field: { inCdb: false, byte: off } });
      }
      if (dlen !== 0x1c) throw paramField(off + 2);
      if (off + dlen > end) throw parameterListLength(10);
      if (segs.length >= XCOPY_LIMITS.maxSegmentDescriptors) {
        throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.TOO_MANY_SEGMENT_DESCRIPTORS);
      }
      segs.push({
        dc: (p[off + 1]! & 0x02) !== 0,
        src: u16(p, off + 4),
        dst: u16(p, off + 6),
        blocks: u16(p, off + 10),
        srcLba: p.readBigUInt64BE(off + 12),
        dstLba: p.readBigUInt64BE(off + 20),
      });
      off += dlen;
    }

    const nexusId = ctx.cmd.nexus.id;
    const result: CopyResult = { status: 1, segments: 0, bytes: 0 };
    try {
      for (let i = 0; i < segs.length; i++) {
        const s = segs[i]!;
        const src = this.resolve(targets, s.src, i, ctx.cmd.copyScope, false);
        const dst = this.resolve(targets, s.dst, i, ctx.cmd.copyScope, true);
        await this.copySegment(src, dst, s, i, result);
        result.segments++;
      }
    } catch (e) {
      if (usageBits === 0 && e instanceof CheckCondition) {
        this.hold(nexusId, listId, { ...result, status: 2, sense: ctx.lu.senseOf(e) });
      }
      throw e;
    }
    if (usageBits === 0) this.hold(nexusId, listId, result);
  }

  private resolve(targets: Array<{ naa: Buffer }>, index: number, segment: number, scope: ScsiCommand['copyScope'], write: boolean): CopyEndpoint {
    const t = targets[index];
    if (!t) throw copyAborted(Asc.COPY_TARGET_DEVICE_NOT_REACHABLE, segment);
    if (scope) {
      // only units the initiator's own LUN map shows it; a destination it maps read-only is write protected
      const access = scope(t.naa);
      if (!access) throw copyAborted(Asc.UNREACHABLE_COPY_TARGET, segment);
      if (write && access === 'read-only') throw new CheckCondition(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED, { commandSpecific: segment });
    }
    if (t.naa.equals(this.self.naa)) return this.self;
    const e = t.naa.length > 0 ? findCopyEndpoint(t.naa) : undefined;
    if (!e) throw copyAborted(Asc.UNREACHABLE_COPY_TARGET, segment);
    return e;
  }

  private async copySegment(
    src: CopyEndpoint,
    dst: CopyEndpoint,
    s: { dc: boolean; blocks: number; srcLba: bigint; dstLba: bigint },
    segment: number,
    result: CopyResult,
  ): Promise<void> {
    const bytes = s.blocks * (s.dc ? dst.blockSize : src.blockSize);
    if (bytes % src.blockSize !== 0 || bytes % dst.blockSize !== 0) throw copyAborted(Asc.NO_ADDITIONAL_SENSE, segment);
    if (bytes > XCOPY_LIMITS.maxSegmentLength) throw copyAborted(Asc.NO_ADDITIONAL_SENSE, segment);
    const srcBlocks = BigInt(bytes / src.blockSize);
    const dstBlocks = BigInt(bytes / dst.blockSize);
    src.checkReady();
    dst.checkReady();
    if (s.srcLba + srcBlocks > src.blocks || s.dstLba + dstBlocks > dst.blocks) {
      throw copyAborted(Asc.NO_ADDITIONAL_SENSE, segment);
    }
    if (bytes === 0) return;
    if (dst.writeProtected) throw new CheckCondition(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED, { commandSpecific: segment });
    const chunk = Math.max(src.blockSize, dst.blockSize, Math.floor(CHUNK / Math.max(src.blockSize, dst.blockSize)) * Math.max(src.blockSize, dst.blockSize));
    for (let done = 0; done < bytes; done += chunk) {
      const n = Math.min(chunk, bytes - done);
      const data = await src.read(s.srcLba + BigInt(done / src.blockSize), n / src.blockSize);
      await dst.write(s.dstLba + BigInt(done / dst.blockSize), data);
      result.bytes += n;
    }
  }

  receiveCopyResults(ctx: CommandContext): Buffer {
    const cdb = ctx.cdb;
    const sa = cdb[1]! & 0x1f;
    const listId = cdb[2]!;
    for (let i = 3; i <= 9; i++) checkReserved(cdb, i, 0xff);
    checkReserved(cdb, 14, 0xff);
    const alloc = u32(cdb, 10);
    if (sa === 0x03) return truncate(operatingParameters(), alloc);
    const r = this.held.get(ctx.cmd.nexus.id)?.get(listId);
    if (!r) throw invalidCdbField(2);
    switch (sa) {
      case 0x00: {
        // COPY STATUS: completed, transfer count in bytes
        const b = Buffer.alloc(12);
        b.writeUInt32BE(8, 0);
        b[4] = r.status;
        b.writeUInt16BE(Math.min(0xffff, r.segments), 5);
        let units = 0;
        let count = r.bytes;
        while (count > 0xffffffff) {
          count = Math.floor(count / 1024);
          units++;
        }
        b[7] = units;
        b.writeUInt32BE(count, 8);
        return truncate(b, alloc);
      }
      case 0x01: {
        // RECEIVE DATA: no segment type we support holds data
        const b = Buffer.alloc(4);
        return truncate(b, alloc);
      }
      case 0x04: {
        // FAILED SEGMENT DETAILS
        if (r.status === 1 || !r.sense) {
          const b = Buffer.alloc(60);
          b.writeUInt32BE(56, 0);
          return truncate(b, alloc);
        }
        const b = Buffer.alloc(60 + r.sense.length);
        b.writeUInt32BE(56 + r.sense.length, 0);
        b[56] = 0x02; // COPY COMMAND STATUS: CHECK CONDITION
        b.writeUInt16BE(r.sense.length, 58);
        r.sense.copy(b, 60);
        return truncate(b, alloc);
      }
      default:
        throw invalidCdbField(1, 4);
    }
  }
}

function paramField(byte: number, bit?: number): CheckCondition {
  return new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST, { field: { inCdb: false, byte, bit } });
}

/** RECEIVE COPY RESULTS with OPERATING PARAMETERS (SPC-4 §6.18.4). */
export function operatingParameters(): Buffer {
  const b = Buffer.alloc(44 + SUPPORTED_DESCRIPTORS.length);
  b.writeUInt32BE(b.length - 4, 0);
  b[4] = 0x01; // SNLID: list identifier usage 11b supported
  b.writeUInt16BE(XCOPY_LIMITS.maxTargetDescriptors, 8);
  b.writeUInt16BE(XCOPY_LIMITS.maxSegmentDescriptors, 10);
  b.writeUInt32BE(XCOPY_LIMITS.maxDescriptorListLength, 12);
  b.writeUInt32BE(XCOPY_LIMITS.maxSegmentLength, 16);
  b.writeUInt32BE(0, 20); // MAXIMUM INLINE DATA LENGTH
  b.writeUInt32BE(0, 24); // HELD DATA LIMIT
  b.writeUInt32BE(0, 28); // MAXIMUM STREAM DEVICE TRANSFER SIZE
  b.writeUInt16BE(XCOPY_LIMITS.totalConcurrentCopies, 34);
  b[36] = XCOPY_LIMITS.totalConcurrentCopies;
  b[37] = 9; // DATA SEGMENT GRANULARITY: 512 bytes (log2)
  b[38] = 0;
  b[39] = 0;
  b[43] = SUPPORTED_DESCRIPTORS.length;
  Buffer.from(SUPPORTED_DESCRIPTORS).copy(b, 44);
  return b;
}

function pad4(b: Buffer): Buffer {
  const r = b.length % 4;
  return r === 0 ? b : Buffer.concat([b, Buffer.alloc(4 - r)]);
}

function tpcDescriptor(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(type, 0);
  const padded = pad4(Buffer.concat([h, body]));
  padded.writeUInt16BE(padded.length - 4, 2);
  return padded;
}

/** Third-party Copy VPD page 8Fh payload: supported commands, parameter data, descriptors, general copy operations. */
export function thirdPartyCopyVpd(): Buffer {
  const cmds = Buffer.from([Op.EXTENDED_COPY, 1, 0x00, Op.RECEIVE_COPY_RESULTS, 4, 0x00, 0x01, 0x03, 0x04]);
  const supportedCommands = tpcDescriptor(0x0001, Buffer.concat([Buffer.from([cmds.length]), cmds]));
  const param = Buffer.alloc(28);
  param.writeUInt16BE(XCOPY_LIMITS.maxTargetDescriptors, 4);
  param.writeUInt16BE(XCOPY_LIMITS.maxSegmentDescriptors, 6);
  param.writeUInt32BE(XCOPY_LIMITS.maxDescriptorListLength, 8);
  param.writeUInt32BE(0, 12); // MAXIMUM INLINE DATA LENGTH
  const parameterData = tpcDescriptor(0x0004, param);
  const supportedDescriptors = tpcDescriptor(0x0008, Buffer.from([SUPPORTED_DESCRIPTORS.length, ...SUPPORTED_DESCRIPTORS]));
  const gen = Buffer.alloc(32);
  gen.writeUInt32BE(XCOPY_LIMITS.totalConcurrentCopies, 0);
  gen.writeUInt32BE(XCOPY_LIMITS.totalConcurrentCopies, 4);
  gen.writeUInt32BE(XCOPY_LIMITS.maxSegmentLength, 8);
  gen[12] = 9; // DATA SEGMENT GRANULARITY (log2)
  gen[13] = 0; // INLINE DATA GRANULARITY
  const generalCopy = tpcDescriptor(0x8001, gen);
  return Buffer.concat([supportedCommands, parameterData, supportedDescriptors, generalCopy]);
}

/** EXTENDED COPY(LID1) and RECEIVE COPY RESULTS entries backed by a copy manager. */
export function copyCommands(m: CopyManager): CommandEntry[] {
  const F = 0xff;
  const rcr = (sa: number, name: string): CommandEntry => ({
    opcode: Op.RECEIVE_COPY_RESULTS,
    serviceAction: sa,
    name: `RECEIVE COPY RESULTS (${name})`,
    usage: usage(Op.RECEIVE_COPY_RESULTS, 0x1f, sa === 0x03 ? 0 : F, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0x07),
    run: (ctx) => m.receiveCopyResults(ctx),
  });
  return [
    {
      opcode: Op.EXTENDED_COPY,
      serviceAction: 0x00,
      name: 'EXTENDED COPY(LID1)',
      usage: usage(Op.EXTENDED_COPY, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0x07),
      run: (ctx) => m.extendedCopy(ctx),
      access: 'write',
      medium: true,
      timeout: { nominal: 10, recommended: 300 },
    },
    rcr(0x00, 'COPY STATUS'),
    rcr(0x01, 'RECEIVE DATA'),
    rcr(0x03, 'OPERATING PARAMETERS'),
    rcr(0x04, 'FAILED SEGMENT DETAILS'),
  ];
}
