// Persistent reservations (SPC-4 §5.9, PERSISTENT RESERVE IN/OUT) driven with raw CDBs from
// several I_T nexuses against a disk LU: every service action and type, conflicts, UAs, APTPL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { assertCheck, assertGood, clearUa, diskConfig, nexus, openDisk, send, tempDir, tempImage, testLog } from '../helpers/scsi-harness.ts';
import { createDiskUnit, openStore } from '../../src/handlers/disk/create.ts';
import { LuReservations, reservationFileFor } from '../../src/scsi/reservations/index.ts';
import { iscsiTransportId } from '../../src/links/iscsi/nexus.ts';
import type { Nexus } from '../../src/scsi/command.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import type { DeviceConfig } from '../../src/handlers/contract.ts';

const WE = 1, EA = 3, WERO = 5, EARO = 6, WEAR = 7, EAAR = 8;
const CONFLICT = 0x18;
const TUR = [0, 0, 0, 0, 0, 0];
const READ10 = [0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0];
const WRITE10 = [0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0];
const MODE_SENSE6 = [0x1a, 0, 0x3f, 0, 255, 0];

const prin = (sa: number, alloc = 8192): number[] => [0x5e, sa, 0, 0, 0, 0, 0, alloc >> 8, alloc & 0xff, 0];
const prout = (sa: number, type = 0, len = 24, scope = 0): number[] => [0x5f, sa, (scope << 4) | type, 0, 0, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, 0];

function params(rk: bigint, sark = 0n, flags = 0): Buffer {
  const p = Buffer.alloc(24);
  p.writeBigUInt64BE(rk, 0);
  p.writeBigUInt64BE(sark, 8);
  p[20] = flags;
  return p;
}

/** A nexus with a real iSCSI TransportID and port names (REGISTER AND MOVE, READ FULL STATUS). */
function iscsiNexus(n: number, initiator = `iqn.2026-01.test:init${n}`): Nexus {
  const isid = Buffer.from([0x23, 0xd0, 0, 0, 0, n]);
  const initiatorPort = `${initiator},i,0x${isid.toString('hex')}`;
  const targetPort = 'iqn.2026-11.org.fileio-tgt:disk1,t,0x0001';
  return { id: `${initiatorPort}|${targetPort}`, initiatorPort, targetPort, relativeTargetPort: 1, transportId: iscsiTransportId(initiator, isid) };
}

const nullDisk = () => openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20 }));

async function setup(count = 3, lu?: ScsiLogicalUnit): Promise<{ lu: ScsiLogicalUnit; n: Nexus[] }> {
  const unit = lu ?? (await nullDisk());
  const n = Array.from({ length: count }, (_, i) => iscsiNexus(i + 1));
  for (const x of n) await clearUa(unit, x);
  return { lu: unit, n };
}

async function out(lu: ScsiLogicalUnit, nx: Nexus, sa: number, p: Buffer, type = 0, scope = 0) {
  return send(lu, prout(sa, type, p.length, scope), nx, { dataOut: p });
}
const register = (lu: ScsiLogicalUnit, nx: Nexus, key: bigint, flags = 0) => out(lu, nx, 6, params(0n, key, flags));
const reserve = (lu: ScsiLogicalUnit, nx: Nexus, key: bigint, type: number) => out(lu, nx, 1, params(key), type);
const release = (lu: ScsiLogicalUnit, nx: Nexus, key: bigint, type: number) => out(lu, nx, 2, params(key), type);

async function keys(lu: ScsiLogicalUnit, nx: Nexus): Promise<{ gen: number; keys: bigint[] }> {
  const d = assertGood(await send(lu, prin(0), nx));
  const len = d.readUInt32BE(4);
  const ks: bigint[] = [];
  for (let off = 8; off < 8 + len; off += 8) ks.push(d.readBigUInt64BE(off));
  return { gen: d.readUInt32BE(0), keys: ks };
}

async function reservation(lu: ScsiLogicalUnit, nx: Nexus): Promise<{ key: bigint; type: number } | undefined> {
  const d = assertGood(await send(lu, prin(1), nx));
  if (d.readUInt32BE(4) === 0) return undefined;
  assert.equal(d.readUInt32BE(4), 16);
  return { key: d.readBigUInt64BE(8), type: d[21]! & 0x0f };
}

