// SBC-4 PRE-FETCH(10/16), SANITIZE (OVERWRITE, BLOCK ERASE on thin LUs, EXIT FAILURE MODE),
// FORMAT UNIT, and the hook that answers NOT READY, SANITIZE IN PROGRESS while one runs.
import { Asc, Op, SenseKey } from '../../scsi/constants.ts';
import { checkReserved, decodeRangeWithImmed, u16 } from '../../scsi/cdb.ts';
import { CheckCondition, invalidCdbField, invalidParamField, lbaOutOfRange } from '../../scsi/sense.ts';
import { requireDataOut, usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import type { CommandHook } from '../../scsi/logical-unit.ts';
import { SANITIZE_FAILED, SANITIZE_IN_PROGRESS, type DiskDevice } from './device.ts';

const F = 0xff;
export const SANITIZE = 0x48;
export const SanitizeAction = { OVERWRITE: 0x01, BLOCK_ERASE: 0x02, CRYPTO_ERASE: 0x03, EXIT_FAILURE_MODE: 0x1f } as const;

/** Commands a sanitize in progress lets through (SBC-4 4.11.2): INQUIRY, REPORT LUNS, REQUEST SENSE, LOG SENSE, MAINTENANCE IN. */
const ALLOWED_DURING_SANITIZE = new Set([0x03, 0x12, 0x4d, 0xa0, 0xa3]);

/** LU hook: 02/04/1B (with progress) while a sanitize runs; 03/31/03 after one failed. */
export function sanitizeHook(dev: DiskDevice): CommandHook {
  return (ctx) => {
    const op = ctx.cdb[0]!;
    if (ALLOWED_DURING_SANITIZE.has(op)) return;
    if (dev.sanitizing) throw new CheckCondition(SenseKey.NOT_READY, SANITIZE_IN_PROGRESS, { progress: dev.sanitizing.progress });
    if (dev.sanitizeFailed && ctx.entry.medium && op !== SANITIZE) throw new CheckCondition(SenseKey.MEDIUM_ERROR, SANITIZE_FAILED);
  };
}

export function maintenanceCommands(dev: DiskDevice, o: { log: (m: string) => void }): CommandEntry[] {
  const bs = dev.blockSize;
  const s = dev.settings;

  function prefetch(ctx: CommandContext): Promise<void> | void {
    const d = decodeRangeWithImmed(ctx.cdb);
    checkReserved(ctx.cdb, 1, 0x04);
    let count = BigInt(d.blocks);
    if (count === 0n) {
      // PREFETCH LENGTH 0: from LBA to the last LBA
      if (d.lba > dev.blocks) throw lbaOutOfRange(d.lba);
      count = dev.blocks - d.lba;
    }
    dev.checkRange(d.lba, count);
    // The page cache is not ours to pin, so we never promise the blocks stay cached: GOOD, not
    // CONDITION MET (SBC-4 5.11: GOOD when the cache cannot hold all of them).
    const p = dev.prefetch(d.lba, Number(count));
    if (d.immed) {
      p.catch((e: unknown) => o.log(`PRE-FETCH (IMMED) failed: ${(e as Error).message}`));
      return;
    }
    return p;
  }

  /** Common SANITIZE CDB checks; returns IMMED and the parameter list length. */
  function sanitizeCdb(ctx: CommandContext): { immed: boolean; len: number } {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0x40); // ZNR: not a zoned device
    for (let i = 2; i <= 6; i++) checkReserved(cdb, i, 0xff);
    return { immed: (cdb[1]! & 0x80) !== 0, len: u16(cdb, 7) };
  }

  /** Runs the sanitize; without IMMED waits for it (or for the command's abort, leaving it running). */
  async function runSanitize(ctx: CommandContext, immed: boolean, work: () => Promise<void>): Promise<void> {
    const release = await dev.lock.acquire(0n, dev.blocks, 'exclusive'); // in-flight I/O first
    const p = (async () => {
      try {
        await work();
      } finally {
        release();
      }
    })();
    if (immed) {
      p.catch((e: unknown) => o.log(`SANITIZE (IMMED) failed: ${(e as Error).message}`));
      return;
    }
    const signal = ctx.cmd.signal;
    const aborted = new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
    try {
      await Promise.race([p, aborted]);
    } catch {
      throw new CheckCondition(SenseKey.MEDIUM_ERROR, SANITIZE_FAILED);
    }
    p.catch(() => undefined);
  }

  async function overwrite(ctx: CommandContext): Promise<void> {
    const { immed, len } = sanitizeCdb(ctx);
    if (len < 5 || len > bs + 4) throw invalidCdbField(7);
    dev.checkWritable();
    const p = requireDataOut(ctx, len);
    const owcount = p[0]! & 0x1f;
    if (p[0]! & 0x60) throw invalidParamField(0, 6); // TEST: vendor specific, not supported
    if (owcount === 0) throw invalidParamField(0, 4);
    checkReserved(p, 1, 0xff);
    const patternLength = u16(p, 2);
    if (patternLength === 0 || patternLength > bs || patternLength + 4 !== len) throw invalidParamField(2);
    const block = Buffer.alloc(bs).fill(p.subarray(4, 4 + patternLength));
    const invert = (p[0]! & 0x80) !== 0;
    await runSanitize(ctx, immed, () => dev.sanitize('overwrite', block, owcount, invert));
  }

  async function blockErase(ctx: CommandContext): Promise<void> {
    const { immed, len } = sanitizeCdb(ctx);
    if (len !== 0) throw invalidCdbField(7);
    dev.checkWritable();
    await runSanitize(ctx, immed, () => dev.sanitize('block-erase'));
  }

  function exitFailureMode(ctx: CommandContext): void {
    const { len } = sanitizeCdb(ctx);
    if (len !== 0) throw invalidCdbField(7);
    dev.checkWritable();
    dev.sanitizeFailed = false;
  }

  async function formatUnit(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    if (cdb[1]! & 0xc0) throw invalidCdbField(1, 7); // FMTPINFO: no protection information
    const longList = (cdb[1]! & 0x20) !== 0;
    const fmtData = (cdb[1]! & 0x10) !== 0;
    const defectFormat = cdb[1]! & 0x07;
    if (!fmtData && (cdb[1]! & 0x08)) throw invalidCdbField(1, 3); // CMPLST needs FMTDATA
    if (!fmtData && (longList || defectFormat !== 0)) throw invalidCdbField(1, longList ? 5 : 2);
    checkReserved(cdb, 3, 0xff);
    checkReserved(cdb, 4, 0xff);
    dev.checkWritable();
    if (fmtData) {
      const hlen = longList ? 8 : 4;
      const h = requireDataOut(ctx, hlen);
      if (h[0]! & 0x07) throw invalidParamField(0, 2); // PROTECTION FIELD USAGE
      checkReserved(h, 0, 0xf8);
      const b1 = h[1]!;
      const fov = (b1 & 0x80) !== 0;
      if (!fov && (b1 & 0x78)) throw invalidParamField(1, 6); // DPRY/DCRT/STPF/IP need FOV
      if (b1 & 0x08) throw invalidParamField(1, 3); // IP: initialization patterns not supported
      if (b1 & 0x10) throw invalidParamField(1, 4); // STPF: no defect lists to stop on
      if (longList) {
        if (h[3]! !== 0) throw invalidParamField(3); // P_I_INFORMATION / PROTECTION INTERVAL EXPONENT
        if (h.readUInt32BE(4) !== 0) throw invalidParamField(4); // no defect list is kept
      } else if (u16(h, 2) !== 0) throw invalidParamField(2);
      if (defectFormat !== 0 && defectFormat !== 4 && defectFormat !== 5 && defectFormat !== 3 && defectFormat !== 6) throw invalidCdbField(1, 2);
    }
    // A thin LU starts over fully deallocated; a fully provisioned one keeps its data
    // (no initialization pattern was requested, so the contents are vendor specific).
    if (s.thin) await dev.deallocateAll();
    else await dev.flush();
  }

  const entries: CommandEntry[] = [
    {
      opcode: Op.PRE_FETCH_10,
      name: 'PRE-FETCH(10)',
      usage: usage(Op.PRE_FETCH_10, 0x02, F, F, F, F, 0x1f, F, F, 0x07),
      run: prefetch,
      access: 'read',
      medium: true,
    },
    {
      opcode: Op.PRE_FETCH_16,
      name: 'PRE-FETCH(16)',
      usage: usage(Op.PRE_FETCH_16, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, 0x1f, 0x07),
      run: prefetch,
      access: 'read',
      medium: true,
    },
    {
      opcode: SANITIZE,
      serviceAction: SanitizeAction.OVERWRITE,
      name: 'SANITIZE (OVERWRITE)',
      usage: [SANITIZE, 0xa0 | SanitizeAction.OVERWRITE, 0, 0, 0, 0, 0, F, F, 0x07],
      run: overwrite,
      access: 'write',
      medium: true,
      timeout: { nominal: 60, recommended: 3600 },
    },
    {
      opcode: SANITIZE,
      serviceAction: SanitizeAction.EXIT_FAILURE_MODE,
      name: 'SANITIZE (EXIT FAILURE MODE)',
      usage: [SANITIZE, 0xa0 | SanitizeAction.EXIT_FAILURE_MODE, 0, 0, 0, 0, 0, F, F, 0x07],
      run: exitFailureMode,
      access: 'write',
      medium: true,
    },
    {
      opcode: Op.FORMAT_UNIT,
      name: 'FORMAT UNIT',
      usage: usage(Op.FORMAT_UNIT, 0x3f, 0, 0, 0, 0x07),
      run: formatUnit,
      access: 'write',
      medium: true,
      exclusive: true,
      timeout: { nominal: 10, recommended: 3600 },
    },
  ];
  if (s.thin) {
    entries.push({
      opcode: SANITIZE,
      serviceAction: SanitizeAction.BLOCK_ERASE,
      name: 'SANITIZE (BLOCK ERASE)',
      usage: [SANITIZE, 0xa0 | SanitizeAction.BLOCK_ERASE, 0, 0, 0, 0, 0, F, F, 0x07],
      run: blockErase,
      access: 'write',
      medium: true,
      timeout: { nominal: 10, recommended: 600 },
    });
  }
  return entries;
}
