// Library state on disk: which medium (by volume tag) is in which element, and where it came
// from. Saved crash-safely (src/backing/durable-json.ts) after every move and restored at start.
import { readJsonFile, writeJsonFile } from '../../backing/durable-json.ts';

export interface SavedElement {
  /** Volume tag of the medium (the field keeps its version-1 name). */
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
  const doc = (await readJsonFile(path)) as LibraryState | undefined;
  if (doc === undefined) return undefined;
  if (typeof doc !== 'object' || doc === null || doc.version !== 1 || typeof doc.elements !== 'object' || doc.elements === null) {
    throw new Error(`${path}: not a library state file (version 1)`);
  }
  doc.open ??= [];
  return doc;
}

export function saveState(path: string, state: LibraryState): Promise<void> {
  return writeJsonFile(path, state);
}