/** Asserts the pending UAs of a nexus (in order) and consumes them. */
async function expectUas(lu: ScsiLogicalUnit, nx: Nexus, codes: Array<[number, number]>): Promise<void> {
  const pending = lu.ua.pending(nx.id).map((c) => [c.asc, c.ascq]);
  assert.deepEqual(pending, codes, `UAs of ${nx.initiatorPort}`);
  for (const [asc, ascq] of codes) assertCheck(await send(lu, TUR, nx), 6, asc, ascq);
}

test('PR IN: READ KEYS, READ RESERVATION, REPORT CAPABILITIES, READ FULL STATUS, allocation length', async () => {
  const { lu, n } = await setup(2);
  const [a, b] = n as [Nexus, Nexus];
  const k0 = await keys(lu, a);
  assert.deepEqual(k0.keys, []);
  assertGood(await register(lu, a, 0xaan));
  assertGood(await register(lu, b, 0xbbn, 0x04)); // ALL_TG_PT
  const k = await keys(lu, a);
  assert.deepEqual(k.keys, [0xaan, 0xbbn]);
  assert.equal(k.gen, k0.gen + 2);
  assert.equal(await reservation(lu, a), undefined);
  assertGood(await reserve(lu, a, 0xaan, WE));
  assert.equal(k.gen, (await keys(lu, a)).gen, 'RESERVE does not bump PRgeneration');
  assert.deepEqual(await reservation(lu, b), { key: 0xaan, type: WE });

  const caps = assertGood(await send(lu, prin(2), a));
  // LENGTH 8; CRH, ATP_C, no SIP_C, no PTPL_C (nullio); TMV, ALLOW COMMANDS 011b; all six types
  assert.deepEqual([...caps], [0, 8, 0x14, 0xb0, 0xea, 0x01, 0, 0]);

  const full = assertGood(await send(lu, prin(3), a));
  assert.equal(full.readUInt32BE(0), k.gen);
  const d1 = full.subarray(8);
  assert.equal(d1.readBigUInt64BE(0), 0xaan);
  assert.equal(d1[12], 0x01); // R_HOLDER
  assert.equal(d1[13], WE);
  assert.equal(d1.readUInt16BE(18), 1);
  const tlen = d1.readUInt32BE(20);
  assert.deepEqual(d1.subarray(24, 24 + tlen), a.transportId);
  const d2 = d1.subarray(24 + tlen);
  assert.equal(d2.readBigUInt64BE(0), 0xbbn);
  assert.equal(d2[12], 0x02); // ALL_TG_PT, not holder
  assert.deepEqual(d2.subarray(24, 24 + d2.readUInt32BE(20)), b.transportId);
  assert.equal(full.readUInt32BE(4), full.length - 8);

  // allocation length truncates; ADDITIONAL LENGTH keeps the full size
  const t = assertGood(await send(lu, prin(0, 8), a));
  assert.equal(t.length, 8);
  assert.equal(t.readUInt32BE(4), 16);
  assert.equal(assertGood(await send(lu, prin(0, 12), a)).length, 12);
  // service actions 4..1Fh are invalid
  assertCheck(await send(lu, prin(4), a), 5, 0x24, 0, { cdb: true, byte: 1, bit: 4 });
  assertCheck(await send(lu, prin(0x1f), a), 5, 0x24, 0);
});

test('REGISTER / REGISTER AND IGNORE EXISTING KEY: key rules, unregister, PRgeneration', async () => {
  const { lu, n } = await setup(2);
  const [a, b] = n as [Nexus, Nexus];
  const g0 = (await keys(lu, a)).gen;
  // unregistered nexus: nonzero RESERVATION KEY conflicts
  assert.equal((await out(lu, a, 0, params(5n, 0x10n))).status, CONFLICT);
  assertGood(await out(lu, a, 0, params(0n, 0x10n)));
  // registered: wrong key conflicts, right key changes it
  assert.equal((await out(lu, a, 0, params(0x11n, 0x12n))).status, CONFLICT);
  assert.equal((await out(lu, a, 0, params(0n, 0x12n))).status, CONFLICT);
  assertGood(await out(lu, a, 0, params(0x10n, 0x12n)));
  assert.deepEqual((await keys(lu, b)).keys, [0x12n]);
  // REGISTER AND IGNORE EXISTING KEY ignores RESERVATION KEY
  assertGood(await out(lu, a, 6, params(0x999n, 0x13n)));
  assert.deepEqual((await keys(lu, b)).keys, [0x13n]);
  // unregistering
  assertGood(await out(lu, a, 0, params(0x13n, 0n)));
  const k = await keys(lu, b);
  assert.deepEqual(k.keys, []);
  assert.equal(k.gen, g0 + 4, 'failed commands do not bump PRgeneration');
  // unregistered nexus, SARK 0: no-op
  assertGood(await out(lu, a, 0, params(0n, 0n)));
  assert.deepEqual((await keys(lu, b)).keys, []);
  // no UAs for anyone from registrations
  assert.deepEqual(lu.ua.pending(a.id), []);
  assert.deepEqual(lu.ua.pending(b.id), []);
});

