// The tape library against the real kernel: one VM boot (kernel/vm) runs test/vm/guest-tape.sh,
// which serves a library (changer + one drive over cartridge files) with --link tcmu --export
// local and drives the kernel's st and sg drivers with Debian's mtx, mt-st and tar, then kills
// the target with SIGKILL while dd writes and checks every acknowledged block after a restart.
// Each guest step is one test here.
import { describe, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, guestSuite } from '../helpers/vm-guest.ts';

describe('tape library in a VM: st, sg, mt-st, tar and mtx through --link tcmu', () => {
  const { step } = guestSuite({
    label: 'tape',
    script: 'test/vm/guest-tape.sh',
    prepare: (share) => {
      mkdirSync(join(share, 'carts'));
      for (const i of [1, 2, 3]) {
        execFileSync(process.execPath, [join(REPO, 'bin/fileio_tgt.js'), 'tape', 'create', '--barcode', `VOL00${i}L6`, '--size', '256M', join(share, 'carts', `VOL00${i}L6`)]);
      }
    },
  });
  test('target_core_user, tcm_loop, st and sg load', () => step('modules'));
  test('the library appears as a changer (sg) and a tape drive (/dev/nst0)', () => step('devices'));
  test('mtx status: empty drive, barcodes in the slots, the mail slot', () => step('mtx-status'));
  test('mtx load 1 0: MOVE MEDIUM loads the cartridge into our drive', () => step('mtx-load'));
  test('mt status: online at BOT', () => step('mt-status'));
  test('tar writes three archives to /dev/nst0 (filemark after each)', () => step('tar-write'));
  test('mt rewind + fsf 1: tar lists the second archive', () => step('mt-fsf'));
  test('tar reads every archive back (rewind + fsf N) with matching checksums', () => step('tar-read'));
  test('mt eod / tell / bsf: file numbers from READ POSITION and SPACE', () => step('mt-eod'));
  test('mt offline, mtx unload and transfer: the changer state follows', () => step('mtx-unload-transfer'));
  test('kill -9 while dd writes: every acknowledged 64 KiB block reads back after the restart', () => step('kill9-acked'));
  test('after the restart the library still has the cartridge in the drive', () => step('kill9-state'));
  test('SIGTERM exits 0', () => step('teardown'));
});
