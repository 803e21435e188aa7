// An open /dev/scst_user (one fd = one SCST virtual device once REGISTER_DEVICE succeeds),
// opened O_NONBLOCK so that every ioctl returns at once (EAGAIN when the kernel has nothing) and
// watched with uv_poll on the event loop. Arguments are native addresses (stable memory from
// Mapping), never JS buffers. This is the production side of the scst_user link's port; the
// unit tests plug an in-process model of the kernel in at the same place.
import { O_NONBLOCK, O_RDWR, ReadableWatch, close, ioctlErrno, open } from './libc.ts';
import { SCST_USER_DEVICE } from './scst-user/constants.ts';

export class ScstUserFd {
  readonly path: string;
  #fd: number;
  readonly #watch = new ReadableWatch();

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** open(path, O_RDWR|O_NONBLOCK): the non-blocking mode is latched at REGISTER_DEVICE. */
  static open(path: string = SCST_USER_DEVICE): ScstUserFd {
    return new ScstUserFd(path, open(path, O_RDWR | O_NONBLOCK));
  }

  /** ioctl(fd, request, arg): the non-negative result, or -errno (-EBADF once closed). */
  ioctl(request: number, arg: bigint): number {
    if (this.#fd < 0) return -9; // EBADF
    return ioctlErrno(this.#fd, request, arg);
  }

  /** Calls cb on the event loop while the fd is readable (level-triggered); status < 0: poll failed. */
  watch(cb: (status: number) => void): void {
    this.#watch.start(this.#fd, this.path, cb);
  }

  unwatch(): void {
    this.#watch.stop();
  }

  /** Stop watching and close: the kernel unregisters the device and drops its LUN mappings. Idempotent. */
  close(): void {
    this.unwatch();
    if (this.#fd >= 0) {
      const fd = this.#fd;
      this.#fd = -1;
      close(fd);
    }
  }
}
