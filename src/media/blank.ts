// Blank cartridge files: an empty (0-byte) file holds nothing to lose, so a drive or a library
// that is given one formats it as a blank cartridge on first load instead of refusing it. The
// barcode comes from the file name when that is a valid volume label, the generation from the
// device's option, the label's "Ln" suffix, or the default. Formatting writes a temporary file
// next to it and renames it over the empty one, so a crash leaves either the empty file or a
// whole cartridge.
import { createHash } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Cartridge, type CartridgeHeader } from './cartridge.ts';
import { DEFAULT_GENERATION, densityByGeneration, formatCapacity, type Density } from './density.ts';

/** A volume label as barcode readers print them: letters, digits, '-' and '_', at most 32. */
const LABEL = /^[A-Za-z0-9_-]{1,32}$/;

/** The barcode a blank file gets: its name (without one extension) when that is a valid label. */
export function labelFromFileName(path: string, generation: number): string {
  const name = basename(path);
  const stem = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name;
  if (LABEL.test(name)) return name;
  if (LABEL.test(stem)) return stem;
  // otherwise an LTO-style label that depends on the file name only: FT + 4 hex digits + Ln
  const h = createHash('sha256').update(name).digest('hex').slice(0, 4).toUpperCase();
  return `FT${h}L${generation === 10 ? 'A' : String(generation)}`;
}

/** The generation an LTO label names with its "Ln" suffix (A00001L6 -> 6, ...LA -> 10). */
export function generationFromLabel(label: string): number | undefined {
  const m = /^[A-Z0-9]{6}L([1-9A])$/.exec(label);
  if (!m) return undefined;
  return m[1] === 'A' ? 10 : Number(m[1]);
}

/** Whether the file exists and is empty (0 bytes). */
export async function isBlankFile(path: string): Promise<boolean> {
  const s = await stat(path).catch(() => undefined);
  return !!s && s.isFile() && s.size === 0;
}

export interface BlankFormat {
  header: CartridgeHeader;
  density: Density;
  /** The one line that says what was done. */
  message: string;
}

/**
 * Formats an empty file as a blank cartridge (undefined when the file is not empty). `generation`
 * is the explicit one (device or library option); otherwise the label's, otherwise the default.
 */
export async function formatBlank(path: string, generation?: number): Promise<BlankFormat | undefined> {
  if (!(await isBlankFile(path))) return undefined;
  const label0 = labelFromFileName(path, generation ?? DEFAULT_GENERATION);
  const gen = generation ?? generationFromLabel(label0) ?? DEFAULT_GENERATION;
  const density = densityByGeneration(gen);
  if (!density) throw new Error(`${path}: LTO generation ${gen} is not known`);
  const barcode = label0;
  const tmp = join(dirname(path), `.${basename(path)}.format-${process.pid}`);
  await unlink(tmp).catch(() => undefined);
  const header = await Cartridge.create(tmp, { barcode, capacity: density.capacity, density: density.code });
  // still empty? (another process may have formatted it meanwhile)
  if (!(await isBlankFile(path))) {
    await unlink(tmp).catch(() => undefined);
    return undefined;
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  const message = `${path} was empty: formatted as blank cartridge ${barcode}, LTO-${gen}, ${formatCapacity(density.capacity)}`;
  return { header, density, message };
}

/** The message for a cartridge file that does not exist: the command that makes one. */
export function missingCartridgeMessage(path: string, generation?: number): string {
  const gen = generation ?? DEFAULT_GENERATION;
  const label = labelFromFileName(path, gen);
  return `${path} does not exist; create a cartridge with: fileio_tgt tape create --barcode ${label} --generation ${gen} ${path} (or create an empty file: it is formatted on first load)`;
}
