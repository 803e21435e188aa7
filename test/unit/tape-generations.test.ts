// LTO generation rules through raw CDBs: an LTO-8 drive reads and writes LTO-7 and LTO-8 and
// refuses LTO-6 (MEDIUM ERROR, INCOMPATIBLE MEDIUM INSTALLED); up to LTO-7 a drive reads two
// generations back and writes one (DATA PROTECT, CANNOT WRITE MEDIUM - INCOMPATIBLE FORMAT, and
// the WP bit); REPORT DENSITY SUPPORT lists what the drive reads with WRTOK on what it writes; a
// library config gives its drives mixed generations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Cartridge } from '../../src/media/cartridge.ts';
import { compatibility, densityByGeneration } from '../../src/media/density.ts';
import { createTape } from '../../src/handlers/tape/index.ts';
import { deviceDefaults, parseConfigFile } from '../../src/host/config.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import { assertCheck, assertGood, clearUa, nexus, send, tempDir } from '../helpers/scsi-harness.ts';

const write6 = (len: number) => [0x0a, 0, 0, (len >> 8) & 0xff, len & 0xff, 0];
const read6 = (len: number) => [0x08, 0, 0, (len >> 8) & 0xff, len & 0xff, 0];

async function driveWith(driveGen: number, cartGen: number) {
  const { dir, cleanup } = await tempDir();
  const file = join(dir, `G0000${cartGen}L${cartGen}`);
  await Cartridge.create(file, { barcode: `G0000${cartGen}L${cartGen}`, capacity: 100e6, density: densityByGeneration(cartGen)!.code });
  const lu = (await createTape({ ...deviceDefaults(`gen${driveGen}x${cartGen}`, 'tape'), file, options: { generation: driveGen } }, { log: () => undefined })) as ScsiLogicalUnit;
  const a = nexus(1);
  await clearUa(lu, a);
  return { lu, a, cleanup: async () => { await lu.close(); await cleanup(); } };
}

test('the LTO compatibility table', () => {
  assert.equal(compatibility(8, 8), 'read-write');
  assert.equal(compatibility(8, 7), 'read-write');
  assert.equal(compatibility(8, 6), 'none');
  assert.equal(compatibility(9, 8), 'read-write');
  assert.equal(compatibility(9, 7), 'none');
  assert.equal(compatibility(7, 5), 'read-only');
  assert.equal(compatibility(6, 4), 'read-only');
  assert.equal(compatibility(6, 3), 'none');
  assert.equal(compatibility(5, 6), 'none', 'newer media never');
});

test('an LTO-8 drive writes and reads LTO-7 and LTO-8 cartridges, and refuses LTO-6', async () => {
  for (const g of [7, 8]) {
    const t = await driveWith(8, g);
    try {
      assertGood(await send(t.lu, write6(512), t.a, { dataOut: Buffer.alloc(512, g) }));
      assertGood(await send(t.lu, [0x01, 0, 0, 0, 0, 0], t.a));
      assert.deepEqual(assertGood(await send(t.lu, read6(512), t.a)), Buffer.alloc(512, g));
    } finally {
      await t.cleanup();
    }
  }
  const t = await driveWith(8, 6);
  try {
    assertCheck(await send(t.lu, read6(512), t.a), 3, 0x30, 0x00);
    assertCheck(await send(t.lu, write6(512), t.a, { dataOut: Buffer.alloc(512) }), 3, 0x30, 0x00);
    const rds = assertGood(await send(t.lu, [0x44, 0, 0, 0, 0, 0, 0, 0x10, 0, 0], t.a));
    assert.deepEqual([rds[4], rds[4 + 52]], [0x5c, 0x5e], 'LTO-7 and LTO-8 densities');
    assert.deepEqual([rds[6]! & 0x80, rds[6 + 52]! & 0x80], [0x80, 0x80], 'both writable');
  } finally {
    await t.cleanup();
  }
});

test('an LTO-7 drive reads LTO-5 but does not write it: DATA PROTECT 30/05 and the WP bit', async () => {
  const t = await driveWith(7, 5);
  try {
    assertCheck(await send(t.lu, read6(512), t.a), 8, 0x00, 0x05); // readable: blank, EOD
    assertCheck(await send(t.lu, write6(512), t.a, { dataOut: Buffer.alloc(512) }), 7, 0x30, 0x05);
    const ms = assertGood(await send(t.lu, [0x1a, 0, 0x3f, 0, 0xff, 0], t.a));
    assert.equal(ms[2]! & 0x80, 0x80, 'WP in the device-specific parameter');
    const rds = assertGood(await send(t.lu, [0x44, 0, 0, 0, 0, 0, 0, 0x10, 0, 0], t.a));
    assert.deepEqual([rds[4], rds[4 + 52], rds[4 + 104]], [0x58, 0x5a, 0x5c]);
    assert.equal(rds[6]! & 0x80, 0, 'LTO-5: no WRTOK');
  } finally {
    await t.cleanup();
  }
});

test('a library of mixed generations: one generation per drive', () => {
  const cfg = parseConfigFile(JSON.stringify({ libraries: [{ name: 'mix', cartridges: '/c', drives: 2, generation: [8, 9] }] }), 'c.json', ['tape', 'changer']);
  assert.deepEqual(
    cfg.devices.filter((d) => d.type === 'tape').map((d) => d.options?.generation),
    [8, 9],
  );
  assert.throws(() => parseConfigFile(JSON.stringify({ libraries: [{ name: 'mix', cartridges: '/c', drives: 2, generation: [8] }] }), 'c.json', ['tape', 'changer']), /one such generation per drive/);
});
