// What every MMC command of the CD/DVD drive shares (part of the table in mmc.ts): the drive
// type, the MMC-specific sense codes, the nominal speed and the NOT READY check.
import { SenseKey, type AscPair } from '../../scsi/constants.ts';
import { CheckCondition } from '../../scsi/sense.ts';
import type { IsoDisc } from './disc.ts';
import type { DriveState } from './state.ts';

const p = (asc: number, ascq: number): AscPair => Object.freeze({ asc, ascq });
export const MmcAsc = {
  MEDIUM_NOT_PRESENT_TRAY_CLOSED: p(0x3a, 0x01),
  MEDIUM_NOT_PRESENT_TRAY_OPEN: p(0x3a, 0x02),
  CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT: p(0x30, 0x02),
  CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT: p(0x30, 0x05),
  ILLEGAL_MODE_FOR_THIS_TRACK: p(0x64, 0x00),
} as const;

/** Nominal reading speed reported everywhere (page 2Ah, GET PERFORMANCE): 48x CD in kB/s (1x = 176.4 kB/s). */
export const READ_SPEED_KBS = 8467;

export type Drive = DriveState<IsoDisc>;

/** NOT READY with the tray state, for commands that need the disc. */
export function notReady(state: Drive): CheckCondition {
  return new CheckCondition(SenseKey.NOT_READY, state.tray === 'open' ? MmcAsc.MEDIUM_NOT_PRESENT_TRAY_OPEN : MmcAsc.MEDIUM_NOT_PRESENT_TRAY_CLOSED);
}

/** The disc in the drive, or NOT READY. */
export function need(state: Drive): IsoDisc {
  const d = state.medium;
  if (!d) throw notReady(state);
  return d;
}
