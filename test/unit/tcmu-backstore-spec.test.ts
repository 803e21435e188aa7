// What the tcmu link asks LIO for when it creates a user backstore (src/links/tcmu/index.ts):
// dev_config, dev_size and the block and command sizes, from the logical unit's description.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { deviceDefaults } from '../../src/host/config.ts';
import { createCdromUnit } from '../../src/handlers/cdrom/create.ts';
import { IsoDisc } from '../../src/handlers/cdrom/disc.ts';
import { backstoreSpecFor } from '../../src/links/tcmu/index.ts';
import { openDisk, diskConfig, tempDir, tempImage, testLog } from '../helpers/scsi-harness.ts';

test('an empty CD drive gets a one-block dev_size: LIO would wrap 0 - block to 2^53 blocks and switch its own sense to descriptor format', async () => {
  const lu = createCdromUnit(deviceDefaults('dvd2', 'cdrom'), undefined, testLog);
  const spec = backstoreSpecFor(lu);
  assert.equal(spec.blockSize, 2048);
  assert.equal(spec.sizeBytes, 2048);
  assert.equal(spec.config, 'cdrom;-');
  assert.equal(spec.maxSectors, 512, '1 MiB commands');
});

test('a drive with a disc and a disk get their size in bytes', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const iso = await tempImage(dir, 2048 * 7, 'a.iso');
    const cd = createCdromUnit(deviceDefaults('dvd1', 'cdrom'), await IsoDisc.open(iso), testLog);
    assert.deepEqual([backstoreSpecFor(cd).sizeBytes, backstoreSpecFor(cd).config], [2048 * 7, `cdrom;${join(dir, 'a.iso')}`]);
    await cd.close();
    const disk = await openDisk(diskConfig({ file: await tempImage(dir, 1 << 20) }));
    const spec = backstoreSpecFor(disk);
    assert.deepEqual([spec.sizeBytes, spec.blockSize, spec.maxSectors, spec.cmdTimeOut], [1 << 20, 512, 2048, 30]);
    await disk.close();
  } finally {
    await cleanup();
  }
});
