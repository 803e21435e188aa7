// MMC commands of the CD/DVD drive (part of the table in mmc.ts): GET CONFIGURATION (46h) and
// GET EVENT STATUS NOTIFICATION (4Ah), the drive's features and its polled event classes.
import { checkReserved, truncate, u16 } from '../../scsi/cdb.ts';
import { invalidCdbField } from '../../scsi/sense.ts';
import { usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import { BLOCK, Profile } from './disc.ts';
import { type Drive } from './mmc-drive.ts';
import { MediaEvent, OperationalEvent } from './state.ts';

// ---------------------------------------------------------------- GET CONFIGURATION (46h)

interface Feature {
  code: number;
  version: number;
  persistent: boolean;
  current: boolean;
  data: Buffer;
}

function feature(code: number, version: number, persistent: boolean, current: boolean, data: number[] | Buffer = []): Feature {
  return { code, version, persistent, current, data: Buffer.from(data) };
}

/** The features this drive has, with current bits for the disc in it (none current when empty). */
export function features(state: Drive, serial: string): Feature[] {
  const disc = state.medium;
  const profile = disc?.profile ?? Profile.NONE;
  const cd = profile === Profile.CD_ROM;
  const dvd = profile === Profile.DVD_ROM;
  const profiles = Buffer.alloc(8);
  profiles.writeUInt16BE(Profile.DVD_ROM, 0);
  profiles[2] = dvd ? 1 : 0;
  profiles.writeUInt16BE(Profile.CD_ROM, 4);
  profiles[6] = cd ? 1 : 0;
  const core = Buffer.alloc(8);
  core.writeUInt32BE(1, 0); // physical interface standard: SCSI family
  core[4] = 0x02; // INQ2: INQUIRY data follows SPC-3 or later; DBE = 0 (no device busy events)
  const random = Buffer.alloc(8);
  random.writeUInt32BE(BLOCK, 0);
  random.writeUInt16BE(dvd ? 16 : 1, 4); // blocking: ECC block of a DVD, one sector on a CD
  random[6] = 0x01; // PP: the read/write error recovery page is present
  const serialData = Buffer.from(serial.padEnd(Math.ceil(serial.length / 4) * 4, ' '), 'ascii');
  return [
    feature(0x0000, 0, true, true, profiles),
    feature(0x0001, 2, true, true, core),
    feature(0x0002, 1, true, true, [0x02, 0, 0, 0]), // OCEvent = 1 (operational change events), Async = 0 (polled)
    feature(0x0003, 2, true, true, [0x20 | 0x10 | 0x08 | 0x01, 0, 0, 0]), // tray, Load, Eject, Lock
    feature(0x0010, 0, false, disc !== undefined, random),
    feature(0x001d, 0, false, cd),
    feature(0x001e, 2, false, cd, [0, 0, 0, 0]), // no CD-Text, C2 flags or DAP
    feature(0x001f, 1, false, dvd, [0, 0, 0, 0]), // single-layer read; no MULTI110
    feature(0x0100, 0, true, true),
    feature(0x0105, 1, true, true, [0, 0, 0, 0]), // no Group 3 timeouts
    feature(0x0108, 0, true, true, serialData),
  ];
}

function renderFeature(f: Feature): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(f.code, 0);
  h[2] = ((f.version & 0x0f) << 2) | (f.persistent ? 0x02 : 0) | (f.current ? 0x01 : 0);
  h[3] = f.data.length;
  return Buffer.concat([h, f.data]);
}

function getConfiguration(state: Drive, serial: string) {
  return (ctx: CommandContext): Buffer => {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xfc);
    const rt = cdb[1]! & 0x03;
    if (rt === 3) throw invalidCdbField(1, 1);
    const start = u16(cdb, 2);
    const alloc = u16(cdb, 7);
    const all = features(state, serial);
    const chosen =
      rt === 0 ? all.filter((f) => f.code >= start) : rt === 1 ? all.filter((f) => f.code >= start && f.current) : all.filter((f) => f.code === start);
    const body = Buffer.concat(chosen.map(renderFeature));
    const h = Buffer.alloc(8);
    h.writeUInt32BE(4 + body.length, 0);
    h.writeUInt16BE(state.medium?.profile ?? Profile.NONE, 6);
    return truncate(Buffer.concat([h, body]), alloc);
  };
}

// ------------------------------------------------- GET EVENT STATUS NOTIFICATION (4Ah)

const CLASS_OPERATIONAL = 1;
const CLASS_POWER = 2;
const CLASS_MEDIA = 4;
const SUPPORTED_CLASSES = (1 << CLASS_OPERATIONAL) | (1 << CLASS_POWER) | (1 << CLASS_MEDIA);

function getEventStatus(state: Drive) {
  return (ctx: CommandContext): Buffer => {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xfe);
    if ((cdb[1]! & 0x01) === 0) throw invalidCdbField(1, 0); // asynchronous operation is not supported
    const request = cdb[4]!;
    const alloc = u16(cdb, 7);
    const nexus = ctx.cmd.nexus.id;
    state.touch(nexus);
    const q = state.pending(nexus)!;
    const asked = request & SUPPORTED_CLASSES;
    const h = Buffer.alloc(4);
    h[3] = SUPPORTED_CLASSES;
    if (asked === 0) {
      h.writeUInt16BE(2, 0);
      h[2] = 0x80; // NEA: none of the requested classes is supported
      return truncate(h, alloc);
    }
    const classes = [CLASS_OPERATIONAL, CLASS_POWER, CLASS_MEDIA].filter((c) => asked & (1 << c));
    // the highest-priority (lowest-numbered) requested class with an event; else NoChg of the first
    const cls =
      classes.find((c) => (c === CLASS_OPERATIONAL ? q.operational.length : c === CLASS_POWER ? q.power.length : q.media.length) > 0) ?? classes[0]!;
    const d = Buffer.alloc(4);
    if (cls === CLASS_OPERATIONAL) {
      const change = q.operational.shift();
      d[0] = change === undefined ? OperationalEvent.NO_CHANGE : OperationalEvent.CHANGE;
      d[1] = (state.persistentPrevented ? 0x80 : 0) | 0x00; // operational status: available
      d.writeUInt16BE(change ?? 0, 2);
    } else if (cls === CLASS_POWER) {
      const reached = q.power.shift();
      d[0] = reached === undefined ? 0 : 1; // PwrChg-Successful
      d[1] = reached ?? state.power;
    } else {
      d[0] = q.media.shift() ?? MediaEvent.NO_CHANGE;
      d[1] = (state.ready ? 0x02 : 0) | (state.tray === 'open' ? 0x01 : 0);
    }
    h.writeUInt16BE(2 + d.length, 0);
    h[2] = cls;
    return truncate(Buffer.concat([h, d]), alloc);
  };
}

// ------------------------------------------------------------------------ the table

export function configurationEventCommands(state: Drive, o: { serial: string }): CommandEntry[] {
  return [
    { opcode: 0x46, name: 'GET CONFIGURATION', usage: usage(0x46, 0x03, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0x07), run: getConfiguration(state, o.serial), ua: 'pass' },
    { opcode: 0x4a, name: 'GET EVENT STATUS NOTIFICATION', usage: usage(0x4a, 0x01, 0, 0, 0xff, 0, 0, 0xff, 0xff, 0x07), run: getEventStatus(state), ua: 'pass' },
  ];
}
