// The disk handler module (handlers.json "disk"): SBC-4 direct-access device backed by a file.
import type { HandlerModule } from '../contract.ts';
import { createDisk } from './create.ts';

export { createDisk, createDiskUnit, openStore } from './create.ts';
export { DiskDevice } from './device.ts';

const disk: HandlerModule = {
  description: 'SBC-4 direct-access block device backed by a file (fileio)',
  create: createDisk,
};

export default disk;
