// The CD/DVD drive against the real kernel: one VM boot (kernel/vm) runs test/vm/guest-cdrom.sh,
// which serves two cdrom drives with --link tcmu --export local (one with a CD-sized ISO, one
// empty) to the kernel's sr driver: mount -t iso9660 with every file's sha256 checked, util-linux
// eject and close, PREVENT while mounted, `fileio_tgt media` load/swap seen through the block
// layer's GET EVENT STATUS NOTIFICATION polling (uevents) and the new capacity. The ISOs are made
// here with genisoimage; each guest step is one test.
import { describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { guestSuite } from '../helpers/vm-guest.ts';
import { makeIso, sumsOf } from '../helpers/iso.ts';

/** A DVD-sized image: 800 MiB, above the 360000-block CD limit; the tail past the file system is sparse. */
const DVD_BYTES = 800 * 2 ** 20;

describe('CD/DVD drive in a VM: the sr driver through --link tcmu (mount, eject, media changes)', () => {
  const { step } = guestSuite({
    label: 'cdrom',
    script: 'test/vm/guest-cdrom.sh',
    prepare: async (share) => {
      const discs = {
        a: { label: 'DISC_A', files: { 'hello.txt': Buffer.from('disc A\n'), 'data/random.bin': randomBytes(1_500_000), 'data/deep/note.txt': Buffer.from('nested file\n') } },
        b: { label: 'DISC_B', files: { 'other.txt': Buffer.from('disc B\n'), 'big.bin': randomBytes(3_000_000) } },
      };
      for (const [name, { label, files }] of Object.entries(discs)) {
        await makeIso(share, name, label, files);
        writeFileSync(join(share, `${name}.sums`), sumsOf(files));
      }
      truncateSync(join(share, 'b.iso'), DVD_BYTES);
    },
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
