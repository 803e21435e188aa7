// The tcmu link against the real kernel: one VM boot (kernel/vm: Debian's kernel under qemu TCG)
// runs test/vm/guest-tcmu.sh, which drives the real CLI through target_core_user with tcm_loop
// (/dev/sdX: dd, ext4, kill -9 + re-attach, teardown) and LIO's iSCSI target (libiscsi tools and
// qemu-img against 127.0.0.1 in the guest), then the embedded iSCSI target with the Linux kernel
// initiator (open-iscsi + iscsi_tcp). Each guest step is one test here; the image files are
// then checked from the host. scripts/test.mjs installs what this needs (see kernel/vm/vm.mjs).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { guestSuite } from '../helpers/vm-guest.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('kernel peers in a VM: tcmu link (target_core_user, tcm_loop, LIO iSCSI) and open-iscsi against the embedded target', () => {
  const suite = guestSuite({ label: 'tcmu', script: 'test/vm/guest-tcmu.sh', timeoutMs: 15 * 60_000 });
  const { step } = suite;

  test('the guest script exited 0', () => {
    const { result } = suite.guest;
    assert.equal(result.rc, 0, result.output.slice(-3000));
  });
  test('target_core_user, tcm_loop and sd_mod load from the Debian kernel', () => step('modules'));
  test('--link tcmu --export local: the disk handler appears as /dev/sdX with the right size', () => {
    step('local-sdX');
    step('local-size');
  });
  test('dd: 16 MiB pattern written with 1 MiB O_DIRECT commands reads back with the same SHA-256', () => step('dd-pattern'));
  test('dd: 4 KiB O_DIRECT reads at scattered offsets match the pattern', () => step('dd-4k'));
  test('an opcode the LU does not implement comes back as CHECK CONDITION, ILLEGAL REQUEST', () => step('unknown-opcode'));
  test('mkfs.ext4, mount, write files, umount, fsck clean', () => step('ext4'));
  test('after kill -9, a second run re-attaches the stale backstore and keeps /dev/sdX', () => step('restart-reattach'));
  test('after the restart the files and the pattern read back intact and fsck is clean', () => {
    step('restart-data');
    step('restart-fsck');
  });
  test('SIGTERM removes the tcm_loop export and the backstore and exits 0', () => step('teardown'));
  test('--export iscsi: LIO iSCSI target at iscsi://127.0.0.1:3260/<iqn>/0', () => step('iscsi-url'));
  test('iscsi-inq and iscsi-readcapacity16 through LIO iSCSI to our LU', () => {
    step('iscsi-inq');
    step('iscsi-readcapacity16');
  });
  test('qemu-img convert + compare through LIO iSCSI', () => step('iscsi-qemu-img'));
  test('SIGTERM removes the iSCSI target and the backstore', () => step('iscsi-teardown'));

  test('embedded iSCSI target: open-iscsi discovers it with SendTargets', () => step('openiscsi-discovery'));
  test('embedded iSCSI target: the kernel initiator (iscsi_tcp) logs in and gets a 32 MiB /dev/sdX', () => step('openiscsi-login'));
  test('embedded iSCSI target: 16 MiB dd through the kernel initiator reads back with the same SHA-256', () => step('openiscsi-dd'));
  test('embedded iSCSI target: logout, then SIGTERM exits 0', () => {
    step('openiscsi-logout');
    step('openiscsi-teardown');
  });

  test('host side: disk3.img holds what the kernel initiator wrote through the embedded target', () => {
    const img = readFileSync(join(suite.share, 'disk3.img'));
    assert.equal(sha256(img.subarray(0, 16 << 20)), readFileSync(join(suite.share, 'pattern.sha256'), 'utf8').trim());
    assert.ok(img.subarray(16 << 20).every((b) => b === 0));
  });

  test('host side: disk1.img holds a clean ext4 with the files written in the guest', () => {
    const img = join(suite.share, 'disk1.img');
    execFileSync('e2fsck', ['-fn', img], { stdio: 'pipe' });
    const pattern = execFileSync('debugfs', ['-R', 'cat /pattern.bin', img], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
    assert.equal(sha256(pattern), readFileSync(join(suite.share, 'pattern.sha256'), 'utf8').trim());
    const sums = readFileSync(join(suite.share, 'src.sums'), 'utf8').trim().split('\n');
    assert.ok(sums.length > 10);
    const [sum, file] = sums[0].split(/\s+/);
    const content = execFileSync('debugfs', ['-R', `cat /${file}`, img], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
    assert.equal(sha256(content), sum);
  });

  test('host side: disk2.img holds what qemu-img wrote through LIO iSCSI', () => {
    const img = readFileSync(join(suite.share, 'disk2.img'));
    const pattern = readFileSync(join(suite.share, 'pattern.bin')).subarray(0, 8 << 20);
    assert.equal(sha256(img.subarray(0, 8 << 20)), sha256(pattern));
    assert.ok(img.subarray(8 << 20).every((b) => b === 0));
  });
});
