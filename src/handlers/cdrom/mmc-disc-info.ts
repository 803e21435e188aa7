// MMC commands of the CD/DVD drive (part of the table in mmc.ts): READ TOC/PMA/ATIP (43h),
// READ DISC INFORMATION (51h) and READ TRACK INFORMATION (52h) of a one-track, one-session disc.
import { checkReserved, truncate, u16, u32 } from '../../scsi/cdb.ts';
import { invalidCdbField, lbaOutOfRange } from '../../scsi/sense.ts';
import { usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import { need, type Drive } from './mmc-drive.ts';

// ------------------------------------------------------------ READ TOC/PMA/ATIP (43h)

/** MSF address of an LBA (2-second pregap), clamped to 255:59:74 for discs larger than MSF can say. */
export function msf(lba: number): [number, number, number] {
  const f = lba + 150;
  const m = Math.floor(f / (60 * 75));
  if (m > 255) return [255, 59, 74];
  return [m, Math.floor(f / 75) % 60, f % 75];
}

function address(lba: number, useMsf: boolean): Buffer {
  const b = Buffer.alloc(4);
  if (useMsf) {
    const [m, s, f] = msf(lba);
    b[1] = m;
    b[2] = s;
    b[3] = f;
  } else b.writeUInt32BE(lba >>> 0, 0);
  return b;
}

/** ADR = 1 (Q sub-channel position), CONTROL = 4 (data track, recorded uninterrupted). */
const ADR_CONTROL = 0x14;
const LEAD_OUT = 0xaa;

function readToc(state: Drive) {
  return (ctx: CommandContext): Buffer => {
    const cdb = ctx.cdb;
    const disc = need(state);
    checkReserved(cdb, 1, 0xfd);
    checkReserved(cdb, 2, 0xf0);
    const useMsf = (cdb[1]! & 0x02) !== 0;
    // SFF-8020 hosts put the format in byte 9 bits 7..6 and leave byte 2 zero
    const format = (cdb[2]! & 0x0f) || cdb[9]! >> 6;
    const track = cdb[6]!;
    const alloc = u16(cdb, 7);
    const body: Buffer[] = [];
    const h = Buffer.alloc(4);
    switch (format) {
      case 0: {
        if (track > 1 && track !== LEAD_OUT) throw invalidCdbField(6);
        h[2] = 1;
        h[3] = 1;
        const desc = (n: number, lba: number) => Buffer.concat([Buffer.from([0, ADR_CONTROL, n, 0]), address(lba, useMsf)]);
        if (track <= 1) body.push(desc(1, 0));
        body.push(desc(LEAD_OUT, disc.blocks));
        break;
      }
      case 1: // session information: one complete session starting with track 1
        h[2] = 1;
        h[3] = 1;
        body.push(Buffer.concat([Buffer.from([0, ADR_CONTROL, 1, 0]), address(0, useMsf)]));
        break;
      case 2: {
        // full TOC: points A0 (first track, disc type), A1 (last track), A2 (lead-out), then track 1
        if (track > 1) throw invalidCdbField(6); // session number: there is one session
        h[2] = 1;
        h[3] = 1;
        const point = (pt: number, pm: number, ps: number, pf: number) => Buffer.from([1, ADR_CONTROL, 0, pt, 0, 0, 0, 0, pm, ps, pf]);
        const [lm, ls, lf] = msf(disc.blocks);
        const [tm, ts, tf] = msf(0);
        body.push(point(0xa0, 1, 0x00, 0), point(0xa1, 1, 0, 0), point(0xa2, lm, ls, lf), point(1, tm, ts, tf));
        break;
      }
      case 3: // PMA: pressed media have none
      case 4: // ATIP: only recordable CDs have one
      case 5: // CD-TEXT: none
        break;
      default:
        throw invalidCdbField(2, 3);
    }
    const data = Buffer.concat([h, ...body]);
    data.writeUInt16BE(data.length - 2, 0);
    return truncate(data, alloc);
  };
}

// ----------------------------------------- READ DISC INFORMATION (51h), TRACK INFORMATION (52h)

function readDiscInformation(state: Drive) {
  return (ctx: CommandContext): Buffer => {
    const cdb = ctx.cdb;
    need(state);
    checkReserved(cdb, 1, 0xf8);
    if ((cdb[1]! & 0x07) !== 0) throw invalidCdbField(1, 2); // only standard disc information
    const alloc = u16(cdb, 7);
    const b = Buffer.alloc(34);
    b.writeUInt16BE(32, 0);
    b[2] = 0x0e; // not erasable, last session complete (11b), disc finalized (10b)
    b[3] = 1; // first track on disc
    b[4] = 1; // sessions
    b[5] = 1; // first track in last session
    b[6] = 1; // last track in last session
    b[7] = 0x20; // URU: unrestricted use
    b[8] = 0x00; // disc type: CD-DA or CD-ROM (DVD media report 00h as well)
    b.writeUInt32BE(0xffffffff, 16); // last session lead-in start: none (finalized)
    b.writeUInt32BE(0xffffffff, 20); // last possible lead-out start: none
    return truncate(b, alloc);
  };
}

function readTrackInformation(state: Drive) {
  return (ctx: CommandContext): Buffer => {
    const cdb = ctx.cdb;
    const disc = need(state);
    checkReserved(cdb, 1, 0xf8); // bit 2 OPEN: only defined for writable media; 0 or 1 both answer the track
    const type = cdb[1]! & 0x03;
    const value = u32(cdb, 2);
    const alloc = u16(cdb, 7);
    switch (type) {
      case 0: // LBA: the track containing it
        if (value >= disc.blocks) throw lbaOutOfRange(BigInt(value));
        break;
      case 1: // track number: track 1 only (0 is the lead-in, FFh the invisible track: none)
        if (value !== 1) throw invalidCdbField(2);
        break;
      case 2: // session number
        if (value !== 1) throw invalidCdbField(2);
        break;
      default:
        throw invalidCdbField(1, 1);
    }
    const b = Buffer.alloc(48);
    b.writeUInt16BE(46, 0);
    b[2] = 1; // track number (LSB)
    b[3] = 1; // session number (LSB)
    b[5] = 0x04; // track mode: data, uninterrupted
    b[6] = 0x01; // data mode 1; not blank, no packet
    b.writeUInt32BE(0, 8); // track start address
    b.writeUInt32BE(disc.isDvd ? 16 : 0, 20); // fixed packet size / blocking factor
    b.writeUInt32BE(disc.blocks, 24); // track size
    b.writeUInt32BE(disc.blocks - 1, 28); // last recorded address
    return truncate(b, alloc);
  };
}

// ------------------------------------------------------------------------ the table

export function discInfoCommands(state: Drive): CommandEntry[] {
  return [
    { opcode: 0x43, name: 'READ TOC/PMA/ATIP', usage: usage(0x43, 0x02, 0x0f, 0, 0, 0, 0xff, 0xff, 0xff, 0xc7), run: readToc(state), medium: true },
    { opcode: 0x51, name: 'READ DISC INFORMATION', usage: usage(0x51, 0x07, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07), run: readDiscInformation(state), medium: true },
    { opcode: 0x52, name: 'READ TRACK INFORMATION', usage: usage(0x52, 0x07, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x07), run: readTrackInformation(state), medium: true },
  ];
}
