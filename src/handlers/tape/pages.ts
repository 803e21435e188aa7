// Tape mode pages (SSC-4 §8.3), log pages (SSC-4 §8.2: 0Ch, 2Eh TapeAlert, 31h tape capacity,
// 02h/03h error counters) and MAM attributes (SPC-4 §7.4) of the tape drive.
import { makePage, type ModePageDef } from '../../scsi/mode-pages.ts';
import { invalidParamField } from '../../scsi/sense.ts';
import { controlExtensionPage, controlPage, informationalExceptionsPage } from '../../scsi/spc-pages.ts';
import { type Attribute, type Cartridge } from '../../media/cartridge.ts';
import type { LogParameter } from '../../scsi/log.ts';
import type { TapeDrive } from './drive.ts';

export const DATA_COMPRESSION_PAGE = 0x0f;
export const DEVICE_CONFIGURATION_PAGE = 0x10;
export const MEDIUM_PARTITION_PAGE = 0x11;
export const MEDIUM_CONFIGURATION_PAGE = 0x1d;

/** Data compression page 0Fh: DCE changeable, DCC = 1 (we deflate blocks), DDE = 1. */
function dataCompressionPage(): ModePageDef {
  const body = Buffer.alloc(14);
  body[0] = 0xc0; // DCE, DCC
  body[1] = 0x80; // DDE
  body.writeUInt32BE(0xff, 2); // COMPRESSION ALGORITHM: unregistered (raw DEFLATE)
  body.writeUInt32BE(0xff, 6); // DECOMPRESSION ALGORITHM
  const defaults = makePage(DATA_COMPRESSION_PAGE, 0, body);
  const changeable = Buffer.alloc(defaults.length);
  changeable[2] = 0x80; // DCE
  return { page: DATA_COMPRESSION_PAGE, subpage: 0, defaults, changeable };
}

/** Device configuration page 10h: LOIS (logical object ids), EEG, SEW, REW 0, SWP changeable. */
function deviceConfigurationPage(): ModePageDef {
  const body = Buffer.alloc(14);
  body[6] = 0x40; // byte 8: LOIS = 1
  body[8] = 0x18; // byte 10: EOD DEFINED 000b, EEG = 1, SEW = 1
  body[12] = 0x01; // byte 14: SELECT DATA COMPRESSION ALGORITHM = default algorithm
  const defaults = makePage(DEVICE_CONFIGURATION_PAGE, 0, body);
  const changeable = Buffer.alloc(defaults.length);
  changeable[10] = 0x04; // SWP
  changeable[14] = 0xff; // SELECT DATA COMPRESSION ALGORITHM
  return {
    page: DEVICE_CONFIGURATION_PAGE,
    subpage: 0,
    defaults,
    changeable,
  };
}

/** Medium partition page 11h: one partition, nothing changeable. */
function mediumPartitionPage(): ModePageDef {
  const body = Buffer.alloc(8);
  body[0] = 0; // MAXIMUM ADDITIONAL PARTITIONS
  body[1] = 0; // ADDITIONAL PARTITIONS DEFINED
  body[2] = 0x00; // FDP SDP IDP PSUM POFM CLEAR ADDP: nothing to format
  body[3] = 0x03; // MEDIUM FORMAT RECOGNITION: format and partition recognition
  body[4] = 0x00; // PARTITION UNITS
  const defaults = makePage(MEDIUM_PARTITION_PAGE, 0, body);
  return { page: MEDIUM_PARTITION_PAGE, subpage: 0, defaults, changeable: Buffer.alloc(defaults.length) };
}

export const CONTROL_MODE_PAGE = 0x0a;
export const DATA_PROTECTION_SUBPAGE = 0xf0;
/** LOGICAL BLOCK PROTECTION METHOD values (SSC-4 control data protection mode page): we implement CRC32C. */
export const LbpMethod = { NONE: 0, RS_CRC: 1, CRC32C: 2 } as const;

/**
 * Control data protection page 0Ah/F0h (SSC-4 control data protection mode page): LOGICAL BLOCK PROTECTION METHOD (byte 4),
 * PROTECTION INFORMATION LENGTH (byte 5), LBP_W, LBP_R, RBDP (byte 6).
 */
