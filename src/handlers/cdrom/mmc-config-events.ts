// MMC commands of the CD/DVD drive (part of the table in mmc.ts): GET CONFIGURATION (46h) and
// GET EVENT STATUS NOTIFICATION (4Ah), the drive's features and its polled event classes.
import { checkReserved, truncate, u16 } from '../../scsi/cdb.ts';
import { invalidCdbField } from '../../scsi/sense.ts';
import { usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import { BLOCK, Profile } from './disc.ts';
import { type Drive } from './mmc-drive.ts';
import { MediaEvent, OperationalEvent, PowerEvent, type PendingEvents } from './state.ts';

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
  // INQ2: INQUIRY validates EVPD, page code and the 16-bit allocation length; DBE: MMC-5/6 say
  // "shall be set to one", and GESN answers the device busy class (never busy)
  core[4] = 0x02 | 0x01;
  const random = Buffer.alloc(8);
  random.writeUInt32BE(BLOCK, 0);
  random.writeUInt16BE(dvd ? 16 : 1, 4); // blocking: ECC block of a DVD, one sector on a CD
  random[6] = 0x01; // PP: the read/write error recovery page is present
  const serialData = Buffer.from(serial.padEnd(Math.ceil(serial.length / 4) * 4, ' '), 'ascii');
  return [
    feature(0x0000, 0, true, true, profiles),
    feature(0x0001, 2, true, true, core),
    feature(0x0002, 1, true, true, [0x02, 0, 0, 0]), // OCEvent = 1 (operational change events), Async = 0 (polled)
    // tray, Load, Eject, Pvnt Jmpr = 1 (no prevent jumper: the drive powers up unlocked), Lock
    feature(0x0003, 2, true, true, [0x20 | 0x10 | 0x08 | 0x04 | 0x01, 0, 0, 0]),
    feature(0x0010, 0, false, disc !== undefined, random),
    feature(0x001d, 0, false, cd),
    feature(0x001e, 2, false, cd, [0, 0, 0, 0]), // no CD-Text, C2 flags or DAP
    feature(0x001f, 2, false, dvd, [0, 0, 0, 0]), // version 2 (MMC-5/6): no MULTI110, Dual-R or Dual-RW
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
/** Device busy: the Core feature's DBE bit promises it; an image-backed drive is never busy. */
const CLASS_BUSY = 6;

/** Per class: whether the nexus has an event of it queued, and the 4-byte descriptor (oldest event first, else NoChg). */
interface EventClass {
  code: number;
  pending(q: PendingEvents): boolean;
  take(q: PendingEvents, state: Drive): Buffer;
}

/** Supported classes in priority order (lowest number first, MMC-6 §6.6). */
const EVENT_CLASSES: readonly EventClass[] = [
  {
    code: CLASS_OPERATIONAL,
    pending: (q) => q.operational.length > 0,
    take: (q, state) => {
      const change = q.operational.shift();
      const d = Buffer.alloc(4);
      d[0] = change === undefined ? OperationalEvent.NO_CHANGE : OperationalEvent.CHANGE;
      d[1] = state.persistentPrevented ? 0x80 : 0x00; // PersPrevent; operational status 0: available
      d.writeUInt16BE(change ?? 0, 2);
      return d;
    },
  },
  {
    code: CLASS_POWER,
    pending: (q) => q.power.length > 0,
    take: (q, state) => {
      const reached = q.power.shift();
      return Buffer.from([reached === undefined ? PowerEvent.NO_CHANGE : PowerEvent.PWR_CHG_SUCCESSFUL, reached ?? state.power, 0, 0]);
    },
  },
  {
    code: CLASS_MEDIA,
    pending: (q) => q.media.length > 0,
    take: (q, state) => Buffer.from([q.media.shift() ?? MediaEvent.NO_CHANGE, (state.ready ? 0x02 : 0) | (state.tray === 'open' ? 0x01 : 0), 0, 0]),
  },
  {
    code: CLASS_BUSY,
    pending: () => false,
    take: () => Buffer.alloc(4), // NoEvent, not busy, time 0
  },
];
const SUPPORTED_CLASSES = EVENT_CLASSES.reduce((m, c) => m | (1 << c.code), 0);

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
    const h = Buffer.alloc(4);
    h[3] = SUPPORTED_CLASSES;
    const asked = EVENT_CLASSES.filter((c) => request & (1 << c.code));
    if (asked.length === 0) {
      h.writeUInt16BE(2, 0);
      h[2] = 0x80; // NEA: none of the requested classes is supported; class field 0
      return truncate(h, alloc);
    }
    // the highest-priority requested class with an event; else NoChg of the highest-priority one
    const cls = asked.find((c) => c.pending(q)) ?? asked[0]!;
    const d = cls.take(q, state);
    h.writeUInt16BE(2 + d.length, 0);
    h[2] = cls.code;
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
