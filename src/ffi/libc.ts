// Thin synchronous libc bindings through koffi (this folder is the only place that imports koffi).
// Never use `.async` with JS memory here (koffi 3.x corrupts the heap when an async call's
// JS-owned buffer moves under it): every call is synchronous, and fds that could block are opened O_NONBLOCK and watched
// with uv_poll (pollFd below).
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');

// open(2) is variadic; the fixed-arity form is ABI-safe for int arguments on x86-64/aarch64.
const c_open = lib.func('int open(const char *path, int flags, int mode)');
const c_close = lib.func('int close(int fd)');
const c_read = lib.func('intptr_t read(int fd, _Out_ void *buf, size_t count)');
const c_write = lib.func('intptr_t write(int fd, const void *buf, size_t count)');
const c_mmap = lib.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
const c_munmap = lib.func('int munmap(void *addr, size_t length)');
const c_ioctl = lib.func('int ioctl(int fd, unsigned long request, void *arg)');
const c_madvise = lib.func('int madvise(void *addr, size_t length, int advice)');
const c_strerror = lib.func('const char *strerror(int errnum)');
const c_fcntl = lib.func('int fcntl(int fd, int cmd, int arg)');
const F_DUPFD_CLOEXEC = 1030;

export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
/** madvise(2): do not share these pages with a forked child (memory the kernel has pinned). */
export const MADV_DONTFORK = 10;
/** (void *)-1 as koffi returns it. */
export const MAP_FAILED = 2n ** 64n - 1n;

export const Errno = koffi.os.errno as Record<string, number>;

/** An Error carrying the errno name and number of a failed libc call. */
export class SysError extends Error {
  override name = 'SysError';
  readonly errno: number;
  readonly code: string;
  constructor(call: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    super(`${call}${detail ? ` ${detail}` : ''}: ${code} (${c_strerror(errno) as string})`);
    this.errno = errno;
    this.code = code;
  }
}

function check(call: string, r: number | bigint, detail?: string): number {
  if (Number(r) < 0) throw new SysError(call, koffi.errno(), detail);
  return Number(r);
}

export function open(path: string, flags: number, mode = 0): number {
  return check('open', c_open(path, flags | O_CLOEXEC, mode) as number, path);
}

export function close(fd: number): void {
  check('close', c_close(fd) as number);
}

/** A second descriptor of the same open file (close-on-exec): it keeps a socket open when the first is closed. */
export function dup(fd: number): number {
  return check('dup', c_fcntl(fd, F_DUPFD_CLOEXEC, 0) as number);
}

/** read(2); returns the byte count, or -1 for EAGAIN (non-blocking fd with nothing to read). */
export function read(fd: number, buf: Uint8Array, count = buf.byteLength): number {
  if (count > buf.byteLength) throw new RangeError('read: count exceeds the buffer');
  const r = Number(c_read(fd, buf, count));
  if (r < 0) {
    const e = koffi.errno();
    if (e === Errno.EAGAIN) return -1;
    throw new SysError('read', e);
  }
  return r;
}

/** write(2); returns the byte count, or -1 for EAGAIN. */
export function write(fd: number, buf: Uint8Array, count = buf.byteLength): number {
  if (count > buf.byteLength) throw new RangeError('write: count exceeds the buffer');
  const r = Number(c_write(fd, buf, count));
  if (r < 0) {
    const e = koffi.errno();
    if (e === Errno.EAGAIN) return -1;
    throw new SysError('write', e);
  }
  return r;
}

/** mmap(2); returns the address as a BigInt. */
export function mmap(length: number, prot: number, flags: number, fd: number, offset = 0): bigint {
  const p = c_mmap(null, length, prot, flags, fd, offset) as bigint | null;
  if (p === null || p === MAP_FAILED) throw new SysError('mmap', koffi.errno(), `of ${length} bytes`);
  return p;
}

export function munmap(addr: bigint, length: number): void {
  check('munmap', c_munmap(addr, length) as number);
}

/** ioctl(2) with one pointer argument (fixed arity; a Buffer, TypedArray or BigInt address). */
export function ioctl(fd: number, request: number, arg: Uint8Array | bigint | null): number {
  return check('ioctl', c_ioctl(fd, request, arg) as number, `0x${request.toString(16)}`);
}

/**
 * ioctl(2) for hot paths where failure is routine (EAGAIN on a non-blocking device): returns the
 * non-negative result, or -errno, without building an Error.
 */
export function ioctlErrno(fd: number, request: number, arg: Uint8Array | bigint | null): number {
  const r = c_ioctl(fd, request, arg) as number;
  return r < 0 ? -koffi.errno() : r;
}

/** The symbolic name of an errno value ("EAGAIN"), or E<number>. */
export function errnoName(errno: number): string {
  return Object.entries(Errno).find(([, n]) => n === errno)?.[0] ?? `E${errno}`;
}

/** mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS): zeroed, page-aligned memory. */
export function mmapAnonymous(length: number): bigint {
  return mmap(length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

export function madvise(addr: bigint, length: number, advice: number): void {
  check('madvise', c_madvise(addr, length, advice) as number);
}

/** An ArrayBuffer aliasing native memory (no copy). Create once per mapping: it is costly. */
export function viewOf(addr: bigint, length: number): ArrayBuffer {
  if (length > 2 ** 32) throw new RangeError(`a ${length}-byte view is beyond koffi's safe limit`);
  return koffi.view(addr, length);
}

export interface PollHandle {
  close(): void;
  unref(): void;
  ref(): void;
}

/**
 * Watch an fd for readability on the event loop (libuv uv_poll; level-triggered: the callback
 * must consume the event, or it runs again). The callback gets (status, events): status < 0 is
 * a libuv error (the fd went bad).
 */
export function pollReadable(fd: number, cb: (status: number, events: { readable?: boolean; disconnect?: boolean }) => void): PollHandle {
  // koffi's typings declare (ev) => void, but at run time it calls (status, events).
  const poll = koffi.node.poll as unknown as (fd: number, opts: { readable: boolean }, cb: (status: number, ev: unknown) => void) => PollHandle;
  return poll(fd, { readable: true }, (status, ev) => cb(status, (ev ?? {}) as { readable?: boolean; disconnect?: boolean }));
}

/** One readable-watch of an fd at a time (uv_poll), as the kernel links hold their device fds. */
export class ReadableWatch {
  #poll: PollHandle | null = null;

  /** cb runs on the event loop while the fd is readable (level-triggered); status < 0: poll failed. */
  start(fd: number, what: string, cb: (status: number) => void): void {
    if (this.#poll) throw new Error(`${what}: already watching`);
    if (fd < 0) throw new Error(`${what}: closed`);
    this.#poll = pollReadable(fd, (status) => cb(status));
  }

  stop(): void {
    this.#poll?.close();
    this.#poll = null;
  }
}
