// A read-only disc backed by an ISO image: 2048-byte logical blocks, any size (positions are
// JavaScript numbers, exact up to 2^53 bytes, so DVD images above 4 GiB are plain reads). The
// profile follows the size, as QEMU does: up to 80 minutes of CD (360000 blocks, ~703 MiB) is a
// CD-ROM (0008h), anything larger a DVD-ROM (0010h). A last partial block reads as zero-padded.
import { open, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { errnoText } from '../../backing/errno.ts';

export const BLOCK = 2048;
/** 80 minutes x 60 s x 75 frames: the largest CD-ROM. */
export const CD_MAX_BLOCKS = 80 * 60 * 75;

export const Profile = { NONE: 0x0000, CD_ROM: 0x0008, DVD_ROM: 0x0010 } as const;
export type ProfileNumber = (typeof Profile)[keyof typeof Profile];

export class IsoDisc {
  readonly path: string;
  readonly size: number;
  readonly blocks: number;
  readonly profile: ProfileNumber;
  /** Changes with the image (path and size), for logs and the control channel. */
  readonly id: string;
  private fh: FileHandle | undefined;

  private constructor(path: string, fh: FileHandle, size: number, profile?: ProfileNumber) {
    this.path = path;
    this.fh = fh;
    this.size = size;
    this.blocks = Math.ceil(size / BLOCK);
    this.profile = profile ?? (this.blocks <= CD_MAX_BLOCKS ? Profile.CD_ROM : Profile.DVD_ROM);
    this.id = createHash('sha256').update(`${path}\0${size}`).digest('hex').slice(0, 12);
  }

  /** Opens an ISO image read-only; rejects with a message naming the file. `profile` forces CD or DVD. */
  static async open(path: string, profile?: 'cd' | 'dvd'): Promise<IsoDisc> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new Error(`cannot open ISO image ${path}: ${errnoText(e)}`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new Error(`${path} is not a regular file`);
      if (st.size === 0) throw new Error(`${path} is empty (blank discs are not supported)`);
      return new IsoDisc(path, fh, st.size, profile === 'cd' ? Profile.CD_ROM : profile === 'dvd' ? Profile.DVD_ROM : undefined);
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  get isDvd(): boolean {
    return this.profile === Profile.DVD_ROM;
  }

  /** Reads `count` blocks at `lba` (the caller checked the range). */
  async read(lba: number, count: number): Promise<Buffer> {
    const fh = this.fh;
    if (!fh) throw new Error(`${this.path}: disc is closed`);
    const out = Buffer.alloc(count * BLOCK);
    const start = lba * BLOCK;
    const want = Math.max(0, Math.min(out.length, this.size - start));
    let done = 0;
    while (done < want) {
      const { bytesRead } = await fh.read(out, done, want - done, start + done);
      if (bytesRead === 0) break; // the file shrank under us: the rest reads as zeros
      done += bytesRead;
    }
    return out;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}