test('RESERVE / RELEASE: holder rules, type mismatch, INVALID RELEASE, UAs on release', async () => {
  const { lu, n } = await setup(3);
  const [a, b, c] = n as [Nexus, Nexus, Nexus];
  // not registered → conflict
  assert.equal((await reserve(lu, a, 1n, WE)).status, CONFLICT);
  assertGood(await register(lu, a, 1n));
  assertGood(await register(lu, b, 2n));
  assert.equal((await reserve(lu, a, 9n, WE)).status, CONFLICT, 'wrong key');
  assertCheck(await reserve(lu, a, 1n, 2), 5, 0x24, 0, { cdb: true, byte: 2, bit: 3 });
  assertCheck(await reserve(lu, a, 1n, 4), 5, 0x24, 0);
  assertCheck(await out(lu, a, 1, params(1n), WE, 1), 5, 0x24, 0, { cdb: true, byte: 2, bit: 7 });
  assertGood(await reserve(lu, a, 1n, WERO));
  assertGood(await reserve(lu, a, 1n, WERO)); // same again: fine
  assert.equal((await reserve(lu, a, 1n, EA)).status, CONFLICT, 'holder asks for another type');
  assert.equal((await reserve(lu, b, 2n, WERO)).status, CONFLICT, 'other nexus');
  // release by a non-holder: GOOD, nothing happens; unregistered: conflict
  assertGood(await release(lu, b, 2n, WERO));
  assert.equal((await release(lu, c, 0n, WERO)).status, CONFLICT);
  assert.deepEqual(await reservation(lu, a), { key: 1n, type: WERO });
  // holder with the wrong type: 05/26/04
  assertCheck(await release(lu, a, 1n, WE), 5, 0x26, 0x04);
  assertGood(await release(lu, a, 1n, WERO));
  assert.equal(await reservation(lu, a), undefined);
  // registrants-only release: 2A/04 to the other registrants only (not c, not a)
  await expectUas(lu, b, [[0x2a, 0x04]]);
  await expectUas(lu, c, []);
  await expectUas(lu, a, []);
  // WE/EA release: no UA
  assertGood(await reserve(lu, a, 1n, EA));
  assertGood(await release(lu, a, 1n, EA));
  await expectUas(lu, b, []);
  // all-registrants: any registrant holds it (key 0 reported) and may release it; 2A/04 to the others
  assertGood(await reserve(lu, a, 1n, EAAR));
  assert.deepEqual(await reservation(lu, c), { key: 0n, type: EAAR });
  assert.equal((await reserve(lu, b, 2n, EAAR)).status, 0, 'a registrant is a holder: same type is fine');
  assertGood(await release(lu, b, 2n, EAAR));
  await expectUas(lu, a, [[0x2a, 0x04]]);
  await expectUas(lu, b, []);
  // no reservation: release is GOOD
  assertGood(await release(lu, a, 1n, EAAR));
});

