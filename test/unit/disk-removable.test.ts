// Removable disk LUs: START STOP UNIT load/eject, PREVENT ALLOW MEDIUM REMOVAL per I_T nexus, the
// medium-not-present behaviour, power conditions. Raw CDBs, exact sense bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertCheck, assertGood, cdb10, cdb16, clearUa, diskConfig, nexus, openDisk, send } from '../helpers/scsi-harness.ts';

const MiB = 1 << 20;
const TUR = [0, 0, 0, 0, 0, 0];
/** START STOP UNIT: byte 1 IMMED, byte 3 modifier, byte 4 PC/NO_FLUSH/LOEJ/START. */
const ssu = (b4: number, immed = 0, b3 = 0) => [0x1b, immed, 0, b3, b4, 0];
const prevent = (on: number) => [0x1e, 0, 0, 0, on, 0];
const LOEJ = 0x02;
const START = 0x01;

async function removable() {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: MiB, removable: true }));
  const a = nexus(1);
  const b = nexus(2);
  await clearUa(lu, a);
  await clearUa(lu, b);
  return { lu, a, b };
}

test('eject and load: medium not present in between, only for medium commands', async () => {
  const { lu, a } = await removable();
  assertGood(await send(lu, ssu(LOEJ, 1), a)); // eject, IMMED
  assertCheck(await send(lu, TUR, a), 2, 0x3a, 0x00);
  assertCheck(await send(lu, cdb10(0x28, 0, 1), a), 2, 0x3a, 0x00);
  assertCheck(await send(lu, cdb10(0x2a, 0, 1), a, { dataOut: Buffer.alloc(512) }), 2, 0x3a, 0x00);
  assertCheck(await send(lu, cdb10(0x25, 0, 0), a), 2, 0x3a, 0x00);
  assertCheck(await send(lu, cdb16(0x9e, 0n, 32, 0x10), a), 2, 0x3a, 0x00);
  assertCheck(await send(lu, cdb10(0x35, 0, 1), a), 2, 0x3a, 0x00);
  assertCheck(await send(lu, [0x37, 0, 0, 0, 0, 0, 0, 0, 32, 0], a), 2, 0x3a, 0x00);
  // commands that do not need the medium still work
  assertGood(await send(lu, [0x12, 0, 0, 0, 96, 0], a));
  assertGood(await send(lu, [0x1a, 0, 0x3f, 0, 255, 0], a));
  assertGood(await send(lu, prevent(1), a)); // PREVENT works with no medium
  assertCheck(await send(lu, ssu(LOEJ | START), a), 5, 0x53, 0x02); // load refused while prevented
  assertGood(await send(lu, prevent(0), a));
  assertGood(await send(lu, ssu(LOEJ | START), a));
  assertGood(await send(lu, TUR, a)); // no 28/00: the same medium came back
  assertGood(await send(lu, cdb10(0x28, 0, 1), a));
});

test('PREVENT blocks eject from every nexus until the preventing nexus allows', async () => {
  const { lu, a, b } = await removable();
  assertGood(await send(lu, prevent(1), a));
  const r = assertCheck(await send(lu, ssu(LOEJ), a), 5, 0x53, 0x02);
  assert.equal(r.sks[0], 0, 'no field pointer');
  assertGood(await send(lu, TUR, a));
  assertCheck(await send(lu, ssu(LOEJ), b), 5, 0x53, 0x02);
  assertGood(await send(lu, prevent(0), b)); // b's ALLOW does not lift a's PREVENT
  assertCheck(await send(lu, ssu(LOEJ), b), 5, 0x53, 0x02);
  assertGood(await send(lu, prevent(1), b));
  assertGood(await send(lu, prevent(0), a));
  assertCheck(await send(lu, ssu(LOEJ), a), 5, 0x53, 0x02); // b still prevents
  assertGood(await send(lu, prevent(0), b));
  assertGood(await send(lu, ssu(LOEJ), a));
  assertCheck(await send(lu, TUR, b), 2, 0x3a, 0x00);
  assertGood(await send(lu, ssu(LOEJ | START), b));
  // PREVENT 10b/11b (MMC persistent prevent) and reserved bits are refused
  assertCheck(await send(lu, prevent(2), a), 5, 0x24, 0x00, { cdb: true, byte: 4, bit: 1 });
  assertCheck(await send(lu, prevent(0x04), a), 5, 0x24, 0x00, { cdb: true, byte: 4, bit: 2 });
});

