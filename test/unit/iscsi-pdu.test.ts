import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInitiatorPdu, PduError, type RawPdu } from '../../src/links/iscsi/pdu.ts';
import {
  encodeAsyncMessage,
  encodeDataIn,
  encodeLoginResponse,
  encodeLogoutResponse,
  encodeNopIn,
  encodeR2T,
  encodeReject,
  encodeScsiResponse,
  encodeTextResponse,
  encodeTmfResponse,
  residualOf,
} from '../../src/links/iscsi/pdu-out.ts';
import { decodeLun, encodeLun } from '../../src/links/iscsi/lun.ts';

/** A 48-byte BHS from (offset, bytes) pieces. */
function bhs(...pieces: Array<[number, number[]]>): Buffer {
  const b = Buffer.alloc(48);
  for (const [off, bytes] of pieces) Buffer.from(bytes).copy(b, off);
  return b;
}
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const raw = (b: Buffer, data = Buffer.alloc(0), ahs = Buffer.alloc(0)): RawPdu => ({ bhs: b, ahs, data });

test('LUN: peripheral and flat addressing', () => {
  assert.equal(decodeLun(Buffer.from([0, 5, 0, 0, 0, 0, 0, 0])), 5);
  assert.equal(decodeLun(Buffer.from([0x40, 0x01, 0, 0, 0, 0, 0, 0])), 1);
  assert.equal(decodeLun(Buffer.from([0x41, 0x2c, 0, 0, 0, 0, 0, 0])), 300);
  assert.equal(decodeLun(Buffer.from([0x01, 0x00, 0, 0, 0, 0, 0, 0])), -1, 'bus 1');
  assert.equal(decodeLun(Buffer.from([0x80, 0x00, 0, 0, 0, 0, 0, 0])), -1, 'logical unit addressing');
  assert.equal(decodeLun(Buffer.from([0, 1, 0, 2, 0, 0, 0, 0])), -1, 'second level');
  assert.deepEqual([...encodeLun(7)], [0, 7, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeLun(300)], [0x41, 0x2c, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeLun(16383)], [0x7f, 0xff, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => encodeLun(16384), RangeError);
});

test('parse NOP-Out', () => {
  const b = bhs([0, [0x40]], [1, [0x80]], [5, [0, 0, 4]], [8, [0, 2]], [16, u32(0x11)], [20, u32(0xffffffff)], [24, u32(7)], [28, u32(9)]);
  const p = parseInitiatorPdu(raw(b, Buffer.from('ping')));
  assert.equal(p.opcode, 0x00);
  if (p.opcode !== 0x00) return;
  assert.equal(p.immediate, true);
  assert.equal(p.itt, 0x11);
  assert.equal(p.ttt, 0xffffffff);
  assert.equal(p.lun, 2);
  assert.equal(p.cmdSN, 7);
  assert.equal(p.expStatSN, 9);
  assert.equal(p.data.toString(), 'ping');
});

test('parse SCSI Command with flags, ATTR, EDTL, CDB', () => {
  // F=1 W=1 ATTR=simple; LUN 1; ITT 0x22; EDTL 4096; CmdSN 5; ExpStatSN 6; CDB WRITE(10)
  const cdb = [0x2a, 0, 0, 0, 0, 0x10, 0, 0, 8, 0];
  const b = bhs([0, [0x01]], [1, [0xa1]], [8, [0, 1]], [16, u32(0x22)], [20, u32(4096)], [24, u32(5)], [28, u32(6)], [32, cdb]);
  const p = parseInitiatorPdu(raw(b));
  assert.equal(p.opcode, 0x01);
  if (p.opcode !== 0x01) return;
  assert.equal(p.immediate, false);
  assert.equal(p.final, true);
  assert.equal(p.write, true);
  assert.equal(p.read, false);
  assert.equal(p.attr, 1);
  assert.equal(p.lun, 1);
  assert.equal(p.edtl, 4096);
  assert.equal(p.cmdSN, 5);
  assert.equal(p.expStatSN, 6);
  assert.equal(p.cdb.length, 16);
  assert.deepEqual([...p.cdb.subarray(0, 10)], cdb);
  assert.equal(p.bidiReadLength, undefined);
});

test('parse SCSI Command with extended CDB AHS and bidi read length AHS', () => {
  const cdb32 = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1));
  // Extended CDB AHS: AHSLength = 32 - 15 = 17, type 1, reserved, 16 CDB bytes, padded to 20+... (3+17=20)
  const ext = Buffer.alloc(20);
  ext.writeUInt16BE(17, 0);
  ext[2] = 1;
  cdb32.copy(ext, 4, 16, 32);
  // Bidi AHS: length 5, type 2, reserved, 4-byte length -> 8 bytes
  const bidi = Buffer.from([0, 5, 2, 0, ...u32(1234)]);
  const ahs = Buffer.concat([ext, bidi]);
  const b = bhs([0, [0x01]], [1, [0xe1]], [4, [ahs.length / 4]], [16, u32(1)], [20, u32(512)]);
  cdb32.copy(b, 32, 0, 16);
  const p = parseInitiatorPdu(raw(b, Buffer.alloc(0), ahs));
  if (p.opcode !== 0x01) throw new Error('wrong opcode');
  assert.equal(p.read, true);
  assert.equal(p.write, true);
  assert.equal(p.cdb.length, 32);
  assert.deepEqual(p.cdb, cdb32);
  assert.equal(p.bidiReadLength, 1234);
});

