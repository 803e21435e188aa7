// MMC commands of the CD/DVD drive (part of the table in mmc.ts): the mechanism and its
// settings: MECHANISM STATUS, SET CD SPEED, GET PERFORMANCE, REPORT KEY, START STOP UNIT (tray,
// power conditions) and PREVENT ALLOW MEDIUM REMOVAL.
import { Asc, SenseKey } from '../../scsi/constants.ts';
import { checkReserved, truncate, u16 } from '../../scsi/cdb.ts';
import { CheckCondition, invalidCdbField } from '../../scsi/sense.ts';
import { preventField } from '../../scsi/prevent.ts';
import { usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import { READ_SPEED_KBS, need, type Drive } from './mmc-drive.ts';
import { PowerStatus } from './state.ts';

// ----------------------------------------------------- MECHANISM STATUS (BDh), SPEEDS

function mechanismStatus(state: Drive) {
  return (ctx: CommandContext): Buffer => {
    const b = Buffer.alloc(8);
    b[1] = state.tray === 'open' ? 0x10 : 0; // mechanism idle; door open bit
    // bytes 2..4 current LBA (legacy): 0; no changer, no slot tables
    return truncate(b, u16(ctx.cdb, 8));
  };
}

function setCdSpeed(ctx: CommandContext): void {
  checkReserved(ctx.cdb, 1, 0xfc);
  if ((ctx.cdb[1]! & 0x03) > 1) throw invalidCdbField(1, 1); // rotational control: CLV or CAV only
  // any speed is accepted: reads run at the speed of the image file
}

function getPerformance(state: Drive) {
  return (ctx: CommandContext): Buffer => {
    const cdb = ctx.cdb;
    const type = cdb[10]!;
    const max = u16(cdb, 8);
    const h = Buffer.alloc(8);
    if (type === 0x00) {
      const disc = need(state);
      const write = (cdb[1]! & 0x04) !== 0;
      const except = cdb[1]! & 0x03;
      if (except === 3) throw invalidCdbField(1, 1);
      h[4] = (write ? 0x02 : 0) | (except ? 0x01 : 0);
      const descs: Buffer[] = [];
      if (!write && except === 0 && max > 0) {
        const d = Buffer.alloc(16);
        d.writeUInt32BE(0, 0);
        d.writeUInt32BE(READ_SPEED_KBS, 4);
        d.writeUInt32BE(disc.blocks - 1, 8);
        d.writeUInt32BE(READ_SPEED_KBS, 12);
        descs.push(d);
      }
      const out = Buffer.concat([h, ...descs]);
      out.writeUInt32BE(out.length - 4, 0);
      return out;
    }
    if (type === 0x03) {
      // write speed descriptors: a ROM drive has none
      h.writeUInt32BE(4, 0);
      return h;
    }
    throw invalidCdbField(10);
  };
}

/**
 * REPORT KEY (A4h): the drive has no CSS/CPPM authentication (feature 0106h is not reported), so
 * only key format 08h, the RPC state, is answered: region-free, RPC Phase II, no changes used.
 * Every other key format is refused with 05/24/00 on the KEY FORMAT field.
 */
function reportKey(ctx: CommandContext): Buffer {
  const cdb = ctx.cdb;
  const keyClass = cdb[7]!;
  const format = cdb[10]! & 0x3f;
  if (keyClass !== 0) throw invalidCdbField(7);
  if (format !== 0x08) throw invalidCdbField(10, 5);
  const b = Buffer.alloc(8);
  b.writeUInt16BE(6, 0);
  b[4] = 0x00 | (4 << 3) | 5; // type code 00b (no region set), 4 vendor resets, 5 user changes left
  b[5] = 0x00; // region mask: playable in every region
  b[6] = 0x01; // RPC Phase II
  return truncate(b, u16(cdb, 8));
}

// ---------------------------------------------------- START STOP UNIT, PREVENT ALLOW

/** POWER CONDITIONS (MMC-6 Table 'Power Conditions'): value -> power status of the event class. */
const POWER_CONDITIONS: ReadonlyMap<number, number> = new Map([
  [0x1, PowerStatus.ACTIVE],
  [0x2, PowerStatus.IDLE],
  [0x3, PowerStatus.STANDBY],
  [0x5, PowerStatus.SLEEP],
  [0x7, PowerStatus.ACTIVE], // LU control: the drive manages itself, and it is always active
  [0xa, PowerStatus.IDLE],
  [0xb, PowerStatus.STANDBY],
]);

function startStopUnit(state: Drive) {
  return (ctx: CommandContext): void => {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xfe);
    checkReserved(cdb, 2, 0xff);
    checkReserved(cdb, 3, 0xfc);
    checkReserved(cdb, 4, 0x08);
    if (cdb[3]! & 0x03 || cdb[4]! & 0x04) throw invalidCdbField(cdb[4]! & 0x04 ? 4 : 3, cdb[4]! & 0x04 ? 2 : 1); // FL: no layer jumps on ROM media
    const pc = cdb[4]! >> 4;
    const loej = (cdb[4]! & 0x02) !== 0;
    const start = (cdb[4]! & 0x01) !== 0;
    if (pc !== 0) {
      const status = POWER_CONDITIONS.get(pc);
      if (status === undefined) throw invalidCdbField(4, 7);
      state.setPower(status);
      return;
    }
    if (loej) {
      if (state.initiatorLoadEject(ctx.cmd.nexus.id, start) === 'prevented') {
        throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.MEDIUM_REMOVAL_PREVENTED);
      }
      return;
    }
    // START/STOP without LOEJ spins the disc up or down: nothing to do, the drive stays ready
    if (start) state.setPower(PowerStatus.ACTIVE);
  };
}

function preventAllow(state: Drive) {
  return (ctx: CommandContext): void => {
    const field = preventField(ctx.cdb);
    state.touch(ctx.cmd.nexus.id);
    state.setPrevent(ctx.cmd.nexus.id, field);
  };
}

// ------------------------------------------------------------------------ the table

export function mechanismCommands(state: Drive): CommandEntry[] {
  return [
    { opcode: 0x1b, name: 'START STOP UNIT', usage: usage(0x1b, 0x01, 0, 0x03, 0xf7, 0x07), run: startStopUnit(state), timeout: { nominal: 1, recommended: 30 } },
    { opcode: 0x1e, name: 'PREVENT ALLOW MEDIUM REMOVAL', usage: usage(0x1e, 0, 0, 0, 0x03, 0x07), run: preventAllow(state) },
    { opcode: 0xa4, name: 'REPORT KEY', usage: usage(0xa4, 0, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0xff, 0x07), run: reportKey },
    { opcode: 0xac, name: 'GET PERFORMANCE', usage: usage(0xac, 0x1f, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0xff, 0x07), run: getPerformance(state) },
    { opcode: 0xbb, name: 'SET CD SPEED', usage: usage(0xbb, 0x03, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0x07), run: setCdSpeed },
    { opcode: 0xbd, name: 'MECHANISM STATUS', usage: usage(0xbd, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0x07), run: mechanismStatus(state) },
  ];
}
