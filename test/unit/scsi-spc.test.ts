// SPC behaviour of the LU core through raw CDBs: INQUIRY/VPD, REQUEST SENSE, RSOC, opcode errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { assertCheck, assertGood, clearUa, diskConfig, nexus, openDisk, send } from '../helpers/scsi-harness.ts';

const inq = (evpd: number, page: number, alloc = 0xffff): number[] => [0x12, evpd, page, alloc >> 8, alloc & 0xff, 0];

test('standard INQUIRY data, exact bytes', async () => {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20, product: 'VDISK' }));
  const n = nexus(1);
  const d = assertGood(await send(lu, inq(0, 0), n));
  assert.equal(d.length, 96);
  assert.deepEqual([...d.subarray(0, 8)], [0x00, 0x00, 0x06, 0x12, 91, 0x18, 0x00, 0x02]); // byte 5: TPGS 01b (implicit ALUA), 3PC
  assert.equal(d.toString('ascii', 8, 16), 'FILEIO  ');
  assert.equal(d.toString('ascii', 16, 32), 'VDISK           ');
  assert.equal(d.toString('ascii', 32, 36), '0001');
  assert.deepEqual([...d.subarray(58, 64)], [0x00, 0xa0, 0x04, 0x60, 0x04, 0xc0]);
  // allocation length truncates
  assert.equal(assertGood(await send(lu, inq(0, 0, 36), n)).length, 36);
  // removable sets RMB
  const rem = await openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20, removable: true }));
  assert.equal(assertGood(await send(rem, inq(0, 0), n))[1], 0x80);
});

test('INQUIRY field errors point at the byte and bit', async () => {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20 }));
  const n = nexus(1);
  assertCheck(await send(lu, inq(0, 0x80), n), 5, 0x24, 0, { cdb: true, byte: 2 });
  assertCheck(await send(lu, inq(2, 0), n), 5, 0x24, 0, { cdb: true, byte: 1, bit: 1 });
  // unknown VPD page 03h is refused, not aliased to 83h
  assertCheck(await send(lu, inq(1, 0x03), n), 5, 0x24, 0, { cdb: true, byte: 2 });
  assertCheck(await send(lu, inq(1, 0xb3), n), 5, 0x24, 0, { cdb: true, byte: 2 });
});

test('VPD 00h, 80h, 86h, B0h, B1h, B2h', async () => {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20, serial: 'ABC123' }));
  const n = nexus(1);
  assert.deepEqual([...assertGood(await send(lu, inq(1, 0x00), n))], [0, 0, 0, 8, 0x00, 0x80, 0x83, 0x86, 0x8f, 0xb0, 0xb1, 0xb2]);
  assert.deepEqual(assertGood(await send(lu, inq(1, 0x80), n)), Buffer.concat([Buffer.from([0, 0x80, 0, 6]), Buffer.from('ABC123')]));
  const e = assertGood(await send(lu, inq(1, 0x86), n));
  assert.deepEqual([...e.subarray(0, 8)], [0, 0x86, 0, 60, 0, 0x07, 0x01, 0]);
  const b0 = assertGood(await send(lu, inq(1, 0xb0), n));
  assert.equal(b0.length, 64);
  assert.deepEqual([...b0.subarray(0, 4)], [0, 0xb0, 0, 0x3c]);
  assert.equal(b0.readUInt16BE(6), 8, 'optimal granularity = 4096/512');
  assert.equal(b0.readUInt32BE(8), (8 << 20) / 512, 'max transfer length in blocks');
  assert.equal(b0.readUInt32BE(12), (1 << 20) / 512, 'optimal transfer length in blocks');
  const b1 = assertGood(await send(lu, inq(1, 0xb1), n));
  assert.deepEqual([...b1.subarray(0, 6)], [0, 0xb1, 0, 0x3c, 0, 1]);
  assert.deepEqual([...assertGood(await send(lu, inq(1, 0xb2), n))], [0, 0xb2, 0, 4, 0, 0, 0, 0]);
  // default serial derives from the name
  const lu2 = await openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20, name: 'disk9' }));
  const s = assertGood(await send(lu2, inq(1, 0x80), n)).subarray(4).toString('ascii');
  assert.equal(s, createHash('sha256').update('fileio_tgt\0disk9').digest('hex').slice(0, 16));
});