test('parse SCSI Command rejects unknown AHS type', () => {
  const ahs = Buffer.from([0, 1, 9, 0]);
  const b = bhs([0, [0x01]], [1, [0x80]], [4, [1]]);
  assert.throws(() => parseInitiatorPdu(raw(b, Buffer.alloc(0), ahs)), (e: unknown) => e instanceof PduError && e.reason === 0x09);
});

test('parse TMF Request', () => {
  const b = bhs([0, [0x42]], [1, [0x81]], [8, [0, 3]], [16, u32(0x33)], [20, u32(0x44)], [24, u32(10)], [28, u32(11)], [32, u32(8)], [36, u32(2)]);
  const p = parseInitiatorPdu(raw(b));
  if (p.opcode !== 0x02) throw new Error('wrong opcode');
  assert.equal(p.immediate, true);
  assert.equal(p.func, 1);
  assert.equal(p.lun, 3);
  assert.equal(p.refTaskTag, 0x44);
  assert.equal(p.cmdSN, 10);
  assert.equal(p.refCmdSN, 8);
  assert.equal(p.expDataSN, 2);
});

test('parse Login Request', () => {
  // T=1, CSG=1, NSG=3 -> 0x80 | 0x04 | 0x03 = 0x87
  const b = bhs([0, [0x43]], [1, [0x87]], [2, [0, 0]], [8, [0x80, 1, 2, 3, 4, 5]], [14, [0, 0]], [16, u32(1)], [20, [0, 7]], [24, u32(100)], [28, u32(200)]);
  const p = parseInitiatorPdu(raw(b, Buffer.from('InitiatorName=iqn.x\0')));
  if (p.opcode !== 0x03) throw new Error('wrong opcode');
  assert.equal(p.transit, true);
  assert.equal(p.cont, false);
  assert.equal(p.csg, 1);
  assert.equal(p.nsg, 3);
  assert.deepEqual([...p.isid], [0x80, 1, 2, 3, 4, 5]);
  assert.equal(p.tsih, 0);
  assert.equal(p.cid, 7);
  assert.equal(p.cmdSN, 100);
  assert.equal(p.expStatSN, 200);
});

test('parse Text Request, Data-Out, Logout, SNACK', () => {
  const text = parseInitiatorPdu(raw(bhs([0, [0x04]], [1, [0x40]], [16, u32(5)], [20, u32(0xffffffff)], [24, u32(3)]), Buffer.from('SendTargets=All\0')));
  if (text.opcode !== 0x04) throw new Error('text');
  assert.equal(text.final, false);
  assert.equal(text.cont, true);
  assert.equal(text.ttt, 0xffffffff);

  const dout = parseInitiatorPdu(raw(bhs([0, [0x05]], [1, [0x80]], [8, [0, 1]], [16, u32(9)], [20, u32(0x77)], [28, u32(4)], [36, u32(2)], [40, u32(8192)]), Buffer.alloc(512)));
  if (dout.opcode !== 0x05) throw new Error('data-out');
  assert.equal(dout.final, true);
  assert.equal(dout.ttt, 0x77);
  assert.equal(dout.dataSN, 2);
  assert.equal(dout.bufferOffset, 8192);
  assert.equal(dout.data.length, 512);

  const lo = parseInitiatorPdu(raw(bhs([0, [0x46]], [1, [0x81]], [16, u32(12)], [20, [0, 1]], [24, u32(50)])));
  if (lo.opcode !== 0x06) throw new Error('logout');
  assert.equal(lo.reason, 1);
  assert.equal(lo.cid, 1);
  assert.equal(lo.cmdSN, 50);

  const sn = parseInitiatorPdu(raw(bhs([0, [0x10]], [1, [0x81]], [16, u32(12)], [40, u32(3)], [44, u32(4)])));
  if (sn.opcode !== 0x10) throw new Error('snack');
  assert.equal(sn.type, 1);
  assert.equal(sn.begRun, 3);
  assert.equal(sn.runLength, 4);
});

