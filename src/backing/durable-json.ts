// Small JSON state files (library element map, drive-set LUN numbers, ...) written crash-safely:
// a temp file in the same folder, fsync, rename over the old one, fsync of the folder. A crash
// leaves either the old or the new content, never a torn file.
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The parsed document, or undefined when the file does not exist. Throws on unreadable or bad JSON. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new Error(`${path}: not valid JSON: ${(e as Error).message}`);
  }
}

/** fsync of a folder; some filesystems refuse it, and the rename is atomic anyway. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // not supported here
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Replaces `path` with `value` as JSON; resolves once the new content is durable. */
export async function writeJsonFile(path: string, value: unknown, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(`${JSON.stringify(value, null, 1)}\n`);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}
