// APTPL persistence: registrations and the persistent reservation in "<image>.pr.json", written
// crash-safely (temp file, fsync, rename, fsync of the directory: src/backing/durable-json.ts).
import { unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir, readJsonFile, writeJsonFile } from '../../backing/durable-json.ts';
import type { ReservationSnapshot } from './state.ts';

/** The reservation file that goes with a backing image. */
export function reservationFileFor(image: string): string {
  return `${image}.pr.json`;
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
    return (await readJsonFile(this.path)) as ReservationSnapshot | undefined;
  }

  /** Saves a snapshot (undefined: removes the file, APTPL turned off). Resolves when durable. */
  save(snapshot: ReservationSnapshot | undefined): Promise<void> {
    const run = this.chain.then(() => (snapshot ? this.write(snapshot) : this.remove()));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private write(snapshot: ReservationSnapshot): Promise<void> {
    return writeJsonFile(this.path, snapshot, 0o600);
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