test('access: each type against holder, registered and unregistered nexuses (SBC-3 table)', async () => {
  // [type, registered reads, registered writes, unregistered reads, unregistered writes]
  const table: Array<[number, boolean, boolean, boolean, boolean]> = [
    [WE, true, false, true, false],
    [EA, false, false, false, false],
    [WERO, true, true, true, false],
    [EARO, true, true, false, false],
    [WEAR, true, true, true, false],
    [EAAR, true, true, false, false],
  ];
  for (const [type, rr, rw, ur, uw] of table) {
    const { lu, n } = await setup(3);
    const [a, b, c] = n as [Nexus, Nexus, Nexus];
    assertGood(await register(lu, a, 1n));
    assertGood(await register(lu, b, 2n));
    assertGood(await reserve(lu, a, 1n, type));
    const data = { dataOut: Buffer.alloc(512) };
    assert.equal((await send(lu, READ10, a)).status, 0, `type ${type}: holder reads`);
    assert.equal((await send(lu, WRITE10, a, data)).status, 0, `type ${type}: holder writes`);
    assert.equal((await send(lu, READ10, b)).status, rr ? 0 : CONFLICT, `type ${type}: registered read`);
    assert.equal((await send(lu, WRITE10, b, data)).status, rw ? 0 : CONFLICT, `type ${type}: registered write`);
    assert.equal((await send(lu, READ10, c)).status, ur ? 0 : CONFLICT, `type ${type}: unregistered read`);
    assert.equal((await send(lu, WRITE10, c, data)).status, uw ? 0 : CONFLICT, `type ${type}: unregistered write`);
    // always allowed: TUR, INQUIRY, READ CAPACITY, PR IN, REQUEST SENSE
    for (const cdb of [TUR, [0x12, 0, 0, 0, 36, 0], [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], prin(0), [0x03, 0, 0, 0, 18, 0]]) {
      assert.equal((await send(lu, cdb, c)).status, 0, `type ${type}: ${cdb[0]!.toString(16)} allowed`);
    }
    // MODE SENSE follows the read class (ALLOW COMMANDS 011b), MODE SELECT the write class
    assert.equal((await send(lu, MODE_SENSE6, c)).status, ur ? 0 : CONFLICT, `type ${type}: MODE SENSE`);
    assert.equal((await send(lu, [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], c)).status, uw ? 0 : CONFLICT, `type ${type}: SYNCHRONIZE CACHE`);
    // START STOP UNIT: START=1 is allowed, stopping conflicts
    assert.equal((await send(lu, [0x1b, 0, 0, 0, 0x01, 0], c)).status, 0);
  }
});

test('unregistering the holder: released for non-AR types, 2A/04 only for registrants-only, never to itself', async () => {
  for (const [type, shared, ua] of [
    [EA, false, false],
    [WE, false, false],
    [EARO, false, true],
    [WERO, false, true],
    [EAAR, true, false],
    [WEAR, true, false],
  ] as Array<[number, boolean, boolean]>) {
    const { lu, n } = await setup(3);
    const [a, b, c] = n as [Nexus, Nexus, Nexus];
    assertGood(await register(lu, a, 1n));
    assertGood(await register(lu, b, 2n));
    assertGood(await reserve(lu, a, 1n, type));
    assertGood(await out(lu, a, 0, params(1n, 0n)));
    await expectUas(lu, a, []);
    await expectUas(lu, c, []);
    await expectUas(lu, b, ua ? [[0x2a, 0x04]] : []);
    assert.deepEqual(await reservation(lu, a), shared ? { key: 0n, type } : undefined, `type ${type}`);
    if (shared) {
      // the last registrant leaving takes an all-registrants reservation along, silently
      assertGood(await out(lu, b, 0, params(2n, 0n)));
      assert.equal(await reservation(lu, a), undefined);
      await expectUas(lu, a, []);
    }
  }
});

test('CLEAR: removes everything, 2A/03 to the other registrants, one generation step', async () => {
  const { lu, n } = await setup(3);
  const [a, b, c] = n as [Nexus, Nexus, Nexus];
  assertGood(await register(lu, a, 1n));
  assertGood(await register(lu, b, 2n));
  assertGood(await reserve(lu, a, 1n, EA));
  const g = (await keys(lu, a)).gen;
  assert.equal((await out(lu, c, 3, params(0n))).status, CONFLICT);
  assert.equal((await out(lu, b, 3, params(1n))).status, CONFLICT);
  assertGood(await out(lu, b, 3, params(2n)));
  await expectUas(lu, a, [[0x2a, 0x03]]);
  const k = await keys(lu, a);
  assert.deepEqual(k.keys, []);
  assert.equal(k.gen, g + 1);
  assert.equal(await reservation(lu, a), undefined);
  await expectUas(lu, b, []);
  await expectUas(lu, c, []);
});

