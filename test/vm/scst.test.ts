// The scst_user link against the real, unpatched SCST: kernel/vm/scst.mjs builds scst.ko,
// scst_user.ko, scst_local.ko and iscsi-scst.ko (+ iscsi-scstd) for the VM's kernel (cached
// afterwards), then one VM boot runs test/vm/guest-scst.sh: our disk registered through
// /dev/scst_user, made a /dev/sdX by scst_local and exported at the same time by iSCSI-SCST.
// Each guest step is one test here; the kernel log of every step is checked for BUG, Oops,
// WARNING, hung tasks and GPFs. Afterwards the image file is checked from the host.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { guestSuite, REPO, scstForGuest } from '../helpers/vm-guest.ts';

const MIB = 1 << 20;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('kernel peers in a VM: scst_user link with the stock SCST (scst_local, iSCSI-SCST)', () => {
  const suite = guestSuite({
    label: 'scst',
    script: 'test/vm/guest-scst.sh',
    timeoutMs: 15 * 60_000,
    // npm test from a fresh clone builds SCST here (about three minutes on two cores, once)
    prepare: () => scstForGuest('scst'),
  });
  const { step } = suite;
  const image = () => readFileSync(join(suite.share, 'disk1.img'));

  test('the guest script exited 0', () => {
    const { result } = suite.guest;
    assert.equal(result.rc, 0, result.output.slice(-3000));
  });
  test('scst.ko, scst_user.ko, scst_local.ko load into the Debian kernel; /dev/scst_user appears', () => step('modules'));
  test('--link scst_user registers SCST device disk1; as LUN 0 of scst_local it is a 64 MiB /dev/sdX', () => step('disk'));
  test('O_DIRECT dd: 1 MiB at five offsets (the last MiB among them) reads back with the same SHA-256', () => step('dd-offsets'));
  test('mkfs.ext4, a copied tree, umount, fsck -fn clean, checksums after a remount', () => step('ext4'));
  test('fio: 4 jobs, libaio, iodepth 16, O_DIRECT random writes of 4-64 KiB verified with crc32c', () => step('fio-verify'));
  test('sg_reset -d three times during a verified fio: SCST LUN RESET reaches the LU and fio finishes clean', () => step('lun-reset'));
  test('commands that time out while the target is stopped are aborted (ABORT TASK) and fio\'s verification passes after the retries', () => step('abort-task'));
  test('ABORT TASK for a read blocked inside the LU (its device-mapper device suspended) reaches the LU; the retry returns the data', () => step('abort-in-lu'));
  test('after the resets and the abort a verified write and read succeed', () => step('after-tm'));
  test('iSCSI-SCST exports the same device: iscsi-inq sees our INQUIRY', () => step('iscsi-inq'));
  test('written through /dev/sdX, read through iSCSI-SCST (qemu-img dd)', () => step('local-to-iscsi'));
  test('written with FUA through iSCSI-SCST (qemu-io), read through /dev/sdX', () => step('iscsi-to-local'));
  test('qemu-img compare: the whole LU through scst_local equals the whole LU through iSCSI-SCST', () => step('two-transports'));
  test('SIGTERM: exit 0, the SCST device and its LUNs on both targets are gone', () => step('sigterm'));
  test('kill -9 with writes in flight (O_DIRECT|O_SYNC and fio at iodepth 16): both writers fail within 60 s instead of hanging', () => step('kill9-writer'));
  test('after kill -9 a new process registers the same name and scst_local maps it again', () => step('reregister'));
  test('every write acknowledged before the kill -9 reads back after the restart', () => step('kill9-acked'));
  test('the restarted process exits 0 on SIGTERM and its device is gone', () => step('final-sigterm'));
  test('the four target processes logged no warning or error', () => step('target-logs'));
  test('no BUG, Oops, WARNING, hung task or general protection fault in the kernel log of any step', () => step('dmesg-clean'));

  test('host side: disk1.img holds a clean ext4 with every file copied in the guest', () => {
    const img = join(suite.share, 'disk1.img');
    execFileSync('e2fsck', ['-fn', img], { stdio: 'pipe' });
    const out = mkdtempSync('/tmp/fileio-scst-rdump-');
    try {
      execFileSync('debugfs', ['-R', `rdump /src ${out}`, img], { stdio: 'pipe' });
      const sums = readFileSync(join(suite.share, 'src.sums'), 'utf8').trim().split('\n');
      assert.ok(sums.length > 10);
      for (const line of sums) {
        const [sum, file] = line.split(/\s+/);
        assert.equal(sha256(readFileSync(join(out, file!))), sum, file);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('host side: the dd zone and both transports\' regions hold what the guest wrote', () => {
    const img = image();
    const zone = readFileSync(join(suite.share, 'zone.sums'), 'utf8').trim().split('\n');
    assert.equal(zone.length, 3);
    for (const line of zone) {
      const [off, sum] = line.split(' ');
      const at = Number(off) * 4096;
      assert.equal(sha256(img.subarray(at, at + MIB)), sum, `1 MiB at ${at}`);
    }
    assert.equal(sha256(img.subarray(48 * MIB, 52 * MIB)), readFileSync(join(suite.share, 'a.sha256'), 'utf8').trim());
    assert.equal(sha256(img.subarray(52 * MIB, 56 * MIB)), readFileSync(join(suite.share, 'b.sha256'), 'utf8').trim());
  });

  test('host side: every write acknowledged before the kill -9 is in the image', () => {
    const img = image();
    const acked = readFileSync(join(suite.share, 'acked'), 'utf8').trim().split('\n').map(Number);
    assert.ok(acked.length >= 20, `${acked.length} writes acknowledged`);
    for (const i of acked) {
      const at = 24 * MIB + i * 4096;
      assert.equal(img.toString('latin1', at, at + 19), `fileio-seq ${String(i).padStart(8, '0')}`, `block ${i}`);
    }
  });
});
