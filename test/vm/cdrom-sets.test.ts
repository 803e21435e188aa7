// A folder of ISOs and an optical jukebox against the real kernel: one VM boot (kernel/vm) runs
// test/vm/guest-cdrom-sets.sh, which serves both with --link tcmu --export local. The folder's
// images appear as /dev/srN with the images' bytes (and mount as iso9660); an image copied in
// while running becomes a new LUN that tcm_loop adds as a new /dev/srN (the tcmu run-time LUN
// add); a removed image leaves its drive without medium until it returns. The jukebox is driven
// with Debian's mtx (sg) and mounted through sr. ISOs are made here with genisoimage.
import { describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { guestSuite } from '../helpers/vm-guest.ts';
import { makeIso, sha256Of } from '../helpers/iso.ts';

describe('folder of ISOs and optical jukebox in a VM: sr, sg, ch and mtx through --link tcmu', () => {
  const { step } = guestSuite({
    label: 'cdrom sets',
    script: 'test/vm/guest-cdrom-sets.sh',
    prepare: async (share) => {
      const iso = join(share, 'iso');
      mkdirSync(iso);
      for (const name of ['alpha', 'beta', 'gamma']) {
        const made = await makeIso(share, name, name.toUpperCase(), { [`${name}.txt`]: `disc ${name}`, 'noise.bin': randomBytes(300_000) });
        renameSync(made, join(iso, `${name}.iso`));
        writeFileSync(join(iso, `${name}.sha256`), `${await sha256Of(join(iso, `${name}.iso`))}  ${name}.iso\n`);
      }
    },
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
