// SPC-2 RESERVE/RELEASE(6)/(10): conflicts with other I_T nexuses, release on resets and nexus
// loss, and the SPC-4 §5.9.3 interplay with persistent reservations (CRH = 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertCheck, assertGood, clearUa, diskConfig, nexus, openDisk, send } from '../helpers/scsi-harness.ts';
import type { Nexus } from '../../src/scsi/command.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';

const CONFLICT = 0x18;
const RESERVE6 = [0x16, 0, 0, 0, 0, 0];
const RELEASE6 = [0x17, 0, 0, 0, 0, 0];
const RESERVE10 = [0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const RELEASE10 = [0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const TUR = [0, 0, 0, 0, 0, 0];
const MODE_SENSE6 = [0x1a, 0, 0x3f, 0, 255, 0];
const INQUIRY = [0x12, 0, 0, 0, 36, 0];
const READ10 = [0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0];

async function setup(): Promise<{ lu: ScsiLogicalUnit; a: Nexus; b: Nexus }> {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20 }));
  const a = nexus(1);
  const b = nexus(2);
  await clearUa(lu, a);
  await clearUa(lu, b);
  return { lu, a, b };
}

const registerIgnore = (lu: ScsiLogicalUnit, nx: Nexus, key: bigint) => {
  const p = Buffer.alloc(24);
  p.writeBigUInt64BE(key, 8);
  return send(lu, [0x5f, 6, 0, 0, 0, 0, 0, 0, 24, 0], nx, { dataOut: p });
};

test('RESERVE(6): the holder keeps access, others get RESERVATION CONFLICT except INQUIRY & co', async () => {
  const { lu, a, b } = await setup();
  assertGood(await send(lu, RESERVE6, a));
  assertGood(await send(lu, RESERVE6, a)); // again: fine
  assert.equal((await send(lu, RESERVE6, b)).status, CONFLICT);
  assertGood(await send(lu, RELEASE6, b)); // not the holder: no effect
  assertGood(await send(lu, MODE_SENSE6, a));
  assert.equal((await send(lu, MODE_SENSE6, b)).status, CONFLICT);
  assert.equal((await send(lu, TUR, b)).status, CONFLICT);
  assert.equal((await send(lu, READ10, b)).status, CONFLICT);
  assert.equal((await send(lu, [0x5e, 0, 0, 0, 0, 0, 0, 0, 8, 0], b)).status, CONFLICT, 'PR IN');
  assertGood(await send(lu, INQUIRY, b));
  assertGood(await send(lu, [0x03, 0, 0, 0, 18, 0], b));
  assert.notEqual((await send(lu, [0x1e, 0, 0, 0, 0, 0], b)).status, CONFLICT); // PREVENT ALLOW, allow
  assert.equal((await send(lu, RESERVE10, b)).status, CONFLICT);
  assertGood(await send(lu, RELEASE6, a));
  assertGood(await send(lu, RESERVE10, b));
  assert.equal((await send(lu, READ10, a)).status, CONFLICT);
  assertGood(await send(lu, RELEASE10, b));
  assertGood(await send(lu, READ10, a));
});

test('RESERVE(10) third-party and RESERVE(6) extents are refused with INVALID FIELD IN CDB', async () => {
  const { lu, a } = await setup();
  assertCheck(await send(lu, [0x56, 0x10, 0, 0, 0, 0, 0, 0, 0, 0], a), 5, 0x24, 0, { cdb: true, byte: 1, bit: 4 });
  assertCheck(await send(lu, [0x56, 0x02, 0, 0, 0, 0, 0, 0, 0, 0], a), 5, 0x24, 0, { cdb: true, byte: 1, bit: 1 });
  assertCheck(await send(lu, [0x16, 0x01, 0, 0, 0, 0], a), 5, 0x24, 0, { cdb: true, byte: 1, bit: 0 });
});

for (const fn of ['lun-reset', 'target-warm-reset', 'target-cold-reset'] as const) {
  test(`RESERVE(6) is released by ${fn}`, async () => {
    const { lu, a, b } = await setup();
    assertGood(await send(lu, RESERVE6, a));
    await lu.taskManagement(fn, a);
    await clearUa(lu, b);
    assertGood(await send(lu, RESERVE6, b));
  });
}

test('RESERVE(6) is released by I_T nexus loss of the holder only', async () => {
  const { lu, a, b } = await setup();
  assertGood(await send(lu, RESERVE6, a));
  lu.nexusLost(b);
  await send(lu, [0x03, 0, 0, 0, 18, 0], b); // REQUEST SENSE takes the 29/07 (TUR would conflict)
  assert.equal((await send(lu, RESERVE6, b)).status, CONFLICT);
  lu.nexusLost(a);
  assertGood(await send(lu, RESERVE6, b));
  // abort/clear task set do not release
  await lu.taskManagement('clear-task-set', a);
  await send(lu, [0x03, 0, 0, 0, 18, 0], a);
  assert.equal((await send(lu, RESERVE6, a)).status, CONFLICT);
});

test('persistent reservations vs RESERVE/RELEASE (SPC-4 §5.9.3, CRH = 1)', async () => {
  const { lu, a, b } = await setup();
  assertGood(await registerIgnore(lu, a, 1n));
  // registrations exist: RESERVE/RELEASE from a non-holder conflict
  assert.equal((await send(lu, RESERVE6, a)).status, CONFLICT);
  assert.equal((await send(lu, RESERVE6, b)).status, CONFLICT);
  assert.equal((await send(lu, RELEASE6, b)).status, CONFLICT);
  const p = Buffer.alloc(24);
  p.writeBigUInt64BE(1n, 0);
  assertGood(await send(lu, [0x5f, 1, 0x01, 0, 0, 0, 0, 0, 24, 0], a, { dataOut: p })); // RESERVE WE
  // the persistent reservation holder: GOOD without effect
  assertGood(await send(lu, RESERVE6, a));
  assertGood(await send(lu, RELEASE10, a));
  assert.equal((await send(lu, RESERVE10, b)).status, CONFLICT);
  // the persistent reservation is still there
  const d = assertGood(await send(lu, [0x5e, 1, 0, 0, 0, 0, 0, 0, 64, 0], b));
  assert.equal(d.readUInt32BE(4), 16);
  // an SPC-2 reservation keeps PR OUT from other nexuses out
  const { lu: lu2, a: x, b: y } = await setup();
  assertGood(await send(lu2, RESERVE6, x));
  assert.equal((await registerIgnore(lu2, y, 5n)).status, CONFLICT);
  assertGood(await registerIgnore(lu2, x, 6n));
});
