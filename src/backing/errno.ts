// System error codes in words, for the one-line messages a user reads: "no such file or
// directory (ENOENT)" says what is wrong; the code stays for searching.

const WORDS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'already exists',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EISDIR: 'is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long',
  EBUSY: 'device or resource busy',
  ETXTBSY: 'text file busy',
  EMFILE: 'too many open files in this process',
  ENFILE: 'too many open files in the system',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
  EINVAL: 'invalid argument',
  ENOSPC: 'no space left on device',
  EIO: 'input/output error',
};

/** The error's code in words with the code in parentheses, or its message when it has no code. */
export function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return e instanceof Error ? e.message : String(e);
  const words = WORDS[code];
  return words ? `${words} (${code})` : code;
}

/** A write-open refused by permissions or the file system, where reading alone might work. */
export function isWriteRefusal(code: string | undefined): boolean {
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
}