test('PREEMPT: removing registrations, preempting the holder, type change, all-registrants, errors', async () => {
  const { lu, n } = await setup(3);
  const [a, b, c] = n as [Nexus, Nexus, Nexus];
  // no reservation: remove registrations with the key; SCOPE/TYPE ignored
  assertGood(await register(lu, a, 1n));
  assertGood(await register(lu, b, 2n));
  assertGood(await register(lu, c, 2n));
  const g = (await keys(lu, a)).gen;
  assertCheck(await out(lu, a, 4, params(1n, 0n), EA), 5, 0x26, 0, { cdb: false, byte: 8 });
  assert.equal((await out(lu, a, 4, params(1n, 7n), EA)).status, CONFLICT, 'no such key');
  assert.equal((await out(lu, a, 4, params(9n, 2n), EA)).status, CONFLICT, 'wrong own key');
  assertGood(await out(lu, a, 4, params(1n, 2n), 0xf));
  await expectUas(lu, b, [[0x2a, 0x05]]);
  await expectUas(lu, c, [[0x2a, 0x05]]);
  assert.deepEqual((await keys(lu, a)).keys, [1n]);
  assert.equal((await keys(lu, a)).gen, g + 1);
  await expectUas(lu, a, []);

  // preempting the holder with a new type: holder loses registration (2A/05), others see 2A/04
  assertGood(await register(lu, b, 2n));
  assertGood(await register(lu, c, 3n));
  assertGood(await reserve(lu, b, 2n, WE));
  assertCheck(await out(lu, a, 4, params(1n, 2n), 0), 5, 0x24, 0, { cdb: true, byte: 2, bit: 3 });
  assertGood(await out(lu, a, 4, params(1n, 2n), EARO));
  await expectUas(lu, b, [[0x2a, 0x05]]);
  await expectUas(lu, c, [[0x2a, 0x04]]);
  assert.deepEqual(await reservation(lu, a), { key: 1n, type: EARO });
  assert.deepEqual((await keys(lu, a)).keys, [1n, 3n]);
  await expectUas(lu, a, []);
  // the holder preempting itself to change the type keeps its registration
  assertGood(await out(lu, a, 4, params(1n, 1n), EA));
  assert.deepEqual(await reservation(lu, a), { key: 1n, type: EA });
  assert.deepEqual((await keys(lu, a)).keys, [1n, 3n]);
  await expectUas(lu, c, [[0x2a, 0x04]]);
  // non-holder key under a reservation: only registrations go
  assertGood(await out(lu, a, 4, params(1n, 3n), WE));
  assert.deepEqual(await reservation(lu, a), { key: 1n, type: EA });
  await expectUas(lu, c, [[0x2a, 0x05]]);
  // SARK 0 with a non-AR reservation is invalid
  assertCheck(await out(lu, a, 4, params(1n, 0n), EA), 5, 0x26, 0);
  assertGood(await release(lu, a, 1n, EA));

  // all-registrants, SARK 0: everybody else goes, preemptor gets the new reservation
  assertGood(await register(lu, b, 2n));
  assertGood(await register(lu, c, 3n));
  assertGood(await reserve(lu, b, 2n, WEAR));
  assertGood(await out(lu, c, 5, params(3n, 0n), WE)); // PREEMPT AND ABORT
  await expectUas(lu, a, [[0x2a, 0x05]]);
  await expectUas(lu, b, [[0x2a, 0x05]]);
  await expectUas(lu, c, []);
  assert.deepEqual(await reservation(lu, a), { key: 3n, type: WE });
  assert.deepEqual((await keys(lu, a)).keys, [3n]);
});

test('PREEMPT AND ABORT hands the preempted nexuses to the task aborter', async () => {
  const pr = new LuReservations({ log: testLog });
  const cfg = diskConfig({ nullio: true, sizeBytes: 1 << 20 });
  const lu = createDiskUnit(cfg, await openStore(cfg), testLog, pr);
  const aborted: string[][] = [];
  pr.taskAborter = (ids) => aborted.push([...ids]);
  const { n } = await setup(2, lu);
  const [a, b] = n as [Nexus, Nexus];
  assertGood(await register(lu, a, 1n));
  assertGood(await register(lu, b, 2n));
  assertGood(await reserve(lu, b, 2n, EA));
  assertGood(await out(lu, a, 5, params(1n, 2n), EA));
  assert.deepEqual(aborted, [[b.id]]);
  assertCheck(await send(lu, READ10, b), 6, 0x2a, 0x05);
  assert.equal((await send(lu, READ10, b)).status, CONFLICT);
});

