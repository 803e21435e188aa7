// Which commands a reservation lets through (SPC-4 §5.9.1 Table 'SPC commands that are allowed in
// the presence of various reservations', SBC-3 §4.17 Table 'SBC commands that are allowed in the
// presence of various reservations'), and what an SPC-2 RESERVE leaves to other I_T nexuses.
import type { CommandEntry } from '../table.ts';

/**
 * How a command meets a persistent reservation it does not hold:
 * 'allowed' — always (INQUIRY, TEST UNIT READY, READ CAPACITY, PR IN/OUT, ...);
 * 'read'    — allowed through Write Exclusive types, conflicts with Exclusive Access unless the
 *             type admits registrants and the nexus is registered (READ, VERIFY, MODE SENSE, ...);
 * 'write'   — conflicts unless the type admits registrants and the nexus is registered.
 */
export type AccessKind = 'allowed' | 'read' | 'write';

/** REPORT CAPABILITIES ALLOW COMMANDS: 011b, TUR allowed; MODE SENSE, READ ATTRIBUTE, READ BUFFER,
 * RECEIVE DIAGNOSTIC RESULTS, REPORT SUPPORTED OPERATION CODES/TMFs, READ DEFECT DATA pass
 * Write Exclusive and conflict with Exclusive Access: exactly the 'read' class below. */
export const ALLOW_COMMANDS = 0b011;

const ALLOWED_OPS: ReadonlySet<number> = new Set([
  0x00, // TEST UNIT READY
  0x03, // REQUEST SENSE
  0x12, // INQUIRY
  0x25, // READ CAPACITY(10)
  0x4d, // LOG SENSE
  0x5e, // PERSISTENT RESERVE IN
  0x5f, // PERSISTENT RESERVE OUT (keys are checked by the service actions)
  0xa0, // REPORT LUNS
  // RESERVE/RELEASE(6/10) decide for themselves (SPC-4 §5.9.3 exceptions)
  0x16, 0x17, 0x56, 0x57,
]);

const READ_OPS: ReadonlySet<number> = new Set([
  0x08, 0x28, 0xa8, 0x88, // READ(6/10/12/16)
  0x2f, 0xaf, 0x8f, // VERIFY(10/12/16)
  0x34, 0x90, // PRE-FETCH(10/16)
  0x3e, // READ LONG(10)
  0x37, 0xb7, // READ DEFECT DATA(10/12)
  0x1a, 0x5a, // MODE SENSE(6/10)
  0x3c, // READ BUFFER
  0x1c, // RECEIVE DIAGNOSTIC RESULTS
  0x8c, // READ ATTRIBUTE
  0xa2, // SECURITY PROTOCOL IN
]);

/** SERVICE ACTION IN(16) (9Eh) actions. */
const SAI_ALLOWED = new Set([0x10]); // READ CAPACITY(16)
const SAI_READ = new Set([0x11, 0x12, 0x13]); // READ LONG(16), GET LBA STATUS, REPORT REFERRALS
/** MAINTENANCE IN (A3h) actions. */
const MI_ALLOWED = new Set([0x05, 0x0a, 0x0b, 0x0e, 0x0f]); // REPORT IDENTIFYING INFO, RTPG, ALIASES, PRIORITY, TIMESTAMP
const MI_READ = new Set([0x0c, 0x0d]); // REPORT SUPPORTED OPERATION CODES / TASK MANAGEMENT FUNCTIONS
/** VARIABLE LENGTH (7Fh) actions that read: READ(32), VERIFY(32). */
const VL_READ = new Set([0x0009, 0x000a]);

/** The reservation class of a CDB. Unknown commands fall back to the entry's access class, else 'write'. */
export function accessKind(cdb: Buffer, entry?: CommandEntry): AccessKind {
  const op = cdb[0]!;
  if (ALLOWED_OPS.has(op)) return 'allowed';
  if (READ_OPS.has(op)) return 'read';
  const sa = (cdb[1] ?? 0) & 0x1f;
  switch (op) {
    case 0x9e:
      if (SAI_ALLOWED.has(sa)) return 'allowed';
      if (SAI_READ.has(sa)) return 'read';
      break;
    case 0xa3:
      if (MI_ALLOWED.has(sa)) return 'allowed';
      if (MI_READ.has(sa)) return 'read';
      break;
    case 0xab: // SERVICE ACTION IN(12): READ MEDIA SERIAL NUMBER
      if (sa === 0x01) return 'allowed';
      break;
    case 0x7f:
      if (cdb.length >= 10 && VL_READ.has(cdb.readUInt16BE(8))) return 'read';
      return 'write';
    case 0x1b: // START STOP UNIT: START = 1 with POWER CONDITION 0 is allowed, anything else conflicts
      return ((cdb[4] ?? 0) & 0xf1) === 0x01 ? 'allowed' : 'write';
    case 0x1e: // PREVENT ALLOW MEDIUM REMOVAL: allowing is allowed, preventing conflicts
      return ((cdb[4] ?? 0) & 0x03) === 0 ? 'allowed' : 'write';
  }
  if (entry?.access === 'read') return 'read';
  return 'write';
}

/**
 * Commands another I_T nexus may still send while one holds an SPC-2 RESERVE (SPC-2 §5.5.1):
 * INQUIRY, REQUEST SENSE, REPORT LUNS, RELEASE (no effect), LOG SENSE, PREVENT ALLOW with
 * PREVENT 0, REPORT TARGET PORT GROUPS. Everything else is RESERVATION CONFLICT.
 */
export function allowedUnderSpc2(cdb: Buffer): boolean {
  const op = cdb[0]!;
  switch (op) {
    case 0x12:
    case 0x03:
    case 0xa0:
    case 0x17:
    case 0x57:
    case 0x4d:
      return true;
    case 0x1e:
      return ((cdb[4] ?? 0) & 0x03) === 0;
    case 0xa3:
      return ((cdb[1] ?? 0) & 0x1f) === 0x0a;
    default:
      return false;
  }
}
