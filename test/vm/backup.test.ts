// Backup software's qualification tools against the real kernel: one VM boot (kernel/vm) runs
// test/vm/guest-backup.sh, which serves a library from the command line (--type changer, one
// drive, small cartridges and an empty file formatted on first load) with --link tcmu --export
// local and drives it through st and sg with Bacula's btape (test, autochanger, fill), Amanda's
// amtapetype and stenc (key, write, read back, keyless read refused, status). Each guest step is
// one test here.
import { describe, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, guestSuite } from '../helpers/vm-guest.ts';

describe('backup software in a VM: btape, amtapetype, stenc through st/sg and --link tcmu', () => {
  const { step } = guestSuite({
    label: 'backup',
    script: 'test/vm/guest-backup.sh',
    // btape test and fill's full re-read take about five minutes under TCG on an idle machine
    timeoutMs: 45 * 60_000,
    prepare: (share) => {
      mkdirSync(join(share, 'carts'));
      // slot 1: btape test and autochanger (2 x 40 MB); slot 2: fill (more than 1000 blocks of 63 KiB);
      // slot 3: amtapetype, which writes to the end twice
      for (const [i, size] of [[1, '128M'], [2, '80M'], [3, '16M']] as const) {
        execFileSync(process.execPath, [join(REPO, 'bin/fileio_tgt.js'), 'tape', 'create', '--barcode', `BAK00${i}L8`, '--generation', '8', '--size', size, join(share, 'carts', `BAK00${i}L8`)]);
      }
      writeFileSync(join(share, 'carts', 'BAK004L8'), ''); // a blank file: formatted when the library starts
      writeFileSync(join(share, 'full'), '1');
      execFileSync(process.execPath, [join(REPO, 'bin/fileio_tgt.js'), 'tape', 'create', '--barcode', 'BAK005L8', '--generation', '8', '--size', '400M', join(share, 'carts', 'BAK005L8')]);
    },
  });
  test('target_core_user, tcm_loop, st and sg load', () => step('modules'));
  test('the command-line library appears as a changer and a tape drive', () => step('devices'));
  // btape test writes and re-reads 2 x 10000 blocks, and fill's re-read of its first 10000 records
  // needs a 400 MB cartridge: under TCG (about 15 ms per command) the longest part of the suite
  test('btape test: write, rewind, re-read, position, append', () => step('btape-test'));
  test('btape autochanger: mtx-changer unloads and loads through our changer', () => step('btape-autochanger'));
  test('btape fill: writes to the end of the medium, end-of-volume label and filemarks after early warning, last block re-read', () => step('btape-fill'));
  test('btape fill, simple test to the end: the first 10000 records and the last block re-read', () => step('btape-unfill'));
  test('amtapetype: a sensible capacity and block size', () => step('amtapetype'));
  test('stenc sets a 256-bit key', () => step('stenc-set'));
  test('data written encrypted reads back with the key', () => step('stenc-roundtrip'));
  test('stenc --detail: encrypting, algorithm 1, volume encrypted and decryptable', () => step('stenc-status'));
  test('without the key the read fails with DATA PROTECT / UNABLE TO DECRYPT DATA', () => step('stenc-keyless'));
  test('SIGTERM exits 0', () => step('teardown'));
});