test('REGISTER AND MOVE: moves the reservation to another I_T nexus, UNREG, errors', async () => {
  const { lu, n } = await setup(3);
  const [a, b, c] = n as [Nexus, Nexus, Nexus];
  const move = (from: Nexus, rk: bigint, sark: bigint, to: Nexus, flags = 0, rel = 1, tid = to.transportId) => {
    const p = Buffer.alloc(24 + tid.length);
    p.writeBigUInt64BE(rk, 0);
    p.writeBigUInt64BE(sark, 8);
    p[17] = flags;
    p.writeUInt16BE(rel, 18);
    p.writeUInt32BE(tid.length, 20);
    tid.copy(p, 24);
    return out(lu, from, 7, p);
  };
  assertGood(await register(lu, a, 1n));
  assert.equal((await move(a, 1n, 5n, b)).status, CONFLICT, 'no reservation');
  assertGood(await reserve(lu, a, 1n, EA));
  assert.equal((await move(a, 2n, 5n, b)).status, CONFLICT, 'wrong key');
  assertCheck(await move(a, 1n, 0n, b), 5, 0x26, 0, { cdb: false, byte: 8 });
  assertCheck(await move(a, 1n, 5n, a), 5, 0x26, 0, { cdb: false, byte: 24 });
  assertCheck(await move(a, 1n, 5n, b, 0, 9), 5, 0x26, 0, { cdb: false, byte: 18 });
  const nameOnly = Buffer.from(b.transportId);
  nameOnly[0] = 0x05; // format 00b: no ISID, not an I_T nexus
  assertCheck(await move(a, 1n, 5n, b, 0, 1, nameOnly), 5, 0x26, 0, { cdb: false, byte: 24, bit: 7 });
  const g = (await keys(lu, a)).gen;
  assertGood(await move(a, 1n, 5n, b, 0x02)); // UNREG
  assert.deepEqual(await reservation(lu, c), { key: 5n, type: EA });
  const k = await keys(lu, c);
  assert.deepEqual(k.keys, [5n]);
  assert.equal(k.gen, g + 1);
  assert.equal((await send(lu, READ10, a)).status, CONFLICT);
  assert.equal((await send(lu, READ10, b)).status, 0);
  // an all-registrants reservation cannot be moved
  assertGood(await release(lu, b, 5n, EA));
  assertGood(await reserve(lu, b, 5n, EAAR));
  assert.equal((await move(b, 5n, 6n, c)).status, CONFLICT);
});

test('PR OUT parameter list validation: length, SPEC_I_PT, reserved bits, APTPL without PTPL_C', async () => {
  const { lu, n } = await setup(1);
  const [a] = n as [Nexus];
  assertCheck(await send(lu, prout(0, 0, 0), a), 5, 0x1a, 0, { cdb: true, byte: 5 });
  assertCheck(await send(lu, prout(0, 0, 23), a, { dataOut: Buffer.alloc(23) }), 5, 0x1a, 0);
  assertCheck(await send(lu, prout(0, 0, 28), a, { dataOut: Buffer.alloc(28) }), 5, 0x1a, 0);
  assertCheck(await register(lu, a, 1n, 0x08), 5, 0x26, 0, { cdb: false, byte: 20, bit: 3 }); // SPEC_I_PT
  assertCheck(await register(lu, a, 1n, 0x10), 5, 0x26, 0, { cdb: false, byte: 20, bit: 4 });
  assertCheck(await register(lu, a, 1n, 0x01), 5, 0x26, 0, { cdb: false, byte: 20, bit: 0 }); // no PTPL_C on nullio
  assertCheck(await send(lu, [0x5f, 0x08, 0, 0, 0, 0, 0, 0, 24, 0], a, { dataOut: Buffer.alloc(24) }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 4 });
  // short data-out: 0E/03
  assertCheck(await send(lu, prout(0, 0, 24), a, { dataOut: Buffer.alloc(10) }), 5, 0x0e, 0x03);
  assert.deepEqual((await keys(lu, a)).keys, []);
});