test('VPD 83h designators: NAA 6, T10 vendor id, relative port, port group, SCSI name strings', async () => {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20, serial: 'S1' }));
  const n = nexus(1);
  const d = assertGood(await send(lu, inq(1, 0x83), n));
  assert.deepEqual([...d.subarray(0, 2)], [0, 0x83]);
  assert.equal(d.readUInt16BE(2), d.length - 4);
  let off = 4;
  const ds: Buffer[] = [];
  while (off < d.length) {
    const len = d[off + 3]!;
    ds.push(d.subarray(off, off + 4 + len));
    off += 4 + len;
  }
  assert.equal(off, d.length);
  assert.deepEqual([...ds[0]!.subarray(0, 4)], [0x01, 0x03, 0, 16]);
  assert.deepEqual([ds[0]![4]! >> 4, ((ds[0]![4]! & 0xf) << 20) | (ds[0]![5]! << 12) | (ds[0]![6]! << 4) | (ds[0]![7]! >> 4)], [6, 0x001405]);
  assert.deepEqual(ds[1], Buffer.concat([Buffer.from([0x02, 0x01, 0, 10]), Buffer.from('FILEIO  S1')]));
  assert.deepEqual([...ds[2]!], [0x51, 0x94, 0, 4, 0, 0, 0, 1]);
  assert.deepEqual([...ds[3]!], [0x51, 0x95, 0, 4, 0, 0, 0, 1]);
  const name = 'iqn.2026-11.org.fileio-tgt:disk1,t,0x0001';
  assert.deepEqual([...ds[4]!.subarray(0, 2)], [0x53, 0x98]);
  assert.equal(ds[4]![3]! % 4, 0);
  assert.equal(ds[4]!.subarray(4).toString('utf8').replace(/\0+$/, ''), name);
  assert.deepEqual([...ds[5]!.subarray(0, 2)], [0x53, 0xa8]);
  assert.equal(ds[5]!.subarray(4).toString('utf8').replace(/\0+$/, ''), 'iqn.2026-11.org.fileio-tgt:disk1');
});

test('unknown opcode, unknown service action, NACA', async () => {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20 }));
  const n = nexus(1);
  await clearUa(lu, n);
  assertCheck(await send(lu, [0x02, 0, 0, 0, 0, 0], n), 5, 0x20, 0, { cdb: true, byte: 0 });
  const sai = [0x9e, 0x1f, ...Array(13).fill(0), 0];
  assertCheck(await send(lu, sai, n), 5, 0x24, 0, { cdb: true, byte: 1, bit: 4 });
  assertCheck(await send(lu, [0, 0, 0, 0, 0, 0x04], n), 5, 0x24, 0, { cdb: true, byte: 5, bit: 2 });
});

test('REQUEST SENSE returns the pending UA as data, fixed or descriptor', async () => {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20 }));
  const a = nexus(1);
  const d = assertGood(await send(lu, [0x03, 0, 0, 0, 252, 0], a));
  assert.equal(d.length, 18);
  assert.deepEqual([d[0], d[2], d[7], d[12], d[13]], [0x70, 0x06, 10, 0x29, 0x00]);
  // consumed: now NO SENSE
  const d2 = assertGood(await send(lu, [0x03, 0, 0, 0, 252, 0], a));
  assert.deepEqual([d2[0], d2[2], d2[12], d2[13]], [0x70, 0, 0, 0]);
  const b = nexus(2);
  assert.deepEqual([...assertGood(await send(lu, [0x03, 1, 0, 0, 252, 0], b))], [0x72, 0x06, 0x29, 0x00, 0, 0, 0, 0]);
  assertGood(await send(lu, [0, 0, 0, 0, 0, 0], b));
  // allocation length truncates
  assert.equal(assertGood(await send(lu, [0x03, 0, 0, 0, 8, 0], b)).length, 8);
});

