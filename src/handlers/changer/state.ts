// Library state on disk: which cartridge (by barcode) is in which element, and where it came
// from. Saved crash-safely: write a temp file, fsync it, rename over the old one, fsync the folder.
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface SavedElement {
  barcode: string;
  /** Source storage element address (SVALID). */
  source?: number;
}

export interface LibraryState {
  version: 1;
  /** element address (decimal string) -> occupant */
  elements: Record<string, SavedElement>;
  /** Import/export elements whose operator door is open. */
  open: number[];
}

export async function loadState(path: string): Promise<LibraryState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const doc = JSON.parse(text) as LibraryState;
  if (doc.version !== 1 || typeof doc.elements !== 'object' || doc.elements === null) throw new Error(`${path}: not a library state file (version 1)`);
  doc.open ??= [];
  return doc;
}

export async function saveState(path: string, state: LibraryState): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(`${JSON.stringify(state, null, 1)}\n`);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
