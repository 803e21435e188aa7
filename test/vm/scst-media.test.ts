// CD/DVD, tape and changer through the REAL SCST: one VM boot (kernel/vm) runs
// test/vm/guest-scst-media.sh, which insmods the stock, unpatched SCST (scst.ko, scst_user.ko,
// scst_local.ko, built from the shared tarball by kernel/vm/scst.mjs for the VM's kernel), serves
// a DVD drive, a tape drive and a library (changer + one drive) with --link scst_user from one
// process, maps them through scst_local and drives them with the kernel's sr, st and sg drivers
// (mount -t iso9660, PREVENT, media swap, eject, mt, tar, mtx), with dvd1 in a second target for
// the unit attentions a second session sees (the core's copies, never the LU's as well). After
// every step the kernel log is checked for BUG, Oops, WARNING, hung tasks and general protection
// faults. Each guest step is one test here.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, guestSuite, scstForGuest } from '../helpers/vm-guest.ts';
import { makeIso, sumsOf } from '../helpers/iso.ts';

const tapeCreate = (barcode: string, file: string) =>
  execFileSync(process.execPath, [join(REPO, 'bin/fileio_tgt.js'), 'tape', 'create', '--barcode', barcode, '--size', '64M', file]);

describe('CD/DVD, tape and changer on the real SCST core (scst_user + scst_local) in a VM', () => {
  const suite = guestSuite({
    label: 'scst-media',
    script: 'test/vm/guest-scst-media.sh',
    timeoutMs: 8 * 60_000,
    prepare: async (share) => {
      const env = await scstForGuest('scst-media');
      const discs = {
        a: { label: 'DISC_A', files: { 'hello.txt': Buffer.from('disc A\n'), 'data/random.bin': randomBytes(1_000_000), 'data/deep/note.txt': Buffer.from('nested\n') } },
        b: { label: 'DISC_B', files: { 'other.txt': Buffer.from('disc B\n'), 'big.bin': randomBytes(2_500_000) } },
      };
      for (const [name, { label, files }] of Object.entries(discs)) {
        await makeIso(share, name, label, files);
        writeFileSync(join(share, `${name}.sums`), sumsOf(files));
      }
      // node starts slowly under TCG: the cartridges are made here
      tapeCreate('TAPE00L6', join(share, 'tape0.cart'));
      mkdirSync(join(share, 'carts'));
      for (const i of [1, 2]) tapeCreate(`VOL00${i}L6`, join(share, 'carts', `VOL00${i}L6`));
      return env;
    },
  });
  const { step } = suite;
  test('the guest script exited 0', () => assert.equal(suite.guest.result.rc, 0, suite.guest.result.output.slice(-3000)));
  test('insmod scst.ko, scst_user.ko, scst_local.ko (stock SCST): /dev/scst_user, /var/lib/scst/pr', () => step('modules'));
  test('fileio_tgt --link scst_user registers dvd1, tape0, the changer and its drive as SCST devices', () => step('register'));
  test('scst_local maps them: dvd1 as /dev/srN (and in a second target, a second session), tape0 as /dev/nstN, the library as one host (changer LUN 0, drive LUN 1)', () => step('devices'));
  test('cdrom: sr reports the ISO size (READ CAPACITY)', () => step('cd-capacity'));
  test('cdrom: mount -t iso9660, every file has its SHA-256', () => step('cd-mount'));
  test('cdrom: mounted, the tray is locked (PREVENT through SCST) and START STOP UNIT eject is refused 05/53/02', () => step('cd-locked'));
  test('cdrom: media swap of the unmounted disc: sr sees the change (new capacity), after mount every file of the new ISO matches', () => step('cd-swap'));
  test('cdrom: a second session of dvd1 gets the media change UA (28/00) exactly once: the core copies it, the LU does not repeat it', () => step('cd-ua-once'));
  test('cdrom: LUN reset from one session: each session gets the core\'s reset UA once, then GOOD; the LU returns no 29h of its own', () => step('cd-lun-reset'));
  test('cdrom: eject (ALLOW + START STOP UNIT through SCST) opens the tray: TEST UNIT READY 02/3A/02', () => step('cd-eject'));
  test('tape: mt status online at BOT', () => step('tape-status'));
  test('tape: tar writes three archives (a filemark after each)', () => step('tape-write'));
  test('tape: rewind + fsf 1, tar lists the second archive', () => step('tape-fsf'));
  test('tape: every archive reads back (rewind + fsf N) with matching checksums', () => step('tape-read'));
  test('tape: a READ(6) longer than the record returns the 32 KiB record (ILI, short resp_data_len)', () => step('tape-ili'));
  test('tape: mt eod / tell: file number and block position from READ POSITION', () => step('tape-eod'));
  test('tape: mt setblk 512 holds (MODE SENSE page 0); 256 KiB written and read back through READ/WRITE(6) with FIXED=1, one logical object per block', () => step('tape-fixed'));
  test('changer: mtx status shows the barcodes and the empty drive', () => step('mtx-status'));
  test('changer: mtx load 1 0, the drive reports the cartridge ONLINE', () => step('mtx-load'));
  test('changer: mt offline + mtx unload 1 0 puts the cartridge back', () => step('mtx-unload'));
  test('SIGTERM: exit 0, every device gone from /sys/kernel/scst_tgt/devices', () => step('teardown'));
  test('the kernel log has no BUG, Oops, WARNING, hung task or general protection fault', () => step('dmesg-clean'));
});
