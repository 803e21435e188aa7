// libc file calls Node's fs lacks: fallocate (punch hole / zero range), lseek SEEK_DATA/SEEK_HOLE,
// posix_fadvise. Synchronous koffi calls on a FileHandle's fd (no .async with JS buffers); callers
// keep each call short (chunked punches) so the event loop stays responsive.
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

const fallocateFn = libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)');
const lseekFn = libc.func('int64_t lseek(int fd, int64_t offset, int whence)');
const fadviseFn = libc.func('int posix_fadvise(int fd, int64_t offset, int64_t len, int advice)');
const strerrorFn = libc.func('const char *strerror(int errnum)');

/** fallocate(2) mode bits (linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

/** posix_fadvise advice values. */
export const POSIX_FADV_NORMAL = 0;
export const POSIX_FADV_WILLNEED = 3;
export const POSIX_FADV_DONTNEED = 4;

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 5: 'EIO', 6: 'ENXIO', 9: 'EBADF', 22: 'EINVAL', 27: 'EFBIG', 28: 'ENOSPC', 29: 'ESPIPE',
  30: 'EROFS', 95: 'EOPNOTSUPP', 38: 'ENOSYS', 19: 'ENODEV', 4: 'EINTR',
};

/** A failed libc call, with the errno name as `code` (like Node's fs errors). */
export class SysError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(call: string, errno: number) {
    const code = ERRNO_NAMES[errno] ?? `E${errno}`;
    super(`${call}: ${code} (${String(strerrorFn(errno))})`);
    this.name = 'SysError';
    this.code = code;
    this.errno = errno;
  }
}

/** fallocate(fd, mode, offset, len); throws SysError (EINTR retried). */
export function fallocate(fd: number, mode: number, offset: number, length: number): void {
  for (;;) {
    const r = fallocateFn(fd, mode, offset, length) as number;
    if (r === 0) return;
    const e = koffi.errno();
    if (e === 4) continue;
    throw new SysError('fallocate', e);
  }
}

/** Deallocates [offset, offset+length) keeping the file size; reads of it return zeros. */
export function punchHole(fd: number, offset: number, length: number): void {
  fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

/**
 * lseek(fd, offset, SEEK_DATA or SEEK_HOLE): the next data or hole offset at or after `offset`,
 * or undefined for ENXIO (no more data after `offset`, or `offset` beyond the end).
 */
export function seek(fd: number, offset: number, whence: typeof SEEK_DATA | typeof SEEK_HOLE): number | undefined {
  const r = lseekFn(fd, offset, whence) as number | bigint;
  const n = Number(r);
  if (n >= 0) return n;
  const e = koffi.errno();
  if (e === 6) return undefined;
  throw new SysError(whence === SEEK_DATA ? 'lseek(SEEK_DATA)' : 'lseek(SEEK_HOLE)', e);
}

/** posix_fadvise; returns the error code instead of throwing (advice is only advice). */
export function fadvise(fd: number, offset: number, length: number, advice: number): number {
  return fadviseFn(fd, offset, length, advice) as number;
}

const iovecType = koffi.struct('fileops_iovec', { base: 'void *', len: 'size_t' });
const preadv2Fn = libc.func('intptr_t preadv2(int fd, const fileops_iovec *iov, int iovcnt, int64_t offset, int flags)');
/** RWF_NOWAIT (linux/fs.h): fail with EAGAIN instead of blocking (data not in the page cache). */
const RWF_NOWAIT = 0x08;
/** preadNoWait's answer when this file (or kernel) cannot do RWF_NOWAIT at all: stop asking. */
export const NOWAIT_UNSUPPORTED = -2;

/**
 * preadv2(fd, buf[off..off+length), pos, RWF_NOWAIT): reads only what is already in the page
 * cache, never blocking on the device. Returns the bytes read (0 at end of file), -1 when the
 * read would block (EAGAIN), or NOWAIT_UNSUPPORTED when the kernel or this file's filesystem
 * cannot do RWF_NOWAIT (tmpfs answers EOPNOTSUPP; ext4 on the same machine can): the answer
 * belongs to the file, so the caller keeps it. Throws SysError on other errors (EIO, ...). A
 * single syscall, about 2-3 us for 4 KiB, no threadpool hop.
 */
export function preadNoWait(fd: number, buf: Buffer, off: number, length: number, pos: number): number {
  for (;;) {
    const r = Number(preadv2Fn(fd, { base: off === 0 ? buf : buf.subarray(off), len: length }, 1, pos, RWF_NOWAIT));
    if (r >= 0) return r;
    const e = koffi.errno();
    if (e === 4) continue; // EINTR
    if (e === 11) return -1; // EAGAIN: not cached
    if (e === 95 || e === 38 || e === 22) return NOWAIT_UNSUPPORTED; // EOPNOTSUPP / ENOSYS / EINVAL
    throw new SysError('preadv2', e);
  }
}
