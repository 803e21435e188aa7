// The kernel's log ring as /dev/kmsg serves it: one record per read(), "prio,seq,usec,flags;text"
// (Documentation/ABI/testing/dev-kmsg). Read non-blocking from the oldest record to EAGAIN, so it
// never waits; reading needs CAP_SYSLOG (or dmesg_restrict=0), and without it the answer is empty.
import { closeSync, constants, openSync, readSync } from 'node:fs';

const MAX_RECORDS = 20_000;

/** The messages in the kernel log (oldest first, at most the last `keep`). */
export function readKernelLog(keep = 200, path = '/dev/kmsg'): string[] {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return [];
  }
  const lines: string[] = [];
  const buf = Buffer.alloc(8192);
  try {
    for (let i = 0; i < MAX_RECORDS; i++) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        // EPIPE: a record was overwritten under us; the next read goes on from the oldest one left.
        if ((e as NodeJS.ErrnoException).code === 'EPIPE') continue;
        break; // EAGAIN: nothing more
      }
      if (n <= 0) break;
      const rec = buf.toString('utf8', 0, n);
      const text = rec.slice(rec.indexOf(';') + 1).split('\n')[0]!;
      lines.push(text);
      if (lines.length > keep) lines.shift();
    }
  } finally {
    closeSync(fd);
  }
  return lines;
}
