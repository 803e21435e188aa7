// The cdrom handler module (handlers.json "cdrom"): an MMC-6 CD/DVD-ROM drive over ISO images,
// with media load/eject/swap at run time (host control channel) and from initiators.
import type { HandlerModule } from '../contract.ts';
import { createCdrom } from './create.ts';

export { createCdrom, createCdromUnit, CdromLogicalUnit, isMediaChanger, isEmptyDriveFile, type MediaChanger, type MediaRequest } from './create.ts';
export { IsoDisc } from './disc.ts';

const cdrom: HandlerModule = {
  description: 'MMC-6 CD/DVD-ROM drive backed by ISO images (removable; media change at run time)',
  create: createCdrom,
};

export default cdrom;