test('parse rejects unknown opcodes with Command not supported', () => {
  assert.throws(() => parseInitiatorPdu(raw(bhs([0, [0x1c]]))), (e: unknown) => e instanceof PduError && e.reason === 0x05);
});

const seq = { statSN: 0x01020304, expCmdSN: 0x0a0b0c0d, maxCmdSN: 0x11121314 };
function checkSeq(b: Buffer) {
  assert.deepEqual([...b.subarray(24, 36)], [1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0x11, 0x12, 0x13, 0x14]);
}

test('serialize NOP-In', () => {
  const p = encodeNopIn({ ...seq, itt: 0x55, ttt: 0xffffffff, lun: 2, data: Buffer.from('abcde') });
  assert.equal(p.bhs[0], 0x20);
  assert.equal(p.bhs[1], 0x80);
  assert.deepEqual([...p.bhs.subarray(5, 8)], [0, 0, 5]);
  assert.deepEqual([...p.bhs.subarray(8, 16)], [0, 2, 0, 0, 0, 0, 0, 0]);
  assert.equal(p.bhs.readUInt32BE(16), 0x55);
  assert.equal(p.bhs.readUInt32BE(20), 0xffffffff);
  checkSeq(p.bhs);
  assert.equal(p.data!.toString(), 'abcde');
});

test('serialize SCSI Response with sense and underflow', () => {
  const sense = Buffer.from([0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0]);
  const p = encodeScsiResponse({ ...seq, itt: 9, response: 0, status: 2, expDataSN: 3, residual: residualOf(1000, 600), sense });
  assert.equal(p.bhs[0], 0x21);
  assert.equal(p.bhs[1], 0x80 | 0x02, 'F + U');
  assert.equal(p.bhs[2], 0);
  assert.equal(p.bhs[3], 2);
  assert.deepEqual([...p.bhs.subarray(5, 8)], [0, 0, 20]);
  checkSeq(p.bhs);
  assert.equal(p.bhs.readUInt32BE(36), 3);
  assert.equal(p.bhs.readUInt32BE(40), 0);
  assert.equal(p.bhs.readUInt32BE(44), 400);
  assert.deepEqual([...p.data!.subarray(0, 2)], [0, 18], 'SenseLength');
  assert.deepEqual(p.data!.subarray(2), sense);
  const o = encodeScsiResponse({ ...seq, itt: 9, response: 0, status: 0, expDataSN: 0, residual: residualOf(0, 512) });
  assert.equal(o.bhs[1], 0x80 | 0x04, 'F + O');
  assert.equal(o.bhs.readUInt32BE(44), 512);
  assert.equal(o.data, undefined);
});

test('serialize Data-In: plain and with phase-collapsed status', () => {
  const d = Buffer.alloc(100, 1);
  const a = encodeDataIn({ final: false, itt: 1, expCmdSN: 2, maxCmdSN: 3, dataSN: 4, bufferOffset: 8192, data: d });
  assert.equal(a.bhs[0], 0x25);
  assert.equal(a.bhs[1], 0x00);
  assert.equal(a.bhs[3], 0);
  assert.equal(a.bhs.readUInt32BE(20), 0xffffffff, 'TTT');
  assert.equal(a.bhs.readUInt32BE(24), 0, 'StatSN reserved without S');
  assert.equal(a.bhs.readUInt32BE(36), 4);
  assert.equal(a.bhs.readUInt32BE(40), 8192);
  assert.deepEqual([...a.bhs.subarray(5, 8)], [0, 0, 100]);
  const b = encodeDataIn({ final: true, status: 0, residual: residualOf(200, 100), statSN: 77, itt: 1, expCmdSN: 2, maxCmdSN: 3, dataSN: 5, bufferOffset: 0, data: d });
  assert.equal(b.bhs[1], 0x80 | 0x02 | 0x01, 'F U S');
  assert.equal(b.bhs.readUInt32BE(24), 77);
  assert.equal(b.bhs.readUInt32BE(44), 100);
});

