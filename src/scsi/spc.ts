// The SPC command table shared by every device type: opcode -> small function.
// REPORT LUNS is answered by the target (target.ts); reservations live in reservations/.
import { Asc, MaintenanceIn, Op, SenseKey } from './constants.ts';
import { checkReserved, truncate } from './cdb.ts';
import { inquiry } from './inquiry.ts';
import { modeSelect, modeSense } from './mode.ts';
import { reportSupportedOperationCodes } from './rsoc.ts';
import { maintenanceCommands } from './maintenance.ts';
import { logCommands } from './log.ts';
import { descriptorSense, fixedSense } from './sense.ts';
import { usage, type CommandContext, type CommandEntry } from './table.ts';

function testUnitReady(): void {
  // readiness (medium present, ...) is checked by the LU core before any `medium` command runs
}

/** REQUEST SENSE: the pending UA (consumed) or NO SENSE, fixed or descriptor per DESC. */
function requestSense(ctx: CommandContext): Buffer {
  const { cdb, lu, cmd } = ctx;
  checkReserved(cdb, 1, 0xfe);
  const desc = (cdb[1]! & 0x01) !== 0;
  const ua = lu.ua.take(cmd.nexus.id);
  const key = ua ? SenseKey.UNIT_ATTENTION : SenseKey.NO_SENSE;
  const code = ua ?? lu.spec.idleSense?.() ?? Asc.NO_ADDITIONAL_SENSE;
  const data = desc ? descriptorSense(key, code) : fixedSense(key, code);
  return truncate(data, cdb[4]!);
}

export const spcCommands: readonly CommandEntry[] = [
  {
    opcode: Op.TEST_UNIT_READY,
    name: 'TEST UNIT READY',
    usage: usage(Op.TEST_UNIT_READY, 0, 0, 0, 0, 0x07),
    run: testUnitReady,
    medium: true,
  },
  {
    opcode: Op.REQUEST_SENSE,
    name: 'REQUEST SENSE',
    usage: usage(Op.REQUEST_SENSE, 0x01, 0, 0, 0xff, 0x07),
    run: requestSense,
    ua: 'request-sense',
  },
  {
    opcode: Op.INQUIRY,
    name: 'INQUIRY',
    usage: usage(Op.INQUIRY, 0x01, 0xff, 0xff, 0xff, 0x07),
    run: (ctx) => inquiry(ctx, ctx.lu.inquiryProfile),
    ua: 'pass',
  },
  {
    opcode: Op.MODE_SELECT_6,
    name: 'MODE SELECT(6)',
    usage: usage(Op.MODE_SELECT_6, 0x11, 0, 0, 0xff, 0x07),
    run: modeSelect,
    exclusive: true,
  },
  {
    opcode: Op.MODE_SENSE_6,
    name: 'MODE SENSE(6)',
    usage: usage(Op.MODE_SENSE_6, 0x08, 0xff, 0xff, 0xff, 0x07),
    run: modeSense,
  },
  {
    opcode: Op.MODE_SELECT_10,
    name: 'MODE SELECT(10)',
    usage: usage(Op.MODE_SELECT_10, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07),
    run: modeSelect,
    exclusive: true,
  },
  {
    opcode: Op.MODE_SENSE_10,
    name: 'MODE SENSE(10)',
    usage: usage(Op.MODE_SENSE_10, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0x07),
    run: modeSense,
  },
  {
    opcode: Op.MAINTENANCE_IN,
    serviceAction: MaintenanceIn.REPORT_SUPPORTED_OPERATION_CODES,
    name: 'REPORT SUPPORTED OPERATION CODES',
    usage: usage(Op.MAINTENANCE_IN, 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x07),
    run: reportSupportedOperationCodes,
  },
  ...maintenanceCommands,
  ...logCommands,
];
