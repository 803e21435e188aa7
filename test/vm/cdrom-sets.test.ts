// A folder of ISOs and an optical jukebox against the real kernel: one VM boot (kernel/vm) runs
// test/vm/guest-cdrom-sets.sh, which serves both with --link tcmu --export local. The folder's
// images appear as /dev/srN with the images' bytes (and mount as iso9660); an image copied in
// while running becomes a new LUN that tcm_loop adds as a new /dev/srN (the tcmu run-time LUN
// add); a removed image leaves its drive without medium until it returns. The jukebox is driven
// with Debian's mtx (sg) and mounted through sr. ISOs are made here with genisoimage.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootGuest, type GuestRun } from '../helpers/vm-guest.ts';
import { makeIso, sha256Of } from '../helpers/iso.ts';

describe('folder of ISOs and optical jukebox in a VM: sr, sg, ch and mtx through --link tcmu', () => {
  let share: string;
  let guest: GuestRun;

  before(async () => {
    share = mkdtempSync('/tmp/fileio-cdsetvm-');
    const iso = join(share, 'iso');
    mkdirSync(iso);
    for (const name of ['alpha', 'beta', 'gamma']) {
      const made = await makeIso(share, name, name.toUpperCase(), { [`${name}.txt`]: `disc ${name}`, 'noise.bin': randomBytes(300_000) });
      renameSync(made, join(iso, `${name}.iso`));
      writeFileSync(join(iso, `${name}.sha256`), `${await sha256Of(join(iso, `${name}.iso`))}  ${name}.iso\n`);
    }
    guest = await bootGuest({ script: 'test/vm/guest-cdrom-sets.sh', share, timeoutMs: 10 * 60_000 });
    process.stderr.write(`# cdrom sets VM: qemu exited after ${guest.result.seconds.toFixed(1)} s wall (rc ${guest.result.rc})\n`);
  });

  after(() => {
    if (share && !process.env.FILEIO_VM_KEEP) rmSync(share, { recursive: true, force: true });
  });

  const step = (name: string) => guest.step(name);

  test('the guest script ran to the end', () => {
    assert.equal(guest.result.timedOut, false, 'VM timed out');
    step('done');
  });
  test('target_core_user, tcm_loop, sr_mod, sg and ch load', () => step('modules'));
  test('--type cdrom dvds FOLDER/: two images are two /dev/srN', () => step('folder-serving'));
  test('each drive reads its image byte for byte; mount -t iso9660 shows its files', () => step('folder-read'));
  test('an image copied in while running: a new LUN, a new /dev/srN with its bytes', () => step('folder-add'));
  test('an image removed: its drive has no medium (ENOMEDIUM)', () => step('folder-remove'));
  test('the image returns: the drive reads it again', () => step('folder-return'));
  test('SIGTERM exits 0 and removes every backstore', () => step('folder-teardown'));
  test('jukebox: mtx status lists the images by volume tag, the drive empty', () => step('jukebox-status'));
  test('mtx load: the drive mounts and reads the disc', () => step('jukebox-load'));
  test('eject on the drive keeps the disc in the drive element; mtx unload puts it back', () => step('jukebox-eject-unload'));
  test('mtx load of the other disc: the drive reads the new image', () => step('jukebox-swap'));
  test('jukebox: SIGTERM exits 0 and removes every backstore', () => step('jukebox-teardown'));
});