test('serialize TMF Response, Logout Response, R2T, Async, Reject', () => {
  const t = encodeTmfResponse({ ...seq, itt: 3, response: 5 });
  assert.deepEqual([...t.bhs.subarray(0, 4)], [0x22, 0x80, 5, 0]);
  assert.equal(t.bhs.readUInt32BE(16), 3);
  checkSeq(t.bhs);

  const l = encodeLogoutResponse({ ...seq, itt: 4, response: 2, time2Wait: 2, time2Retain: 20 });
  assert.deepEqual([...l.bhs.subarray(0, 4)], [0x26, 0x80, 2, 0]);
  assert.equal(l.bhs.readUInt16BE(40), 2);
  assert.equal(l.bhs.readUInt16BE(42), 20);

  const r = encodeR2T({ ...seq, lun: 1, itt: 5, ttt: 6, r2tSN: 7, bufferOffset: 65536, desiredLength: 262144 });
  assert.deepEqual([...r.bhs.subarray(0, 2)], [0x31, 0x80]);
  assert.deepEqual([...r.bhs.subarray(8, 10)], [0, 1]);
  assert.equal(r.bhs.readUInt32BE(20), 6);
  checkSeq(r.bhs);
  assert.equal(r.bhs.readUInt32BE(36), 7);
  assert.equal(r.bhs.readUInt32BE(40), 65536);
  assert.equal(r.bhs.readUInt32BE(44), 262144);

  const a = encodeAsyncMessage({ ...seq, event: 3, param2: 2, param3: 20 });
  assert.deepEqual([...a.bhs.subarray(0, 2)], [0x32, 0x80]);
  assert.equal(a.bhs.readUInt32BE(16), 0xffffffff);
  assert.equal(a.bhs[36], 3);
  assert.equal(a.bhs.readUInt16BE(40), 2);
  assert.equal(a.bhs.readUInt16BE(42), 20);

  const bad = bhs([0, [0x1c]], [16, u32(0x99)]);
  const j = encodeReject({ ...seq, reason: 0x05, rejectedHeader: bad });
  assert.deepEqual([...j.bhs.subarray(0, 3)], [0x3f, 0x80, 0x05]);
  assert.equal(j.bhs.readUInt32BE(16), 0xffffffff);
  assert.deepEqual([...j.bhs.subarray(5, 8)], [0, 0, 48]);
  assert.deepEqual(j.data, bad);
});

test('serialize Login Response and Text Response', () => {
  const p = encodeLoginResponse({
    ...seq,
    transit: true,
    cont: false,
    csg: 1,
    nsg: 3,
    versionMax: 0,
    versionActive: 0,
    isid: Buffer.from([0x80, 1, 2, 3, 4, 5]),
    tsih: 0x1234,
    itt: 0x42,
    status: 0x0203,
    data: Buffer.from('A=B\0'),
  });
  assert.deepEqual([...p.bhs.subarray(0, 4)], [0x23, 0x87, 0, 0]);
  assert.deepEqual([...p.bhs.subarray(8, 16)], [0x80, 1, 2, 3, 4, 5, 0x12, 0x34]);
  assert.equal(p.bhs.readUInt32BE(16), 0x42);
  checkSeq(p.bhs);
  assert.deepEqual([...p.bhs.subarray(36, 38)], [2, 3]);
  assert.deepEqual([...p.bhs.subarray(5, 8)], [0, 0, 4]);
  const t = encodeTextResponse({ ...seq, final: false, cont: true, itt: 1, ttt: 2 });
  assert.deepEqual([...t.bhs.subarray(0, 2)], [0x24, 0x40]);
  assert.equal(t.bhs.readUInt32BE(20), 2);
});
