// WORM cartridges through raw CDBs: the medium configuration page's WORMM bit and the MAM medium
// type say WORM; an overwrite is DATA PROTECT 30/0C; ALLOW OVERWRITE (82h) for the current
// position lets the next write replace trailing filemarks only (the application appending to its
// last file), a position that is not the current one is ILLEGAL REQUEST 3B/00, and data blocks
// stay protected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Cartridge } from '../../src/media/cartridge.ts';
import { createTape } from '../../src/handlers/tape/index.ts';
import { deviceDefaults } from '../../src/host/config.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import { assertCheck, assertGood, clearUa, nexus, send, tempDir } from '../helpers/scsi-harness.ts';

const write6 = (len: number) => [0x0a, 0, 0, (len >> 8) & 0xff, len & 0xff, 0];
const wfm = (n: number) => [0x10, 0, 0, 0, n, 0];
const spaceFm = (n: number) => [0x11, 0x01, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, 0];
const spaceBlocks = (n: number) => [0x11, 0x00, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, 0];
function allowOverwrite(mode: number, id: number): number[] {
  const b = Buffer.alloc(16);
  b[0] = 0x82;
  b[2] = mode;
  b.writeBigUInt64BE(BigInt(id), 4);
  return [...b];
}

test('WORM: recognisable, overwrite refused, ALLOW OVERWRITE appends over trailing filemarks only', async () => {
  const { dir, cleanup } = await tempDir();
  const file = join(dir, 'W00001L9');
  await Cartridge.create(file, { barcode: 'W00001L9', capacity: 100e6, worm: true });
  const lu = (await createTape({ ...deviceDefaults('wtape', 'tape'), file }, { log: () => undefined })) as ScsiLogicalUnit;
  const a = nexus(1);
  try {
    await clearUa(lu, a);
    const page = assertGood(await send(lu, [0x1a, 0x08, 0x1d, 0, 0xff, 0], a));
    assert.equal(page[4 + 2]! & 0x01, 1, 'WORMM in mode page 1Dh');
    const mam = assertGood(await send(lu, [0x8c, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x08, 0, 0, 0x10, 0, 0, 0], a));
    assert.deepEqual([mam.readUInt16BE(4), mam[9]], [0x0408, 0x80], 'MAM MEDIUM TYPE: WORM');
    for (let i = 0; i < 3; i++) assertGood(await send(lu, write6(512), a, { dataOut: Buffer.alloc(512, i) }));
    assertGood(await send(lu, wfm(2), a)); // objects 3 and 4; EOD at 5
    assertGood(await send(lu, spaceFm(-1 & 0xffffff), a)); // BOP side of the last filemark: 4
    assertCheck(await send(lu, write6(512), a, { dataOut: Buffer.alloc(512, 9) }), 7, 0x30, 0x0c);
    assertCheck(await send(lu, allowOverwrite(1, 3), a), 5, 0x3b, 0x00);
    assertCheck(await send(lu, allowOverwrite(2, 4), a), 5, 0x24, 0x00, { cdb: true, byte: 2, bit: 3 });
    assertGood(await send(lu, allowOverwrite(1, 4), a));
    assertGood(await send(lu, write6(512), a, { dataOut: Buffer.alloc(512, 9) }));
    const pos = assertGood(await send(lu, [0x34, 0x06, 0, 0, 0, 0, 0, 0, 0, 0], a));
    assert.deepEqual([Number(pos.readBigUInt64BE(8)), Number(pos.readBigUInt64BE(16))], [5, 1], 'appended after the first filemark');
    // the permission was used up, and data blocks are never overwritable
    assertGood(await send(lu, spaceBlocks(-1 & 0xffffff), a));
    assertCheck(await send(lu, write6(512), a, { dataOut: Buffer.alloc(512, 7) }), 7, 0x30, 0x0c);
    assertGood(await send(lu, allowOverwrite(1, 4), a));
    assertCheck(await send(lu, write6(512), a, { dataOut: Buffer.alloc(512, 7) }), 7, 0x30, 0x0c);
  } finally {
    await lu.close();
    await cleanup();
  }
});
