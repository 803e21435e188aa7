// APTPL persistence: registrations and the persistent reservation in "<image>.pr.json", written
// crash-safely (temp file, fsync, rename, fsync of the directory) with node:fs/promises.
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ReservationSnapshot } from './state.ts';

/** The reservation file that goes with a backing image. */
export function reservationFileFor(image: string): string {
  return `${image}.pr.json`;
}

async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // some filesystems refuse fsync on directories; the rename is still atomic
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Writes snapshots one after another; the latest call wins. */
export class ReservationFile {
  readonly path: string;
  private chain: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  /** Reads a saved snapshot; undefined when there is none. Throws on unreadable or malformed files. */
  async load(): Promise<ReservationSnapshot | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return JSON.parse(text) as ReservationSnapshot;
  }

  /** Saves a snapshot (undefined: removes the file, APTPL turned off). Resolves when durable. */
  save(snapshot: ReservationSnapshot | undefined): Promise<void> {
    const run = this.chain.then(() => (snapshot ? this.write(snapshot) : this.remove()));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(snapshot: ReservationSnapshot): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(snapshot, null, 1)}\n`, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    await fsyncDir(dirname(this.path));
  }

  private async remove(): Promise<void> {
    try {
      await unlink(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    await fsyncDir(dirname(this.path));
  }
}
