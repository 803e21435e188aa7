// The CD/DVD drive against the real kernel: one VM boot (kernel/vm) runs test/vm/guest-cdrom.sh,
// which serves two cdrom drives with --link tcmu --export local (one with a CD-sized ISO, one
// empty) to the kernel's sr driver: mount -t iso9660 with every file's sha256 checked, util-linux
// eject and close, PREVENT while mounted, `fileio_tgt media` load/swap seen through the block
// layer's GET EVENT STATUS NOTIFICATION polling (uevents) and the new capacity. The ISOs are made
// here with genisoimage; each guest step is one test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bootGuest, type GuestRun } from '../helpers/vm-guest.ts';

/** A DVD-sized image: 800 MiB, above the 360000-block CD limit; the tail past the file system is sparse. */
const DVD_BYTES = 800 * 2 ** 20;

/** Writes `files` under `dir`, makes `iso` with genisoimage and `sums` ("<sha256>  ./<path>" per file). */
function makeIso(dir: string, label: string, files: Record<string, Buffer>, iso: string, sums: string): void {
  const lines: string[] = [];
  for (const [name, data] of Object.entries(files).sort()) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), data);
    lines.push(`${createHash('sha256').update(data).digest('hex')}  ./${name}`);
  }
  writeFileSync(sums, lines.join('\n') + '\n');
  execFileSync('genisoimage', ['-quiet', '-R', '-J', '-V', label, '-o', iso, dir]);
}

describe('CD/DVD drive in a VM: the sr driver through --link tcmu (mount, eject, media changes)', () => {
  let share: string;
  let guest: GuestRun;

  before(async () => {
    share = mkdtempSync('/tmp/fileio-cdvm-');
    makeIso(
      join(share, 'src-a'),
      'DISC_A',
      { 'hello.txt': Buffer.from('disc A\n'), 'data/random.bin': randomBytes(1_500_000), 'data/deep/note.txt': Buffer.from('nested file\n') },
      join(share, 'a.iso'),
      join(share, 'a.sums'),
    );
    makeIso(
      join(share, 'src-b'),
      'DISC_B',
      { 'other.txt': Buffer.from('disc B\n'), 'big.bin': randomBytes(3_000_000) },
      join(share, 'b.iso'),
      join(share, 'b.sums'),
    );
    truncateSync(join(share, 'b.iso'), DVD_BYTES);
    guest = await bootGuest({ script: 'test/vm/guest-cdrom.sh', share, timeoutMs: 10 * 60_000 });
    process.stderr.write(`# cdrom VM: qemu exited after ${guest.result.seconds.toFixed(1)} s wall (rc ${guest.result.rc})\n`);
  });

  after(() => {
    if (share && !process.env.FILEIO_VM_KEEP) rmSync(share, { recursive: true, force: true });
  });

  const step = (name: string) => guest.step(name);

  test('the guest script ran to the end', () => {
    assert.equal(guest.result.timedOut, false, 'VM timed out');
    step('done');
  });
  test('target_core_user, tcm_loop, sr_mod and isofs load', () => step('modules'));
  test('both drives appear as /dev/srN: SCSI type 5 under tcm_loop, the device the CLI reported', () => step('devices'));
  test("LIO's own CHECK CONDITION (PR IN, bad service action) is in fixed format, also for the empty drive", () => step('lio-sense'));
  test('sr reports the CD image size (READ CAPACITY)', () => step('capacity-cd'));
  test('mount -t iso9660: every file of the CD image has its SHA-256', () => step('mount-cd'));
  test('GET CONFIGURATION through sr (sg_get_config): current profile CD-ROM', () => step('profile-cd'));
  test('mounted: the kernel locked the tray with PREVENT ALLOW MEDIUM REMOVAL', () => step('locked'));
  test('mounted: START STOP UNIT eject (sg_raw) is refused with 05/53/02; the disc stays and reads', () => step('eject-prevented'));
  test('mounted: the operator eject is refused and reaches the kernel as DISK_EJECT_REQUEST', () => step('host-eject-request'));
  test('umount + eject: START STOP UNIT opens the tray (media status), the disc stays in it, the kernel sees the removal', () => step('initiator-eject'));
  test('mount on the open tray: the cdrom layer closes it (autoclose) and the disc reads again', () => step('autoclose'));
  test('autoclose off: an open tray is no medium; eject -t closes it and the disc mounts', () => step('initiator-close'));
  test('fileio_tgt media load of the DVD image: DISK_MEDIA_CHANGE from GESN polling, the new size on open', () => step('load-seen'));
  test('mount -t iso9660: every file of the DVD image has its SHA-256', () => step('mount-dvd'));
  test('GET CONFIGURATION through sr: current profile DVD-ROM', () => step('profile-dvd'));
  test('the last block of the 800 MiB DVD (and LBA 360000) read back, past the backstore size LIO was given', () => step('read-dvd-end'));
  test('swap while mounted is refused (locked) and posts an eject request', () => step('swap-refused'));
  test('swap --force while mounted: the kernel sees the change; remount shows the CD image and its size', () => step('swap-forced'));
  test('empty drive (FILE "-"): no medium for mount and open, media status not ready', () => step('empty-drive'));
  test('loading the empty drive: DISK_MEDIA_CHANGE, the DVD size, every file checks out', () => step('empty-load'));
  test('SIGTERM exits 0 and removes both backstores and the sr devices', () => step('teardown'));

});
