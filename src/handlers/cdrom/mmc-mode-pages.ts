// Mode pages of the CD/DVD drive (used with the MMC table in mmc.ts): 01h, 0Dh, 0Eh and 2Ah.
import { makePage, type ModePageDef } from '../../scsi/mode-pages.ts';
import { READ_SPEED_KBS } from './mmc-drive.ts';

/** Page 2Ah MM capabilities and mechanical status (30 bytes, MMC-3 layout without write speed tables). */
export function capabilitiesPage(locked: boolean): Buffer {
  const b = Buffer.alloc(28);
  b[0] = 0x3b; // reads CD-R, CD-RW, DVD-ROM, DVD-R, DVD-RAM
  b[1] = 0x00; // writes nothing
  b[2] = 0x40; // multi-session; no audio play, no mode 2 form 1/2 (READ CD serves mode 1 only)
  b[3] = 0x00; // no CD-DA commands, no C2 pointers, no ISRC/UPC/bar code
  b[4] = 0x20 | 0x08 | 0x04 | (locked ? 0x02 : 0) | 0x01; // tray, eject, no prevent jumper, lock state, lock supported
  b[5] = 0x00;
  b.writeUInt16BE(READ_SPEED_KBS, 6); // maximum read speed (obsolete, still read by Linux sr)
  b.writeUInt16BE(256, 8); // volume levels
  b.writeUInt16BE(0, 10); // buffer size
  b.writeUInt16BE(READ_SPEED_KBS, 12); // current read speed (obsolete)
  return makePage(0x2a, 0, b);
}

const none = (page: Buffer) => Buffer.alloc(page.length);

export function cdromModePages(): ModePageDef[] {
  // 01h read/write error recovery (MMC layout, 10 bytes): read retry count 1
  const recovery = makePage(0x01, 0, [0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
  // 0Dh CD device parameters: inactivity timer vendor default, 60 S per M, 75 F per S
  const cdParams = makePage(0x0d, 0, [0, 0, 0, 60, 0, 75]);
  // 0Eh CD audio control: no audio play; ports mapped to channels 0 and 1 at full volume
  const audio = makePage(0x0e, 0, [0x04, 0, 0, 0, 0, 0, 0x01, 0xff, 0x02, 0xff, 0, 0, 0, 0]);
  const caps = capabilitiesPage(false);
  return [recovery, cdParams, audio, caps].map((d) => ({ page: d[0]! & 0x3f, subpage: 0, defaults: d, changeable: none(d) }));
}
