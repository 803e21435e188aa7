// The production port of the scst_user link (src/ffi/scst-user-fd.ts) on real fds, since CI has
// no /dev/scst_user: a FIFO stands in for a pollable character device (open O_RDWR|O_NONBLOCK,
// uv_poll wake-ups, ioctl returning -errno, close), and the link pointed at a device that is not
// scst_user reports what REGISTER_DEVICE said.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ScstUserFd } from '../../src/ffi/scst-user-fd.ts';
import { SCST_USER_IOCTLS } from '../../src/ffi/scst-user-abi.ts';
import { ScstUserLink } from '../../src/links/scst_user/index.ts';
import { openScstUser } from '../../src/links/scst_user/port.ts';
import { ControlBlock } from '../../src/links/scst_user/control-block.ts';
import { diskConfig, openDisk, tempDir } from '../helpers/scsi-harness.ts';

test('open, ioctl (-errno), watch (level-triggered wake-ups) and close on a real fd', async () => {
  const { dir, cleanup } = await tempDir();
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const cb = new ControlBlock();
  const fd = ScstUserFd.open(fifo);
  try {
    assert.equal(fd.ioctl(SCST_USER_IOCTLS.SCST_USER_REPLY_AND_GET_MULTI, cb.multiAddress), -25, 'ENOTTY from the kernel, as a number');
    const writer = openSync(fifo, 'w');
    let wakes = 0;
    const woke = new Promise<void>((resolve) => {
      fd.watch((status) => {
        assert.equal(status, 0);
        wakes++;
        if (wakes === 3) {
          // consume the byte through another reader so the level-triggered poll calms down
          const r = openSync(fifo, 'r+');
          readSync(r, Buffer.alloc(1));
          closeSync(r);
          resolve();
        }
      });
    });
    writeSync(writer, Buffer.from([1]));
    await woke;
    assert.ok(wakes >= 3, 'called again while still readable');
    closeSync(writer);
    assert.throws(() => fd.watch(() => undefined), /already watching/);
  } finally {
    fd.close();
    fd.close(); // idempotent
    assert.equal(fd.ioctl(SCST_USER_IOCTLS.SCST_USER_REPLY_AND_GET_MULTI, cb.multiAddress), -9, 'EBADF once closed');
    cb.dispose();
    await cleanup();
  }
});

test('the link on a device that is not /dev/scst_user: REGISTER_DEVICE fails and says so', async () => {
  const lu = await openDisk(diskConfig({ name: 'n1', type: 'nullio', nullio: true, sizeBytes: 1 << 20, file: undefined }));
  const link = new ScstUserLink({
    targets: [{ iqn: 'x', luns: new Map([[0, lu]]) }],
    portal: { host: '127.0.0.1', port: 3260 },
    log: () => undefined,
    openPort: openScstUser('/dev/null'),
    version: 'x',
  });
  await assert.rejects(link.start(), /--link scst_user: REGISTER_DEVICE "n1" failed: ENOTTY/);
  await lu.close();
});
