// SMC-3 element model shared by every library kind: element types, the address map (mhvtl's
// default layout), what an element holds, and the SMC sense codes.
import { Asc, type AscPair } from '../../scsi/constants.ts';
import type { ChangerDrive } from './medium.ts';

export const ElementType = { ALL: 0, TRANSPORT: 1, STORAGE: 2, IMPORT_EXPORT: 3, DATA_TRANSFER: 4 } as const;
/** First address of each element type: drives from 0001h, transport 02F0h, mail slots 0300h, slots 0400h. */
export const Addresses = { DRIVE: 0x0001, TRANSPORT: 0x02f0, MAIL: 0x0300, SLOT: 0x0400 } as const;

/** SMC-3 / SMC-3 Annex sense codes. */
export const SmcAsc = {
  INVALID_ELEMENT_ADDRESS: Object.freeze({ asc: 0x21, ascq: 0x01 }),
  MEDIUM_DESTINATION_FULL: Object.freeze({ asc: 0x3b, ascq: 0x0d }),
  MEDIUM_SOURCE_EMPTY: Object.freeze({ asc: 0x3b, ascq: 0x0e }),
  MEDIUM_REMOVAL_PREVENTED: Asc.MEDIUM_REMOVAL_PREVENTED,
  MEDIUM_LOAD_OR_EJECT_FAILED: Object.freeze({ asc: 0x53, ascq: 0x00 }),
  MEDIUM_MAGAZINE_REMOVED: Object.freeze({ asc: 0x3b, ascq: 0x12 }),
  NOT_READY_TRAY_OPEN: Object.freeze({ asc: 0x3a, ascq: 0x02 }),
} as const satisfies Record<string, AscPair>;

export interface Element {
  readonly address: number;
  readonly type: number;
  /** Volume tag of the medium in it. */
  tag?: string;
  /** Source storage element address (SVALID). */
  source?: number;
  /** The drive of a data transfer element. */
  drive?: ChangerDrive;
}

/** The elements of a library in address order: drives, the transport, mail slots, slots. */
export function buildElements(drives: readonly ChangerDrive[], mailSlots: number, slots: number): Element[] {
  const out: Element[] = drives.map((drive, i) => ({ address: Addresses.DRIVE + i, type: ElementType.DATA_TRANSFER, drive }));
  out.push({ address: Addresses.TRANSPORT, type: ElementType.TRANSPORT });
  for (let i = 0; i < mailSlots; i++) out.push({ address: Addresses.MAIL + i, type: ElementType.IMPORT_EXPORT });
  for (let i = 0; i < slots; i++) out.push({ address: Addresses.SLOT + i, type: ElementType.STORAGE });
  return out;
}
