// LTO generations: density codes (SSC-4 Annex / T10 density code assignments as LTO drives report
// them), native capacities, and the numbers REPORT DENSITY SUPPORT shows. Capacities are decimal
// (vendor) bytes; tracks and bits per mm are the LTO Program's published figures.

export interface Density {
  readonly generation: number;
  readonly code: number;
  /** Native (uncompressed) capacity in bytes. */
  readonly capacity: number;
  readonly tracks: number;
  readonly bitsPerMm: number;
  readonly name: string;
  readonly description: string;
}

const TB = 1e12;
const GB = 1e9;

export const LTO: readonly Density[] = [
  { generation: 1, code: 0x40, capacity: 100 * GB, tracks: 384, bitsPerMm: 4880, name: 'U-18', description: 'Ultrium 1/8T' },
  { generation: 2, code: 0x42, capacity: 200 * GB, tracks: 512, bitsPerMm: 7398, name: 'U-28', description: 'Ultrium 2/8T' },
  { generation: 3, code: 0x44, capacity: 400 * GB, tracks: 704, bitsPerMm: 9638, name: 'U-316', description: 'Ultrium 3/16T' },
  { generation: 4, code: 0x46, capacity: 800 * GB, tracks: 896, bitsPerMm: 13250, name: 'U-416', description: 'Ultrium 4/16T' },
  { generation: 5, code: 0x58, capacity: 1.5 * TB, tracks: 1280, bitsPerMm: 15142, name: 'U-516', description: 'Ultrium 5/16T' },
  { generation: 6, code: 0x5a, capacity: 2.5 * TB, tracks: 2176, bitsPerMm: 15143, name: 'U-616', description: 'Ultrium 6/16T' },
  { generation: 7, code: 0x5c, capacity: 6 * TB, tracks: 3584, bitsPerMm: 19094, name: 'U-732', description: 'Ultrium 7/32T' },
  { generation: 8, code: 0x5e, capacity: 12 * TB, tracks: 6656, bitsPerMm: 20668, name: 'U-832', description: 'Ultrium 8/32T' },
  { generation: 9, code: 0x60, capacity: 18 * TB, tracks: 8960, bitsPerMm: 20668, name: 'U-932', description: 'Ultrium 9/32T' },
];

/** The generation of blank cartridges and drives when no option names one. */
export const DEFAULT_GENERATION = 9;

export function densityByCode(code: number): Density | undefined {
  return LTO.find((d) => d.code === code);
}

export function densityByGeneration(gen: number): Density | undefined {
  return LTO.find((d) => d.generation === gen);
}

/** The smallest generation whose native capacity holds `bytes` (LTO-9 for anything larger). */
export function densityForCapacity(bytes: number): Density {
  return LTO.find((d) => d.capacity >= bytes) ?? LTO[LTO.length - 1]!;
}

/** Parses sizes like 2.5T, 800G, 1.5TB, 64M, 4096 (decimal units, as tape vendors count). */
export function parseTapeSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?)B?$/i.exec(text.trim());
  if (!m) return undefined;
  const exp = { '': 0, K: 1, M: 2, G: 3, T: 4, P: 5 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T' | 'P'];
  const base = m[3] ? 1024 : 1000;
  const n = Math.round(Number(m[1]) * base ** exp);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** 18 TB, 2.5 TB, 256 MB: decimal units, as tape vendors count. */
export function formatCapacity(bytes: number): string {
  for (const [unit, n] of [['TB', 1e12], ['GB', 1e9], ['MB', 1e6]] as const) {
    if (bytes >= n) return `${Number((bytes / n).toFixed(2))} ${unit}`;
  }
  return `${bytes} bytes`;
}

/**
 * What an LTO drive of generation `drive` can do with a cartridge of generation `medium`, as the
 * LTO Program specifies it: up to LTO-7 a drive writes its own and the previous generation and
 * reads two back; LTO-8 reads and writes LTO-7 and LTO-8 only; LTO-9 reads and writes LTO-8 and
 * LTO-9 only.
 */
export function compatibility(drive: number, medium: number): 'read-write' | 'read-only' | 'none' {
  if (medium > drive) return 'none';
  if (drive >= 8) return drive - medium <= 1 ? 'read-write' : 'none';
  if (drive - medium <= 1) return 'read-write';
  return drive - medium === 2 ? 'read-only' : 'none';
}
