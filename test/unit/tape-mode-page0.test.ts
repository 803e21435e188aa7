// MODE SENSE page code 00h on a tape drive: the header and block descriptor alone, which is how
// Linux st learns the block length, density and write protection at every open (st.c
// check_tape: MODE SENSE(6), page 0, allocation length 12). Refused, st falls back to variable
// blocks at the next open: `mt setblk 512` reported success and `mt status` then said "Tape block
// size 0 bytes" (seen through the real SCST in test/vm/scst-media.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Cartridge } from '../../src/media/cartridge.ts';
import { createTape } from '../../src/handlers/tape/index.ts';
import { deviceDefaults } from '../../src/host/config.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import { assertCheck, assertGood, clearUa, diskConfig, nexus, openDisk, send, tempDir } from '../helpers/scsi-harness.ts';

/** st's own CDB: MODE SENSE(6), page 0, allocation length 12 */
const ST_MODE_SENSE = [0x1a, 0, 0, 0, 12, 0];

async function tape() {
  const { dir, cleanup } = await tempDir();
  const file = join(dir, 'A00001L6');
  await Cartridge.create(file, { barcode: 'A00001L6', capacity: 100e6 });
  const lu = (await createTape({ ...deviceDefaults('tape0', 'tape'), file }, { log: () => undefined })) as ScsiLogicalUnit;
  const a = nexus(1);
  await clearUa(lu, a);
  return { lu, a, cleanup: async () => { await lu.close(); await cleanup(); } };
}

test("tape: MODE SENSE(6) page 0 is the header and block descriptor (st's check_tape)", async () => {
  const t = await tape();
  try {
    let d = assertGood(await send(t.lu, ST_MODE_SENSE, t.a));
    assert.equal(d.length, 12);
    assert.deepEqual([...d.subarray(0, 4)], [11, 0, 0x10, 8]); // mode data length, medium type, buffered mode 1, one descriptor
    assert.equal(d[4], 0x40, 'density code of the cartridge');
    assert.equal(d.readUIntBE(9, 3), 0, 'variable block mode');
    // what `mt setblk 512` sends, then what the next open reads
    const ms = Buffer.from([0, 0, 0x10, 8, 0, 0, 0, 0, 0, 0, 0x02, 0x00]);
    assertGood(await send(t.lu, [0x15, 0x10, 0, 0, ms.length, 0], t.a, { dataOut: ms }));
    d = assertGood(await send(t.lu, ST_MODE_SENSE, t.a));
    assert.equal(d.readUIntBE(9, 3), 512);
    // DBD: the header alone; MODE SENSE(10) the same
    assert.deepEqual([...assertGood(await send(t.lu, [0x1a, 0x08, 0, 0, 255, 0], t.a))], [3, 0, 0x10, 0]);
    d = assertGood(await send(t.lu, [0x5a, 0, 0, 0, 0, 0, 0, 0, 255, 0], t.a));
    assert.equal(d.length, 16);
    assert.equal(d.readUInt16BE(6), 8);
    assert.equal(d.readUIntBE(13, 3), 512);
    // saved values are still not supported, and a subpage of page 0 does not exist
    assertCheck(await send(t.lu, [0x1a, 0, 0xc0, 0, 12, 0], t.a), 5, 0x39, 0);
    assertCheck(await send(t.lu, [0x1a, 0, 0, 1, 12, 0], t.a), 5, 0x24, 0);
  } finally {
    await t.cleanup();
  }
});

test('disk: MODE SENSE page 0 is still refused (no vendor-specific page)', async () => {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20 }));
  const n = nexus(1);
  await clearUa(lu, n);
  assertCheck(await send(lu, [0x1a, 0, 0, 0, 12, 0], n), 5, 0x24, 0);
});