test('PREVENT ends with LUN reset and with the loss of the preventing nexus', async () => {
  const { lu, a, b } = await removable();
  assertGood(await send(lu, prevent(1), a));
  await lu.taskManagement('lun-reset', a);
  await clearUa(lu, a);
  assertGood(await send(lu, ssu(LOEJ), a));
  assertGood(await send(lu, ssu(LOEJ | START), a));
  assertGood(await send(lu, prevent(1), a));
  await clearUa(lu, b);
  lu.nexusLost(a);
  assertGood(await send(lu, ssu(LOEJ), b));
  assertGood(await send(lu, ssu(LOEJ | START), b));
});

test('STOP without LOEJ leaves the unit ready; power conditions accepted and reported', async () => {
  const { lu, a } = await removable();
  for (const b4 of [0x00, 0x01, 0x04, 0x05]) {
    for (const immed of [0, 1]) {
      assertGood(await send(lu, ssu(b4, immed), a));
      assertGood(await send(lu, TUR, a));
    }
  }
  // POWER CONDITION != 0: START and LOEJ are ignored (no eject), every value accepted
  for (let pc = 1; pc < 16; pc++) {
    assertGood(await send(lu, ssu((pc << 4) | LOEJ, 1), a));
    assertGood(await send(lu, TUR, a));
  }
  // STANDBY by command: REQUEST SENSE says so (NO SENSE 5E/04); a READ makes the LU active again
  assertGood(await send(lu, ssu(0x30), a));
  let rs = assertGood(await send(lu, [0x03, 0, 0, 0, 18, 0], a));
  assert.deepEqual([rs[2]! & 0x0f, rs[12], rs[13]], [0, 0x5e, 0x04]);
  assertGood(await send(lu, cdb10(0x28, 0, 1), a));
  rs = assertGood(await send(lu, [0x03, 0, 0, 0, 18, 0], a));
  assert.deepEqual([rs[2]! & 0x0f, rs[12], rs[13]], [0, 0, 0]);
  assertGood(await send(lu, ssu(0x20), a));
  rs = assertGood(await send(lu, [0x03, 0, 0, 0, 18, 0], a));
  assert.deepEqual([rs[12], rs[13]], [0x5e, 0x03]);
  assertGood(await send(lu, ssu(START), a));
  rs = assertGood(await send(lu, [0x03, 0, 0, 0, 18, 0], a));
  assert.deepEqual([rs[12], rs[13]], [0, 0]);
  // POWER CONDITION MODIFIER must be 0 with START_VALID; reserved bits refused
  assertCheck(await send(lu, ssu(START, 0, 0x01), a), 5, 0x24, 0x00, { cdb: true, byte: 3, bit: 3 });
  assertCheck(await send(lu, ssu(0x08), a), 5, 0x24, 0x00, { cdb: true, byte: 4, bit: 3 });
});

test('non-removable disk: LOEJ refused, no PREVENT ALLOW, RMB 0', async () => {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: MiB }));
  const a = nexus(1);
  await clearUa(lu, a);
  assertCheck(await send(lu, ssu(LOEJ), a), 5, 0x24, 0x00, { cdb: true, byte: 4, bit: 1 });
  assertCheck(await send(lu, prevent(1), a), 5, 0x20, 0x00);
  assertGood(await send(lu, ssu(0), a));
  assertGood(await send(lu, TUR, a));
  const inq = assertGood(await send(lu, [0x12, 0, 0, 0, 96, 0], a));
  assert.equal(inq[1]! & 0x80, 0);
});
