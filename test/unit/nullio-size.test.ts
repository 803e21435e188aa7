// nullio's size: FILE gives it (SCST's fileio_tgt -n), or FILE is a size; a typo or a missing
// file is an error, never a silent 1 TiB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { truncate, writeFile } from 'node:fs/promises';
import { buildProgram, buildServeConfig, type CliOptions } from '../../src/cli/main.ts';
import nullio from '../../src/handlers/nullio.ts';
import { createDisk } from '../../src/handlers/disk/create.ts';
import { diskConfig, tempDir } from '../helpers/scsi-harness.ts';

const TYPES = ['disk', 'nullio'];
const host = { log: () => undefined };

async function config(argv: string[]) {
  const p = buildProgram().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  p.parse(argv, { from: 'user' });
  return buildServeConfig(p.args, p.opts<CliOptions>(), TYPES);
}

test('-n and --type nullio take a size in place of FILE', async () => {
  assert.equal((await config(['-n', 'null2', '10G'])).devices[0]!.sizeBytes, 10 * 2 ** 30);
  assert.equal((await config(['--type', 'nullio', 'null1', '1T'])).devices[0]!.sizeBytes, 2 ** 40);
});

test('a size typo is an error naming the device and the text', async () => {
  await assert.rejects(config(['--type', 'nullio', 'n6', '10X']), /command line: device n6: "10X" is neither a size \(bytes, or 64M, 10G, 1T\) nor an existing file/);
  await assert.rejects(config(['-n', 'n6', '10X']), /device n6: "10X" is neither a size/);
  await assert.rejects(config(['-n', 'n7', '-']), /device n7: "-" is neither a size/);
});

test('FILE gives the size of a nullio device, for -n and --type nullio alike', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const img = join(dir, '32MiB.img');
    await writeFile(img, '');
    await truncate(img, 32 << 20);
    const viaFlag = (await config(['-n', 'n3', img])).devices[0]!;
    const viaType = (await config(['--type', 'nullio', 'n5', img])).devices[0]!;
    const a = await createDisk(viaFlag, host);
    const b = await nullio.create(viaType, host);
    try {
      assert.equal(a.describe().sizeBytes, 32 << 20);
      assert.equal(a.describe().backing, 'nullio', 'the file is not served');
      assert.equal(b.describe().sizeBytes, 32 << 20);
    } finally {
      await a.close();
      await b.close();
    }
  } finally {
    await cleanup();
  }
});

test('a nullio FILE that does not exist is an error, not 1 TiB', async () => {
  await assert.rejects(createDisk(diskConfig({ name: 'n4', nullio: true, file: '/no/such/file' }), host), /cannot open \/no\/such\/file: no such file or directory \(ENOENT\)/);
  await assert.rejects(nullio.create(diskConfig({ name: 'n4', type: 'nullio', file: '/no/such/file' }), host), /ENOENT/);
});
