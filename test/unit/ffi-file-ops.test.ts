// koffi libc file calls: fallocate punch hole, lseek SEEK_DATA/SEEK_HOLE, posix_fadvise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, openSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { fadvise, POSIX_FADV_WILLNEED, punchHole, seek, SEEK_DATA, SEEK_HOLE, SysError } from '../../src/ffi/file-ops.ts';
import { tempDir } from '../helpers/scsi-harness.ts';

const MiB = 1 << 20;

test('punchHole deallocates whole blocks; SEEK_DATA/SEEK_HOLE see the hole', async () => {
  const t = await tempDir();
  const fd = openSync(join(t.dir, 'f.img'), 'w+');
  try {
    writeSync(fd, Buffer.alloc(4 * MiB, 0xa5), 0, 4 * MiB, 0);
    fsyncSync(fd);
    const before = fstatSync(fd).blocks;
    assert.ok(before >= (4 * MiB) / 512, `allocated: ${before} sectors`);
    punchHole(fd, MiB, 2 * MiB);
    const after = fstatSync(fd).blocks;
    assert.ok(after <= before - (2 * MiB) / 512, `blocks shrink: ${before} -> ${after}`);
    assert.equal(fstatSync(fd).size, 4 * MiB, 'KEEP_SIZE');
    assert.equal(seek(fd, 0, SEEK_HOLE), MiB);
    assert.equal(seek(fd, MiB, SEEK_DATA), 3 * MiB);
    assert.equal(seek(fd, 3 * MiB, SEEK_HOLE), 4 * MiB, 'the end of file counts as a hole');
    assert.equal(seek(fd, 4 * MiB, SEEK_DATA), undefined, 'ENXIO at the end');
    assert.equal(fadvise(fd, 0, MiB, POSIX_FADV_WILLNEED), 0);
  } finally {
    closeSync(fd);
    await t.cleanup();
  }
});

test('errors carry the errno name', () => {
  assert.throws(() => punchHole(-1, 0, 4096), (e: unknown) => e instanceof SysError && e.code === 'EBADF' && /fallocate: EBADF/.test(e.message));
  assert.throws(() => seek(-1, 0, SEEK_DATA), (e: unknown) => e instanceof SysError && e.code === 'EBADF');
});