function controlDataProtectionPage(): ModePageDef {
  const defaults = makePage(CONTROL_MODE_PAGE, DATA_PROTECTION_SUBPAGE, Buffer.alloc(0x1c));
  const changeable = Buffer.alloc(defaults.length);
  changeable[4] = 0xff;
  changeable[5] = 0x3f;
  changeable[6] = 0xe0;
  const validate = (p: Buffer) => {
    const method = p[4]!;
    const len = p[5]! & 0x3f;
    if (method !== LbpMethod.NONE && method !== LbpMethod.CRC32C) throw invalidParamField(4); // Reed-Solomon CRC not implemented
    if (method === LbpMethod.CRC32C && len !== 4) throw invalidParamField(5);
    if (method === LbpMethod.NONE && len !== 0) throw invalidParamField(5);
    if (method === LbpMethod.NONE && p[6]! & 0xe0) throw invalidParamField(6, 7);
  };
  return { page: CONTROL_MODE_PAGE, subpage: DATA_PROTECTION_SUBPAGE, defaults, changeable, validate };
}

/** Medium configuration page 1Dh: WORMM reflects the mounted cartridge (set by the drive). */
function mediumConfigurationPage(): ModePageDef {
  const body = Buffer.alloc(0x1e);
  const defaults = makePage(MEDIUM_CONFIGURATION_PAGE, 0, body);
  return { page: MEDIUM_CONFIGURATION_PAGE, subpage: 0, defaults, changeable: Buffer.alloc(defaults.length) };
}

export function tapeModePages(): ModePageDef[] {
  return [controlPage(), controlExtensionPage(), controlDataProtectionPage(), dataCompressionPage(), deviceConfigurationPage(), mediumPartitionPage(), informationalExceptionsPage(), mediumConfigurationPage()];
}

// ---- log pages ------------------------------------------------------------------------------

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(n))));
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.floor(n))));
  return b;
}
const MiB = 1 << 20;

/** Log pages of the drive: page code -> parameters (in code order). */
export function tapeLogPages(drive: TapeDrive): Map<number, () => LogParameter[]> {
  const counters = (errors: () => number, bytes: () => number) => () => [
    { code: 0x0000, control: 0x02, value: u32(0) }, // errors corrected without substantial delay
    { code: 0x0001, control: 0x02, value: u32(0) },
    { code: 0x0002, control: 0x02, value: u32(0) },
    { code: 0x0003, control: 0x02, value: u32(0) },
    { code: 0x0004, control: 0x02, value: u32(0) },
    { code: 0x0005, control: 0x02, value: u64(bytes()) }, // total bytes processed
    { code: 0x0006, control: 0x02, value: u32(errors()) }, // total uncorrected errors
  ];
  return new Map<number, () => LogParameter[]>([
    [0x02, counters(() => drive.counters.writeErrors, () => drive.counters.bytesFromInitiator)],
    [0x03, counters(() => drive.counters.readErrors, () => drive.counters.bytesToInitiator)],
    [
      0x0c,
      () => [
        { code: 0x0000, control: 0x02, value: u64(drive.counters.bytesFromInitiator) },
        { code: 0x0001, control: 0x02, value: u64(drive.cart?.stats.storedWritten ?? 0) },
        { code: 0x0002, control: 0x02, value: u64(drive.cart?.stats.bytesRead ?? 0) },
        { code: 0x0003, control: 0x02, value: u64(drive.counters.bytesToInitiator) },
        { code: 0x0100, control: 0x02, value: u64(0) }, // cleaning required: no
      ],
    ],
    [
      0x2e,
      () => {
        const out: LogParameter[] = [];
        for (let f = 1; f <= 64; f++) out.push({ code: f, control: 0x03, value: Buffer.from([drive.tapeAlert.has(f) ? 1 : 0]) });
        return out;
      },
    ],
    [
      0x31,
      () => {
        const c = drive.cart;
        return [
          { code: 0x0001, control: 0x02, value: u32(c ? c.remaining / MiB : 0) }, // main partition remaining (MiB)
          { code: 0x0002, control: 0x02, value: u32(0) },
          { code: 0x0003, control: 0x02, value: u32(c ? c.capacity / MiB : 0) }, // main partition maximum
          { code: 0x0004, control: 0x02, value: u32(0) },
        ];
      },
    ],
  ]);
}

// ---- MAM attributes ---------------------------------------------------------------------------

export const AttrFormat = { BINARY: 0, ASCII: 1, TEXT: 2 } as const;

interface AttrDef {
  readonly id: number;
  readonly format: number;
  /** Fixed length, or maximum for variable ones. */
  readonly length: number;
  readonly variable?: boolean;
  readonly readOnly: boolean;
  /** Computed from the cartridge (device/medium attributes). */
  readonly value?: (c: Cartridge, d: TapeDrive) => Buffer;
}

function ascii(s: string, n: number): Buffer {
  return Buffer.from(s.slice(0, n).padEnd(n, ' '), 'latin1');
}
function bin(n: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  b.writeUIntBE(Math.max(0, Math.min(n, 2 ** (8 * Math.min(len, 6)) - 1)), len - Math.min(len, 6), Math.min(len, 6));
  return b;
}

