// Optical media for the changer (a jukebox): the disc images of a folder, named by a volume tag
// derived from the file name, and cdrom drives of this process (src/handlers/cdrom).
//
// Volume tags (SMC-3 volume tag information): at most 32 bytes, left-aligned and padded with
// spaces, printable ASCII without embedded spaces and without "*" and "?" (the wildcards of SEND
// VOLUME TAG templates). The tag is the file name without .iso/.img when that already fits;
// otherwise the cleaned name cut to 27 characters plus "~" and 4 hex digits of a hash of the full
// name, so a tag depends on its own file name only, never on what else is in the folder.
import { createHash } from 'node:crypto';
import type { LogicalUnit } from '../../scsi/command.ts';
import { CdromLogicalUnit } from '../cdrom/create.ts';
import { isImageName } from '../cdrom/image-folder.ts';
import { dvcidOf, type ChangerDrive, type MediaCatalog } from './medium.ts';

export const VOLUME_TAG_LENGTH = 32;

/** The volume tag of the image file `fileName`. */
export function volumeTagFor(fileName: string): string {
  const base = fileName.replace(/\.(iso|img)$/i, '');
  const clean = [...base].map((c) => (c > ' ' && c <= '~' && c !== '*' && c !== '?' ? c : '_')).join('');
  if (clean === base && clean.length > 0 && clean.length <= VOLUME_TAG_LENGTH) return clean;
  const hash = createHash('sha256').update(fileName).digest('hex').slice(0, 4).toUpperCase();
  return `${clean.slice(0, VOLUME_TAG_LENGTH - 5)}~${hash}`;
}

export const discCatalog: MediaCatalog = {
  noun: 'disc',
  async tagOf(_path, name) {
    return isImageName(name) ? volumeTagFor(name) : undefined;
  },
};

/**
 * The cdrom drive `name` (declared before the changer) as a data transfer element. The drive is
 * held by the changer from then on: discs come and go by MOVE MEDIUM, not by `fileio_tgt media`.
 * Unloading takes the disc out and closes the empty tray, as a robot does.
 */
export function opticalChangerDrive(changer: string, name: string, unit: LogicalUnit | undefined): ChangerDrive {
  if (!(unit instanceof CdromLogicalUnit)) throw new Error(`device ${changer}: drive "${name}" is not a cdrom device of this process (declare drives before the changer)`);
  const lu = unit;
  lu.heldBy = changer;
  return {
    name,
    identity: dvcidOf(lu.spec.identity),
    get prevented() {
      return lu.drive.prevented;
    },
    load: async (path) => {
      await lu.changerMedia({ action: 'load', file: path });
    },
    unload: async () => {
      await lu.changerMedia({ action: 'eject' });
      await lu.changerMedia({ action: 'load' });
    },
    bind: () => undefined,
  };
}
