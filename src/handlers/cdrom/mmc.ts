// The MMC-6 command set of a read-only CD/DVD drive over an ISO image: one small function per
// command, composed after the SPC table by the LU core. Layouts follow MMC-6 (T10/1836-D); where a
// choice was made it is said next to the code.
//
// The table is split by area, each file a small table of opcode → function, composed here:
//   mmc-drive.ts          shared: Drive, MmcAsc, READ_SPEED_KBS, notReady
//   mmc-config-events.ts  GET CONFIGURATION, GET EVENT STATUS NOTIFICATION
//   mmc-disc-info.ts      READ TOC/PMA/ATIP, READ DISC / TRACK INFORMATION
//   mmc-reads.ts          capacity, reads, SEEK, SYNCHRONIZE CACHE, READ DVD STRUCTURE
//   mmc-mechanism.ts      MECHANISM STATUS, speeds, REPORT KEY, START STOP, PREVENT ALLOW
//   mmc-mode-pages.ts     mode pages 01h, 0Dh, 0Eh, 2Ah
import type { CommandEntry } from '../../scsi/table.ts';
import { configurationEventCommands } from './mmc-config-events.ts';
import { discInfoCommands } from './mmc-disc-info.ts';
import type { Drive } from './mmc-drive.ts';
import { mechanismCommands } from './mmc-mechanism.ts';
import { readCommands } from './mmc-reads.ts';

export { MmcAsc, READ_SPEED_KBS, notReady, type Drive } from './mmc-drive.ts';
export { features } from './mmc-config-events.ts';
export { msf } from './mmc-disc-info.ts';
export { capabilitiesPage, cdromModePages } from './mmc-mode-pages.ts';

// ------------------------------------------------------------------------ the table

export function mmcCommands(state: Drive, o: { serial: string }): CommandEntry[] {
  // The LU core keys the entries by opcode / service action, so the order of the areas is free.
  return [...configurationEventCommands(state, o), ...discInfoCommands(state), ...readCommands(state), ...mechanismCommands(state)];
}