export const ATTRIBUTES: readonly AttrDef[] = [
  { id: 0x0000, format: 0, length: 8, readOnly: true, value: (c) => bin(Math.floor(c.remaining / MiB), 8) }, // REMAINING CAPACITY IN PARTITION (MiB)
  { id: 0x0001, format: 0, length: 8, readOnly: true, value: (c) => bin(Math.floor(c.capacity / MiB), 8) }, // MAXIMUM CAPACITY IN PARTITION
  { id: 0x0003, format: 0, length: 8, readOnly: true, value: (c) => bin(c.header.loadCount, 8) }, // LOAD COUNT
  { id: 0x0004, format: 0, length: 8, readOnly: true, value: (c) => bin(16384 - [...c.header.attributes.values()].reduce((s, a) => s + 5 + a.value.length, 0), 8) }, // MAM SPACE REMAINING
  { id: 0x0008, format: 0, length: 1, readOnly: true, value: (c) => bin(c.header.density, 1) }, // FORMAT DENSITY CODE
  { id: 0x0400, format: 1, length: 8, readOnly: true, value: (c) => ascii(c.header.manufacturer, 8) }, // MEDIUM MANUFACTURER
  { id: 0x0401, format: 1, length: 32, readOnly: true, value: (c) => ascii(c.header.serial, 32) }, // MEDIUM SERIAL NUMBER
  { id: 0x0405, format: 0, length: 1, readOnly: true, value: (c) => bin(c.header.density, 1) }, // MEDIUM DENSITY CODE
  { id: 0x0406, format: 1, length: 8, readOnly: true, value: (c) => ascii(new Date(c.header.createdAt).toISOString().slice(0, 10).replaceAll('-', ''), 8) }, // MEDIUM MANUFACTURE DATE
  { id: 0x0408, format: 0, length: 1, readOnly: true, value: (c) => bin(c.cleaning ? 0x01 : c.worm ? 0x80 : 0x00, 1) }, // MEDIUM TYPE
  { id: 0x0800, format: 1, length: 8, readOnly: false }, // APPLICATION VENDOR
  { id: 0x0801, format: 1, length: 32, readOnly: false }, // APPLICATION NAME
  { id: 0x0802, format: 1, length: 8, readOnly: false }, // APPLICATION VERSION
  { id: 0x0803, format: 2, length: 160, readOnly: false }, // USER MEDIUM TEXT LABEL
  { id: 0x0804, format: 1, length: 12, readOnly: false }, // DATE AND TIME LAST WRITTEN
  { id: 0x0805, format: 0, length: 1, readOnly: false }, // TEXT LOCALIZATION IDENTIFIER
  { id: 0x0806, format: 1, length: 32, readOnly: false }, // BARCODE
  { id: 0x0807, format: 2, length: 80, readOnly: false }, // OWNING HOST TEXTUAL NAME
  { id: 0x0808, format: 2, length: 160, readOnly: false }, // MEDIA POOL
  { id: 0x080b, format: 1, length: 16, readOnly: false }, // APPLICATION FORMAT VERSION
  { id: 0x080c, format: 0, length: 70, variable: true, readOnly: false }, // VOLUME COHERENCY INFORMATION
  { id: 0x0820, format: 0, length: 36, readOnly: false }, // MEDIUM GLOBALLY UNIQUE IDENTIFIER
  { id: 0x0821, format: 0, length: 36, readOnly: false }, // MEDIA POOL GLOBALLY UNIQUE IDENTIFIER
];

export function attributeDef(id: number): AttrDef | undefined {
  return ATTRIBUTES.find((a) => a.id === id);
}

/** The attributes present on a cartridge, in id order: computed ones and stored host ones. */
export function presentAttributes(c: Cartridge, d: TapeDrive): Array<{ id: number; format: number; readOnly: boolean; value: Buffer }> {
  const out: Array<{ id: number; format: number; readOnly: boolean; value: Buffer }> = [];
  for (const a of ATTRIBUTES) {
    if (a.value) out.push({ id: a.id, format: a.format, readOnly: true, value: a.value(c, d) });
    else {
      const s: Attribute | undefined = c.header.attributes.get(a.id);
      if (s) out.push({ id: a.id, format: s.format, readOnly: false, value: s.value });
    }
  }
  // vendor-specific host attributes (1400h-17FFh) stored as written
  for (const [id, s] of [...c.header.attributes].sort((x, y) => x[0] - y[0])) {
    if (id >= 0x1400 && id <= 0x17ff) out.push({ id, format: s.format, readOnly: false, value: s.value });
  }
  return out.sort((x, y) => x.id - y.id);
}
