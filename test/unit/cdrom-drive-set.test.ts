// A folder of ISOs as a set of drives (CdromDriveSet) on a temp folder: drives and LUNs in name
// order, drive names, a new image handed to the sink as a new LUN, a removed image ejected (LUN
// kept, NOT READY 3A/02), its return loaded (28/00), a replaced image swapped, and LUN numbers
// kept across a restart even when a new image sorts first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deviceDefaults } from '../../src/host/config.ts';
import { CdromDriveSet, driveNameFor } from '../../src/handlers/cdrom/drive-set.ts';
import { folderSetTarget } from '../../src/host/folder-sets.ts';
import type { CdromLogicalUnit } from '../../src/handlers/cdrom/create.ts';
import { assertCheck, assertGood, clearUa, nexus, send, tempDir } from '../helpers/scsi-harness.ts';

const TUR = [0, 0, 0, 0, 0, 0];
const read10 = (lba: number, n: number) => [0x28, 0, lba >>> 24, (lba >> 16) & 0xff, (lba >> 8) & 0xff, lba & 0xff, 0, n >> 8, n & 0xff, 0];
/** An "ISO" of `blocks` 2048-byte blocks whose block i starts with `tag` and i. */
function image(tag: string, blocks: number): Buffer {
  const b = Buffer.alloc(blocks * 2048);
  for (let i = 0; i < blocks; i++) b.write(`${tag}:${i}`, i * 2048, 'ascii');
  return b;
}
const old = async (path: string, data: Buffer) => {
  await writeFile(path, data);
  const { utimes } = await import('node:fs/promises');
  await utimes(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
};

test('drive names: SET-STEM; changed or long names get a hash of the file name', () => {
  assert.equal(driveNameFor('dvds', 'debian-12.5.0-amd64-DVD-1.iso'), 'dvds-debian-12.5.0-amd64-DVD-1');
  assert.equal(driveNameFor('dvds', 'win.IMG'), 'dvds-win');
  const spaced = driveNameFor('dvds', 'my disc.iso');
  assert.match(spaced, /^dvds-my_disc-[0-9a-f]{4}$/);
  assert.notEqual(spaced, driveNameFor('dvds', 'my_disc.iso'), 'a cleaned name does not collide with the clean one');
  const long = driveNameFor('dvds', `${'x'.repeat(80)}.iso`);
  assert.equal(long.length, 64);
  assert.match(long, /^[A-Za-z0-9][A-Za-z0-9._-]*$/);
});

test('CdromDriveSet: initial drives, new LUN through the sink, eject on removal, reload on return, swap on replace', async () => {
  const { dir, cleanup } = await tempDir();
  const logs: string[] = [];
  const log = (l: string, m: string) => logs.push(`${l}: ${m}`);
  await old(join(dir, 'b.iso'), image('B', 4));
  await old(join(dir, 'a.iso'), image('A', 3));
  await writeFile(join(dir, '.hidden.iso'), image('H', 1));
  await writeFile(join(dir, 'readme.txt'), 'not a disc');
  const config = { ...deviceDefaults('dvds', 'cdrom'), file: dir, vendor: 'ACME', options: { settleMs: 0 } };
  let set = await CdromDriveSet.open({ config, log });
  const added: Array<[number, CdromLogicalUnit]> = [];
  const closers: CdromLogicalUnit[] = [...set.drives.values()];
  try {
    assert.deepEqual([...set.drives].map(([lun, lu]) => [lun, lu.name, lu.drive.disc?.path]), [
      [0, 'dvds-a', join(dir, 'a.iso')],
      [1, 'dvds-b', join(dir, 'b.iso')],
    ]);
    const [a, b] = [set.drives.get(0)!, set.drives.get(1)!];
    const n = nexus(1);
    await clearUa(a, n);
    await clearUa(b, n);
    assert.equal(assertGood(await send(b, read10(2, 1), n)).toString('ascii', 0, 3), 'B:2');
    const inq = assertGood(await send(a, [0x12, 0, 0, 0, 96, 0], n));
    assert.equal(inq[0], 0x05);
    assert.equal(inq.toString('ascii', 8, 12), 'ACME', 'set-level vendor applies to every drive');
    assert.deepEqual(JSON.parse(await readFile(join(dir, '.dvds.luns.json'), 'utf8')), { version: 1, luns: { 'a.iso': 0, 'b.iso': 1 } });

    // run time: events as the watcher delivers them
    set.start({
      addLun: async (lun, lu) => {
        added.push([lun, lu]);
        closers.push(lu);
      },
    });
    await old(join(dir, 'c.iso'), image('C', 2));
    await set.rescan();
    assert.deepEqual(added.map(([lun, lu]) => [lun, lu.name]), [[2, 'dvds-c']]);
    assert.equal(set.drives.get(2), added[0]![1]);
    await clearUa(added[0]![1], n);
    assert.equal(assertGood(await send(added[0]![1], read10(1, 1), n)).toString('ascii', 0, 3), 'C:1');

    // removal: the disc leaves the drive, the LUN stays
    await rm(join(dir, 'a.iso'));
    await set.rescan();
    assertCheck(await send(a, TUR, n), 2, 0x3a, 0x02);
    assert.equal(set.drives.get(0), a);
    const ev = assertGood(await send(a, [0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0], n));
    assert.equal(ev[4], 3, 'media removal event');
    // the image returns: loaded again, 28/00
    await old(join(dir, 'a.iso'), image('A2', 3));
    await set.rescan();
    assertCheck(await send(a, TUR, n), 6, 0x28, 0x00);
    assert.equal(assertGood(await send(a, read10(0, 1), n)).toString('ascii', 0, 4), 'A2:0');
    // replaced under the same name (new inode), while an initiator prevents removal: swapped anyway
    assertGood(await send(b, [0x1e, 0, 0, 0, 1, 0], n));
    await old(join(dir, 'b.new'), image('B2', 5));
    await rename(join(dir, 'b.new'), join(dir, 'b.iso'));
    await set.rescan();
    assertCheck(await send(b, TUR, n), 6, 0x28, 0x00);
    assert.equal(assertGood(await send(b, read10(4, 1), n)).toString('ascii', 0, 4), 'B2:4');
    assert.match(logs.join('\n'), /dvds-b: .*b\.iso changed while an initiator prevents removal; swapping anyway/);
    // a drive loaded by hand with another image is left alone when its own image comes and goes
    await a.media({ action: 'swap', file: join(dir, 'c.iso'), force: true });
    await rm(join(dir, 'a.iso'));
    await set.rescan();
    assert.equal(a.drive.disc?.path, join(dir, 'c.iso'));
  } finally {
    await set.close();
    await Promise.all(closers.map((lu) => lu.close()));
  }
  // restart: a new image that sorts first does not renumber the others; a.iso (gone) keeps its number reserved
  await old(join(dir, '0first.iso'), image('F', 1));
  set = await CdromDriveSet.open({ config, log });
  try {
    assert.deepEqual([...set.drives].sort((x, y) => x[0] - y[0]).map(([lun, lu]) => [lun, lu.name]), [
      [1, 'dvds-b'],
      [2, 'dvds-c'],
      [3, 'dvds-0first'],
    ]);
  } finally {
    await set.close();
    await Promise.all([...set.drives.values()].map((lu) => lu.close()));
    await cleanup();
  }
});

test('CdromDriveSet: an unwritable LUN map is a warning, not a failure', async () => {
  const { dir, cleanup } = await tempDir();
  const logs: string[] = [];
  await old(join(dir, 'a.iso'), image('A', 1));
  const config = { ...deviceDefaults('ro', 'cdrom'), file: dir, options: { state: join(dir, 'no-such-dir', 'luns.json') } };
  const set = await CdromDriveSet.open({ config, log: (l, m) => logs.push(`${l}: ${m}`) });
  try {
    assert.deepEqual([...set.drives.keys()], [0]);
    assert.match(logs.join('\n'), /warn: cannot save LUN numbers to .*luns\.json/);
  } finally {
    await set.close();
    await Promise.all([...set.drives.values()].map((lu) => lu.close()));
    await cleanup();
  }
});

test('a folder set fills the one target that maps it: mapped twice or sharing a target is a start-up error', () => {
  const dev = { ...deviceDefaults('dvds', 'cdrom'), file: '/isos' };
  const t = (iqn: string, devices: string[]) => ({ iqn, luns: devices.map((device, lun) => ({ lun, device })) });
  assert.equal(folderSetTarget(dev, [t('iqn.2026-11.x:a', ['dvds']), t('iqn.2026-11.x:b', ['disk'])]), 'iqn.2026-11.x:a');
  assert.throws(() => folderSetTarget(dev, [t('iqn.2026-11.x:a', ['disk', 'dvds'])]), /dvds: a folder of images \(\/isos\) fills its target iqn\.2026-11\.x:a .*map no other LUN there/);
  assert.throws(() => folderSetTarget(dev, [t('iqn.2026-11.x:a', ['dvds']), t('iqn.2026-11.x:b', ['dvds'])]), /must be mapped by exactly one target, not 2/);
});
