// MAINTENANCE IN service actions besides REPORT SUPPORTED OPERATION CODES (SPC-4 §6.36, §6.37):
// REPORT TARGET PORT GROUPS and REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS.
//
// ALUA model: implicit ALUA (TPGS = 01b in standard INQUIRY), one target port group (1) holding
// every target port, always active/optimized. The relative target port is the one the command came
// through, the same value VPD 83h reports.
import { MaintenanceIn, Op } from './constants.ts';
import { checkReserved, truncate, u32 } from './cdb.ts';
import { invalidCdbField } from './sense.ts';
import { usage, type CommandContext, type CommandEntry } from './table.ts';

/** The target port group every port belongs to (VPD 83h designator type 5 reports the same). */
export const TARGET_PORT_GROUP = 1;
/** TPGS field of standard INQUIRY byte 5: implicit asymmetric access only. */
export const TPGS_IMPLICIT = 0x10;

function reportTargetPortGroups(ctx: CommandContext): Buffer {
  const cdb = ctx.cdb;
  const format = cdb[1]! >> 5;
  if (format > 1) throw invalidCdbField(1, 7);
  for (let i = 2; i <= 5; i++) checkReserved(cdb, i, 0xff);
  checkReserved(cdb, 10, 0xff);
  const alloc = u32(cdb, 6);
  const desc = Buffer.alloc(8 + 4);
  desc[0] = 0x80 | 0x00; // PREF = 1, ASYMMETRIC ACCESS STATE 0h: active/optimized
  desc[1] = 0x01; // AO_SUP only: the only state this group is ever in
  desc.writeUInt16BE(TARGET_PORT_GROUP, 2);
  desc[5] = 0x00; // STATUS CODE: no status available
  desc[7] = 1; // TARGET PORT COUNT
  desc.writeUInt16BE(ctx.cmd.nexus.relativeTargetPort & 0xffff, 10);
  let header: Buffer;
  if (format === 1) {
    header = Buffer.alloc(8);
    header.writeUInt32BE(4 + desc.length, 0);
    header[4] = 0x10; // FORMAT TYPE 001b
    header[5] = 0; // IMPLICIT TRANSITION TIME: no transitions ever happen
  } else {
    header = Buffer.alloc(4);
    header.writeUInt32BE(desc.length, 0);
  }
  return truncate(Buffer.concat([header, desc]), alloc);
}

/**
 * REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS: what the SCSI core acts on (ABORT TASK is carried
 * out by the links, which all implement it). REPD = 1 asks for the 16-byte extended format.
 */
function reportSupportedTmfs(ctx: CommandContext): Buffer {
  const cdb = ctx.cdb;
  checkReserved(cdb, 2, 0x7f);
  for (let i = 3; i <= 5; i++) checkReserved(cdb, i, 0xff);
  checkReserved(cdb, 10, 0xff);
  const repd = (cdb[2]! & 0x80) !== 0;
  const alloc = u32(cdb, 6);
  const b = Buffer.alloc(repd ? 16 : 4);
  // ATS ATSS CACAS CTSS LURS QTS TRS WAKES
  b[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x02; // no CLEAR ACA: NACA is refused, there is never an ACA
  b[1] = 0x00; // QAES QTSS ITNRS: not supported
  if (repd) b[3] = 0x0c; // ADDITIONAL DATA LENGTH
  return truncate(b, alloc);
}

const F = 0xff;

export const maintenanceCommands: readonly CommandEntry[] = [
  {
    opcode: Op.MAINTENANCE_IN,
    serviceAction: MaintenanceIn.REPORT_TARGET_PORT_GROUPS,
    name: 'REPORT TARGET PORT GROUPS',
    usage: usage(Op.MAINTENANCE_IN, 0xff, 0, 0, 0, 0, F, F, F, F, 0, 0x07),
    run: reportTargetPortGroups,
    ua: 'normal',
  },
  {
    opcode: Op.MAINTENANCE_IN,
    serviceAction: MaintenanceIn.REPORT_SUPPORTED_TMFS,
    name: 'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS',
    usage: usage(Op.MAINTENANCE_IN, 0x1f, 0x80, 0, 0, 0, F, F, F, F, 0, 0x07),
    run: reportSupportedTmfs,
  },
];
