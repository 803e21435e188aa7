// Tape media for the changer: cartridge files in our format (src/media), named by the barcode in
// their header, and the tape drives of this process (src/handlers/tape, found by device name).
import { Cartridge } from '../../media/cartridge.ts';
import { formatBlank } from '../../media/blank.ts';
import type { LuLogger } from '../../scsi/logical-unit.ts';
import { tapeDrives } from '../tape/index.ts';
import { dvcidOf, type ChangerDrive, type MediaCatalog } from './medium.ts';

export const cartridgeCatalog: MediaCatalog = {
  noun: 'cartridge',
  async tagOf(path) {
    return (await Cartridge.peek(path))?.barcode;
  },
};

/** The catalog of a library: as cartridgeCatalog, and an empty file is formatted as a blank cartridge first. */
export function blankFormattingCatalog(generation: number | undefined, log: LuLogger): MediaCatalog {
  return {
    noun: 'cartridge',
    async tagOf(path) {
      try {
        const blank = await formatBlank(path, generation);
        if (blank) log('info', blank.message);
      } catch (e) {
        log('error', `${path}: cannot format the empty file: ${(e as Error).message}`);
      }
      return (await Cartridge.peek(path))?.barcode;
    },
  };
}

/** The tape drive `name` (declared before the changer) as a data transfer element. */
export function tapeChangerDrive(changer: string, name: string): ChangerDrive {
  const d = tapeDrives.get(name);
  if (!d) throw new Error(`device ${changer}: drive "${name}" is not a tape device of this process (declare drives before the changer)`);
  const unit = d.drive;
  return {
    name,
    identity: dvcidOf(d.lu.spec.identity),
    get prevented() {
      return unit.prevented;
    },
    load: (path) => unit.insert(path),
    unload: async () => {
      await unit.remove();
    },
    bind: (address) => {
      unit.element = address;
    },
  };
}