test('persistent reservations survive LUN reset, target reset and nexus loss', async () => {
  const { lu, n } = await setup(2);
  const [a, b] = n as [Nexus, Nexus];
  assertGood(await register(lu, a, 1n));
  assertGood(await reserve(lu, a, 1n, EA));
  await lu.taskManagement('lun-reset', a);
  await lu.taskManagement('target-warm-reset', a);
  lu.nexusLost(a);
  await clearUa(lu, a);
  await clearUa(lu, b);
  assert.deepEqual(await reservation(lu, b), { key: 1n, type: EA });
  assert.equal((await send(lu, READ10, b)).status, CONFLICT);
  assert.equal((await send(lu, READ10, a)).status, 0, 'same ports after re-login: still the holder');
});

async function fileDisk(cfg: DeviceConfig): Promise<ScsiLogicalUnit> {
  const pr = await LuReservations.open({ image: cfg.file, log: testLog });
  return createDiskUnit(cfg, await openStore(cfg), testLog, pr);
}

test('APTPL: state saved next to the image, restored by a new LU, removed by APTPL=0', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const image = await tempImage(dir, 1 << 20);
    const cfg = diskConfig({ file: image });
    const prFile = reservationFileFor(image);
    let { lu, n } = await setup(2, await fileDisk(cfg));
    let [a, b] = n as [Nexus, Nexus];
    assertGood(await register(lu, a, 0x1111n));
    assert.equal(existsSync(prFile), false, 'no APTPL yet: nothing written');
    const caps = assertGood(await send(lu, prin(2), a));
    assert.equal(caps[2]! & 0x01, 1, 'PTPL_C with a backing file');
    assert.equal(caps[3]! & 0x01, 0, 'PTPL_A off');
    assertGood(await register(lu, b, 0x2222n, 0x01)); // APTPL=1
    assertGood(await reserve(lu, b, 0x2222n, WERO));
    assert.equal(assertGood(await send(lu, prin(2), a))[3]! & 0x01, 1, 'PTPL_A on');
    const saved = JSON.parse(await readFile(prFile, 'utf8'));
    assert.equal(saved.registrations.length, 2);
    assert.equal(existsSync(`${prFile}.tmp`), false);
    const gen = (await keys(lu, a)).gen;
    await lu.close();

    // "power cycle": a new LU over the same image
    ({ lu, n } = await setup(2, await fileDisk(cfg)));
    [a, b] = n as [Nexus, Nexus];
    const k = await keys(lu, a);
    assert.deepEqual(k.keys, [0x1111n, 0x2222n]);
    assert.equal(k.gen, gen);
    assert.deepEqual(await reservation(lu, a), { key: 0x2222n, type: WERO });
    assert.equal(assertGood(await send(lu, prin(2), a))[3]! & 0x01, 1, 'PTPL_A restored');
    assert.equal((await send(lu, WRITE10, a, { dataOut: Buffer.alloc(512) })).status, 0, 'registered write under WE-RO');
    // later changes are saved too
    assertGood(await release(lu, b, 0x2222n, WERO));
    await expectUas(lu, a, [[0x2a, 0x04]]);
    assert.equal(JSON.parse(await readFile(prFile, 'utf8')).reservation, null);
    // APTPL=0 on a later REGISTER: the file goes, and the next power cycle forgets everything
    assertGood(await out(lu, a, 0, params(0x1111n, 0x1112n)));
    assert.equal(existsSync(prFile), false);
    await lu.close();
    ({ lu, n } = await setup(1, await fileDisk(cfg)));
    assert.deepEqual((await keys(lu, n[0]!)).keys, []);
    await lu.close();
  } finally {
    await cleanup();
  }
});

test('a corrupt reservation file is ignored with an error, not fatal', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const image = await tempImage(dir, 1 << 20);
    await tempImage(dir, 0, 'disk.img.pr.json');
    const lu = await fileDisk(diskConfig({ file: image }));
    const { n } = await setup(1, lu);
    assert.deepEqual((await keys(lu, n[0]!)).keys, []);
    await lu.close();
  } finally {
    await cleanup();
  }
});

test('random nexus ids from the harness work too (no TransportID parsing needed)', async () => {
  const lu = await nullDisk();
  const a = nexus(1);
  await clearUa(lu, a);
  assertGood(await register(lu, a, 7n));
  assert.deepEqual((await keys(lu, a)).keys, [7n]);
});
