// The nullio handler module: disk semantics without backing I/O. Reads return zeros, writes are
// discarded; the size comes from DeviceConfig.sizeBytes, else from the size of DeviceConfig.file
// (the CLI's NAME FILE), else 1 TiB.
import type { DeviceConfig, HandlerModule } from './contract.ts';
import { createDisk } from './disk/create.ts';

const nullio: HandlerModule = {
  description: 'SBC-4 disk with no backing store: reads return zeros, writes are discarded',
  create: (config: DeviceConfig, host) => createDisk({ ...config, nullio: true }, host),
};

export default nullio;
