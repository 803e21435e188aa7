// Linux UIO devices (/dev/uioN): discovery through /sys/class/uio, the 4-byte event read and
// the 4-byte irqcontrol write, and uv_poll watching. UIO read()/write() must be exactly 4 bytes.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { O_NONBLOCK, O_RDWR, ReadableWatch, close, open, read, write } from './libc.ts';
import { Mapping } from './mmap.ts';

export interface UioInfo {
  /** N of uioN. */
  readonly index: number;
  /** /dev/uioN */
  readonly devPath: string;
  /** sysfs name, without the newline. */
  readonly name: string;
  /** maps/map0/size (hex text in sysfs). */
  readonly map0Size: number;
}

const SYS_UIO = '/sys/class/uio';

/** Every UIO device present, in index order. */
export function listUio(): UioInfo[] {
  if (!existsSync(SYS_UIO)) return [];
  const out: UioInfo[] = [];
  for (const d of readdirSync(SYS_UIO)) {
    const m = /^uio(\d+)$/.exec(d);
    if (!m) continue;
    try {
      const name = readFileSync(`${SYS_UIO}/${d}/name`, 'utf8').replace(/\n$/, '');
      const sizeText = existsSync(`${SYS_UIO}/${d}/maps/map0/size`) ? readFileSync(`${SYS_UIO}/${d}/maps/map0/size`, 'utf8').trim() : '0';
      out.push({ index: Number(m[1]), devPath: `/dev/${d}`, name, map0Size: Number(sizeText) });
    } catch {
      // the device went away while we looked
    }
  }
  return out.sort((a, b) => a.index - b.index);
}

/** An open /dev/uioN (non-blocking) with its map0 mapped. */
export class UioDevice {
  readonly info: UioInfo;
  readonly map: Mapping;
  #fd: number;
  readonly #watch = new ReadableWatch();
  readonly #word = new Uint8Array(4);

  private constructor(info: UioInfo, fd: number, map: Mapping) {
    this.info = info;
    this.#fd = fd;
    this.map = map;
  }

  /** open O_RDWR|O_NONBLOCK (TCMU allows one opener: EBUSY otherwise) and mmap map0. */
  static open(info: UioInfo): UioDevice {
    if (!(info.map0Size > 0)) throw new Error(`${info.devPath}: map0 size unknown`);
    const fd = open(info.devPath, O_RDWR | O_NONBLOCK);
    try {
      return new UioDevice(info, fd, Mapping.shared(fd, info.map0Size, 0));
    } catch (e) {
      close(fd);
      throw e;
    }
  }

  get fd(): number {
    return this.#fd;
  }

  /** Consume the event counter (4-byte read). Returns the count, or -1 when none was pending. */
  readEvent(): number {
    const n = read(this.#fd, this.#word, 4);
    if (n < 0) return -1;
    if (n !== 4) throw new Error(`${this.info.devPath}: short event read (${n} bytes)`);
    return new DataView(this.#word.buffer).getUint32(0, true);
  }

  /** Tell the kernel to look at the ring (4-byte write; the value is ignored). */
  notify(): void {
    this.#word.fill(0);
    const n = write(this.#fd, this.#word, 4);
    if (n !== 4) throw new Error(`${this.info.devPath}: irqcontrol write returned ${n}`);
  }

  /** Start watching for events; cb runs on the event loop (level-triggered: call readEvent). */
  watch(cb: (status: number) => void): void {
    this.#watch.start(this.#fd, this.info.devPath, cb);
  }

  unwatch(): void {
    this.#watch.stop();
  }

  /** Stop watching, unmap (dropping the view), close. Idempotent. */
  close(): void {
    this.unwatch();
    this.map.unmap();
    if (this.#fd >= 0) {
      const fd = this.#fd;
      this.#fd = -1;
      close(fd);
    }
  }
}