function rsoc(options: number, op = 0, sa = 0, rctd = false, alloc = 0x10000): number[] {
  const b = Buffer.alloc(12);
  b[0] = 0xa3;
  b[1] = 0x0c;
  b[2] = (rctd ? 0x80 : 0) | options;
  b[3] = op;
  b.writeUInt16BE(sa, 4);
  b.writeUInt32BE(alloc, 6);
  return [...b];
}

test('REPORT SUPPORTED OPERATION CODES: all, one command, RCTD', async () => {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20 }));
  const n = nexus(1);
  await clearUa(lu, n);
  const all = assertGood(await send(lu, rsoc(0), n));
  const len = all.readUInt32BE(0);
  assert.equal(len, all.length - 4);
  assert.equal(len % 8, 0);
  const ops = new Map<string, number[]>();
  for (let o = 4; o < all.length; o += 8) ops.set(`${all[o]!.toString(16)}/${all.readUInt16BE(o + 2)}`, [...all.subarray(o, o + 8)]);
  for (const op of [0x00, 0x03, 0x08, 0x0a, 0x12, 0x15, 0x1a, 0x1b, 0x25, 0x28, 0x2a, 0x2e, 0x2f, 0x35, 0x55, 0x5a, 0x88, 0x8a, 0x8e, 0x8f, 0x91, 0xa8, 0xaa, 0xae, 0xaf]) {
    assert.ok(ops.has(`${op.toString(16)}/0`), `opcode ${op.toString(16)} listed`);
  }
  assert.deepEqual(ops.get('9e/16'), [0x9e, 0, 0, 0x10, 0, 0x01, 0, 16]);
  assert.deepEqual(ops.get('28/0'), [0x28, 0, 0, 0, 0, 0x00, 0, 10]);
  // RCTD adds 12-byte timeouts descriptors
  const withT = assertGood(await send(lu, rsoc(0, 0, 0, true), n));
  assert.equal(withT.readUInt32BE(0), (len / 8) * 20);
  assert.equal(withT[4 + 5]! & 0x02, 0x02);
  // one command
  const one = assertGood(await send(lu, rsoc(1, 0x28), n));
  assert.deepEqual([...one], [0, 0x03, 0, 10, 0x28, 0x18, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x07]);
  const oneT = assertGood(await send(lu, rsoc(1, 0x35, 0, true), n));
  assert.deepEqual([...oneT.subarray(0, 4)], [0, 0x83, 0, 10]);
  assert.deepEqual([...oneT.subarray(14)], [0, 10, 0, 0, 0, 0, 0, 5, 0, 0, 0, 120]);
  const sa = assertGood(await send(lu, rsoc(2, 0x9e, 0x10), n));
  assert.deepEqual([...sa.subarray(0, 6)], [0, 0x03, 0, 16, 0x9e, 0x1f]);
  assert.deepEqual([...assertGood(await send(lu, rsoc(1, 0xc0), n))], [0, 0x01, 0, 0]);
  assert.deepEqual([...assertGood(await send(lu, rsoc(2, 0x9e, 0x05), n))], [0, 0x01, 0, 0]);
  assertCheck(await send(lu, rsoc(1, 0x9e), n), 5, 0x24, 0, { cdb: true, byte: 2, bit: 2 });
  assertCheck(await send(lu, rsoc(2, 0x28), n), 5, 0x24, 0, { cdb: true, byte: 2, bit: 2 });
  assertCheck(await send(lu, rsoc(5), n), 5, 0x24, 0, { cdb: true, byte: 2, bit: 2 });
});
