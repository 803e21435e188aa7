// What the medium-neutral changer needs from a kind of medium (tape cartridges, optical discs):
// a catalog that names the media of a folder by volume tag, and drives it can load and unload.
// One adapter per kind implements both (tape-adapter.ts, optical-adapter.ts).
import type { LuIdentity } from '../../scsi/inquiry.ts';
import { asciiField } from '../../scsi/inquiry.ts';

/** A data transfer element's drive as the changer drives it. */
export interface ChangerDrive {
  /** Device name of the drive LU. */
  readonly name: string;
  /** DVCID identifier (T10 vendor identification: vendor, product, serial). */
  readonly identity: Buffer;
  /** An initiator of the drive prevents medium removal: moving the medium out is refused. */
  readonly prevented: boolean;
  /** Loads the medium file into the (empty) drive; rejects when the drive cannot take it. */
  load(path: string): Promise<void>;
  /** Takes the medium out; the drive is empty afterwards. */
  unload(): Promise<void>;
  /** Told the drive's element address once the element map is built. */
  bind(address: number): void;
}

/** The media of a folder, named by volume tag. */
export interface MediaCatalog {
  /** "cartridge", "disc": for messages and the status line. */
  readonly noun: string;
  /** The volume tag of a folder entry (a regular file, not a dotfile); undefined: not a medium of this kind. */
  tagOf(path: string, name: string): Promise<string | undefined>;
}

/** DVCID identifier of a drive: T10 vendor identification = vendor(8) product(16) serial(last 10). */
export function dvcidOf(id: LuIdentity): Buffer {
  return Buffer.concat([asciiField(id.vendor, 8), asciiField(id.product, 16), asciiField(id.serial.slice(-10), 10)]);
}
