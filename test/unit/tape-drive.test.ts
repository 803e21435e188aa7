// The SSC-4 tape drive through raw CDBs: variable and fixed blocks, filemarks/setmarks, SPACE,
// LOCATE, READ POSITION forms, ILI/FILEMARK/EOM sense with INFORMATION, early warning and
// volume overflow, write protect and WORM, MODE SENSE/SELECT, LOG SENSE, MAM, LOAD UNLOAD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Cartridge } from '../../src/media/cartridge.ts';
import { createTape } from '../../src/handlers/tape/index.ts';
import { deviceDefaults } from '../../src/host/config.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import type { ScsiResponse } from '../../src/scsi/command.ts';
import { assertCheck, assertGood, clearUa, nexus, send, tempDir } from '../helpers/scsi-harness.ts';

const TUR = [0, 0, 0, 0, 0, 0];
const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const write6 = (len: number, fixed = 0) => [0x0a, fixed, ...u24(len), 0];
const read6 = (len: number, b1 = 0) => [0x08, b1, ...u24(len), 0];
const wfm = (n: number, b1 = 0) => [0x10, b1, ...u24(n), 0];
const space6 = (code: number, n: number) => [0x11, code, ...u24(n & 0xffffff), 0];
const rewind = [0x01, 0, 0, 0, 0, 0];
const readPos = (sa = 0, alloc = 0) => [0x34, sa, 0, 0, 0, 0, 0, (alloc >> 8) & 0xff, alloc & 0xff, 0];
const locate10 = (blk: number) => [0x2b, 0, 0, (blk >>> 24) & 0xff, (blk >> 16) & 0xff, (blk >> 8) & 0xff, blk & 0xff, 0, 0, 0];
const loadUnload = (b4: number) => [0x1b, 0, 0, 0, b4, 0];

function blk(i: number, len: number): Buffer {
  return Buffer.alloc(len, (i * 13 + 1) & 0xff);
}

async function drive(o: { capacity?: number; worm?: boolean; empty?: boolean } = {}) {
  const { dir, cleanup } = await tempDir();
  const file = join(dir, 'A00001L6');
  await Cartridge.create(file, { barcode: 'A00001L6', capacity: o.capacity ?? 100e6, worm: o.worm });
  const lu = (await createTape({ ...deviceDefaults('tape0', 'tape'), file: o.empty ? '-' : file }, { log: () => undefined })) as ScsiLogicalUnit;
  const a = nexus(1);
  if (!o.empty) await clearUa(lu, a);
  return { lu, a, file, dir, cleanup: async () => { await lu.close(); await cleanup(); } };
}

function info(r: ScsiResponse): { key: number; asc: number; ascq: number; fm: boolean; eom: boolean; ili: boolean; information: number } {
  const s = r.sense!;
  return { key: s[2]! & 0x0f, asc: s[12]!, ascq: s[13]!, fm: !!(s[2]! & 0x80), eom: !!(s[2]! & 0x40), ili: !!(s[2]! & 0x20), information: s.readInt32BE(3) };
}

async function position(lu: ScsiLogicalUnit, a: ReturnType<typeof nexus>): Promise<{ block: number; file: number; bop: boolean; eop: boolean }> {
  const d = assertGood(await send(lu, readPos(6), a));
  return { block: Number(d.readBigUInt64BE(8)), file: Number(d.readBigUInt64BE(16)), bop: !!(d[0]! & 0x80), eop: !!(d[0]! & 0x40) };
}

test('identity, empty drive, block limits, density support', async () => {
  const t = await drive({ empty: true });
  try {
    const inq = assertGood(await send(t.lu, [0x12, 0, 0, 0, 96, 0], t.a));
    assert.equal(inq[0], 0x01);
    assert.equal(inq[1], 0x80);
    assertCheck(await send(t.lu, TUR, t.a), 6, 0x29, 0);
    assertCheck(await send(t.lu, TUR, t.a), 2, 0x3a, 0);
    assertCheck(await send(t.lu, read6(10), t.a), 2, 0x3a, 0);
    const bl = assertGood(await send(t.lu, [0x05, 0, 0, 0, 0, 0], t.a));
    assert.equal(bl.readUIntBE(1, 3), 1 << 20);
    assert.equal(bl.readUInt16BE(4), 1);
    const rds = assertGood(await send(t.lu, [0x44, 0, 0, 0, 0, 0, 0, 0x10, 0, 0], t.a));
    assert.equal(rds.readUInt16BE(0), 2 + 9 * 52);
    assert.equal(rds[4], 0x40);
    assertCheck(await send(t.lu, [0x44, 1, 0, 0, 0, 0, 0, 0x10, 0, 0], t.a), 2, 0x3a, 0); // media list needs a cartridge
  } finally {
    await t.cleanup();
  }
});

test('variable blocks: write, filemarks, read back with ILI, filemark and EOD sense', async () => {
  const t = await drive();
  const { lu, a } = t;
  try {
    assertGood(await send(lu, write6(1000), a, { dataOut: blk(0, 1000) }));
    assertGood(await send(lu, write6(2000), a, { dataOut: blk(1, 2000) }));
    assertGood(await send(lu, wfm(1), a));
    assertGood(await send(lu, write6(500), a, { dataOut: blk(2, 500) }));
    assertGood(await send(lu, wfm(2), a));
    assert.deepEqual(await position(lu, a), { block: 6, file: 3, bop: false, eop: false });
    assertGood(await send(lu, rewind, a));
    assert.deepEqual(await position(lu, a), { block: 0, file: 0, bop: true, eop: false });
    assert.deepEqual(assertGood(await send(lu, read6(1000), a)), blk(0, 1000));
    // short read of a 2000-byte block: ILI, INFORMATION = 1000 - 2000 = -1000, data truncated
    let r = await send(lu, read6(1000), a);
    assert.equal(r.status, 2);
    assert.deepEqual(r.data, blk(1, 1000));
    assert.deepEqual(info(r), { key: 0, asc: 0, ascq: 0, fm: false, eom: false, ili: true, information: -1000 });
    // filemark: NO SENSE, FILEMARK, 00/01, INFORMATION = requested length; positioned after it
    r = await send(lu, read6(4096), a);
    assert.deepEqual(info(r), { key: 0, asc: 0, ascq: 1, fm: true, eom: false, ili: false, information: 4096 });
    // long read of a 500-byte block: ILI with positive residue; SILI suppresses it
    r = await send(lu, read6(4096), a);
    assert.deepEqual(info(r), { key: 0, asc: 0, ascq: 0, fm: false, eom: false, ili: true, information: 3596 });
    assert.deepEqual(r.data, blk(2, 500));
    assertGood(await send(lu, locate10(3), a));
    assert.deepEqual(assertGood(await send(lu, read6(4096, 0x02), a)), blk(2, 500));
    // two filemarks then EOD: BLANK CHECK 00/05
    info(await send(lu, read6(10), a));
    info(await send(lu, read6(10), a));
    r = await send(lu, read6(10), a);
    assert.deepEqual(info(r), { key: 8, asc: 0, ascq: 5, fm: false, eom: false, ili: false, information: 10 });
    // writing in the middle cuts everything after (new EOD)
    assertGood(await send(lu, locate10(1), a));
    assertGood(await send(lu, write6(10), a, { dataOut: blk(9, 10) }));
    assert.deepEqual((await position(lu, a)).block, 2);
    assertCheck(await send(lu, read6(10), a), 8, 0, 5);
    assertGood(await send(lu, locate10(1), a));
    assert.deepEqual(assertGood(await send(lu, read6(10), a)), blk(9, 10));
    const lr = await send(lu, locate10(5), a);
    assertCheck(lr, 8, 0, 5);
  } finally {
    await t.cleanup();
  }
});

test('fixed blocks via MODE SELECT block descriptor; ILI residue in blocks', async () => {
  const t = await drive();
  const { lu, a } = t;
  try {
    // MODE SELECT(6): header (4) + block descriptor (8): density 0, block length 512, buffered mode 1
    const ms = Buffer.from([0, 0, 0x10, 8, 0, 0, 0, 0, 0, 0, 0x02, 0x00]);
    assertGood(await send(lu, [0x15, 0x10, 0, 0, ms.length, 0], a, { dataOut: ms }));
    const sense = assertGood(await send(lu, [0x1a, 0, 0x3f, 0, 255, 0], a));
    assert.equal(sense[3], 8);
    assert.equal(sense[4], 0x40); // density code of the LTO-1-sized cartridge
    assert.equal(sense.readUIntBE(9, 3), 512);
    assert.equal(sense[2]! & 0x70, 0x10);
    const bl = assertGood(await send(lu, [0x05, 0, 0, 0, 0, 0], a));
    assert.equal(bl.readUIntBE(1, 3), 1 << 20, 'device limits in fixed mode too');
    const data = Buffer.concat([blk(0, 512), blk(1, 512), blk(2, 512)]);
    assertGood(await send(lu, write6(3, 1), a, { dataOut: data }));
    assertGood(await send(lu, wfm(1), a));
    assertGood(await send(lu, rewind, a));
    assertCheck(await send(lu, read6(2, 0x03), a), 5, 0x24, 0); // FIXED + SILI
    assert.deepEqual(assertGood(await send(lu, read6(2, 1), a)), data.subarray(0, 1024));
    const r = await send(lu, read6(4, 1), a);
    assert.deepEqual(r.data, data.subarray(1024));
    assert.deepEqual(info(r), { key: 0, asc: 0, ascq: 1, fm: true, eom: false, ili: false, information: 3 });
    // back to variable mode
    const mv = Buffer.from([0, 0, 0x10, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
    assertGood(await send(lu, [0x15, 0x10, 0, 0, mv.length, 0], a, { dataOut: mv }));
    assertCheck(await send(lu, read6(1, 1), a), 5, 0x24, 0);
  } finally {
    await t.cleanup();
  }
});

test('SPACE blocks, filemarks, sequential filemarks, EOD, setmarks; BOP and EOD sense', async () => {
  const t = await drive();
  const { lu, a } = t;
  try {
    // layout: b0 b1 FM b3 FM FM b6 SM b8 EOD(9)
    const w = async (i: number) => assertGood(await send(lu, write6(100), a, { dataOut: blk(i, 100) }));
    await w(0); await w(1);
    assertGood(await send(lu, wfm(1), a));
    await w(3);
    assertGood(await send(lu, wfm(2), a));
    await w(6);
    assertGood(await send(lu, wfm(1, 0x02), a)); // setmark
    await w(8);
    assertGood(await send(lu, rewind, a));
    assertGood(await send(lu, space6(0, 1), a));
    assert.equal((await position(lu, a)).block, 1);
    let r = await send(lu, space6(0, 5), a); // runs into the filemark at 2 after spacing 1
    assert.deepEqual(info(r), { key: 0, asc: 0, ascq: 1, fm: true, eom: false, ili: false, information: 4 });
    assert.equal((await position(lu, a)).block, 3);
    r = await send(lu, space6(0, -2), a); // back: 2 is a filemark right behind
    assert.deepEqual(info(r), { key: 0, asc: 0, ascq: 1, fm: true, eom: false, ili: false, information: 2 });
    assert.equal((await position(lu, a)).block, 2);
    assertGood(await send(lu, space6(1, 2), a)); // filemarks at 2 and 4
    assert.equal((await position(lu, a)).block, 5);
    r = await send(lu, space6(1, 5), a); // only one more filemark: EOD
    assert.deepEqual(info(r), { key: 8, asc: 0, ascq: 5, fm: false, eom: false, ili: false, information: 4 });
    assert.equal((await position(lu, a)).block, 9);
    assertGood(await send(lu, space6(1, -1), a)); // BOP side of the filemark at 5
    assert.equal((await position(lu, a)).block, 5);
    r = await send(lu, space6(1, -5), a); // 2 more before: BOP
    assert.deepEqual(info(r), { key: 0, asc: 0, ascq: 4, fm: false, eom: true, ili: false, information: 3 });
    assert.equal((await position(lu, a)).block, 0);
    assertGood(await send(lu, space6(2, 2), a)); // two consecutive filemarks at 4,5
    assert.equal((await position(lu, a)).block, 6);
    assertGood(await send(lu, rewind, a));
    assertGood(await send(lu, space6(4, 1), a)); // setmark at 7
    assert.equal((await position(lu, a)).block, 8);
    r = await send(lu, space6(0, -2), a); // the setmark stops block spacing: 00/03
    assert.deepEqual(info(r), { key: 0, asc: 0, ascq: 3, fm: true, eom: false, ili: false, information: 2 });
    assertGood(await send(lu, space6(3, 0), a));
    assert.equal((await position(lu, a)).block, 9);
    // SPACE(16) blocks backwards
    const s16 = Buffer.alloc(16);
    s16[0] = 0x91;
    s16.writeBigInt64BE(-1n, 4);
    assertGood(await send(lu, s16, a));
    assert.equal((await position(lu, a)).block, 8);
    // LOCATE(16) to file 2 (after the second filemark)
    const l16 = Buffer.alloc(16);
    l16[0] = 0x92;
    l16[1] = 1 << 3;
    l16.writeBigUInt64BE(2n, 4);
    assertGood(await send(lu, l16, a));
    assert.deepEqual(await position(lu, a), { block: 5, file: 2, bop: false, eop: false });
    // short and extended READ POSITION
    const sp = assertGood(await send(lu, readPos(0), a));
    assert.equal(sp.length, 20);
    assert.equal(sp.readUInt32BE(4), 5);
    const xp = assertGood(await send(lu, readPos(8, 32), a));
    assert.equal(xp.readUInt16BE(2), 0x1c);
    assert.equal(Number(xp.readBigUInt64BE(8)), 5);
    assertCheck(await send(lu, readPos(0, 32), a), 5, 0x24, 0);
  } finally {
    await t.cleanup();
  }
});

test('early warning and volume overflow', async () => {
  const t = await drive({ capacity: 2 << 20 }); // EW zone = 64 KiB
  const { lu, a } = t;
  try {
    const bs = 60000;
    let n = 0;
    let r: ScsiResponse;
    for (;;) {
      r = await send(lu, write6(bs), a, { dataOut: blk(n, bs) });
      n++;
      if (r.status !== 0) break;
    }
    assert.deepEqual(info(r), { key: 0, asc: 0, ascq: 2, fm: false, eom: true, ili: false, information: 0 });
    assert.ok((await position(lu, a)).eop);
    for (;;) {
      r = await send(lu, write6(bs), a, { dataOut: blk(n, bs) });
      if (info(r).key === 0x0d) break;
      n++;
    }
    assert.deepEqual(info(r), { key: 0x0d, asc: 0, ascq: 2, fm: false, eom: true, ili: false, information: bs });
    const pos = (await position(lu, a)).block;
    assert.equal(pos, n); // the overflowing block was not written
    const lg = assertGood(await send(lu, [0x4d, 0, 0x40 | 0x31, 0, 0, 0, 0, 0, 255, 0], a));
    assert.equal(lg[0]! & 0x3f, 0x31);
    assert.equal(lg.readUInt32BE(4 + 8 + 8 + 4), 2); // maximum capacity (MiB)
  } finally {
    await t.cleanup();
  }
});

test('WORM appends only; write protect; MAM attributes; LOG SENSE pages', async () => {
  const t = await drive({ worm: true });
  const { lu, a } = t;
  try {
    assertGood(await send(lu, write6(10), a, { dataOut: blk(0, 10) }));
    assertGood(await send(lu, rewind, a));
    assertCheck(await send(lu, write6(10), a, { dataOut: blk(1, 10) }), 7, 0x30, 0x0c);
    assertCheck(await send(lu, [0x19, 0, 0, 0, 0, 0], a), 7, 0x30, 0x0c);
    const mode = assertGood(await send(lu, [0x1a, 0x08, 0x1d, 0, 255, 0], a));
    assert.equal(mode[4 + 2]! & 1, 1, 'WORMM');
    // MAM: barcode, load count, medium type WORM; write an application vendor
    let ra = assertGood(await send(lu, [0x8c, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x06, 0, 0, 1, 0, 0, 0], a));
    assert.equal(ra.readUInt16BE(4), 0x0806);
    assert.equal(ra.toString('latin1', 9, 9 + 8), 'A00001L6');
    ra = assertGood(await send(lu, [0x8c, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x08, 0, 0, 1, 0, 0, 0], a));
    assert.deepEqual([ra.readUInt16BE(4), ra[6], ra[9]], [0x0408, 0x80, 0x80]);
    const attr = Buffer.concat([Buffer.from([0, 0, 0, 13, 0x08, 0x00, 0x01, 0, 8]), Buffer.from('BACKUPCO')]);
    assertGood(await send(lu, [0x8d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, attr.length, 0, 0], a, { dataOut: attr }));
    ra = assertGood(await send(lu, [0x8c, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00, 0, 0, 1, 0, 0, 0], a));
    assert.equal(ra.toString('latin1', 9, 17), 'BACKUPCO');
    const ro = Buffer.from([0, 0, 0, 6, 0x00, 0x03, 0x00, 0, 1, 5]);
    assertCheck(await send(lu, [0x8d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ro.length, 0, 0], a, { dataOut: ro }), 5, 0x26, 0);
    const list = assertGood(await send(lu, [0x4d, 0, 0x40, 0, 0, 0, 0, 0, 255, 0], a));
    assert.deepEqual([...list.subarray(4)], [0x00, 0x02, 0x03, 0x0c, 0x2e, 0x2f, 0x31]);
    const ta = assertGood(await send(lu, [0x4d, 0, 0x40 | 0x2e, 0, 0, 0, 0, 0x01, 0, 0], a));
    assert.equal(ta.readUInt16BE(2), 64 * 5);
  } finally {
    await t.cleanup();
  }
  // a write-protected cartridge
  const w = await drive();
  try {
    const c = await Cartridge.open(w.file, { countLoad: false });
    await c.updateHeader((h) => (h.flags |= 2));
    await c.close();
    await send(w.lu, loadUnload(0), w.a);
  } finally {
    await w.cleanup();
  }
});

test('LOAD UNLOAD, PREVENT, UA after load; data survives an unload and a new drive', async () => {
  const t = await drive();
  const { lu, a } = t;
  try {
    assertGood(await send(lu, write6(100), a, { dataOut: blk(0, 100) }));
    assertGood(await send(lu, [0x1e, 0, 0, 0, 1, 0], a));
    assertCheck(await send(lu, loadUnload(0), a), 5, 0x53, 0x02);
    assertGood(await send(lu, [0x1e, 0, 0, 0, 0, 0], a));
    assertCheck(await send(lu, loadUnload(0x05), a), 5, 0x24, 0); // EOT with LOAD
    assertGood(await send(lu, loadUnload(0), a));
    assertCheck(await send(lu, TUR, a), 2, 0x3a, 0);
    assertGood(await send(lu, loadUnload(1), a));
    assertCheck(await send(lu, TUR, a), 6, 0x28, 0);
    assertGood(await send(lu, TUR, a));
    assert.deepEqual(assertGood(await send(lu, read6(100), a)), blk(0, 100));
    // compression off through page 0Fh; still reads back
    const page = Buffer.from([0, 0, 0x10, 0, 0x0f, 0x0e, 0x40, 0x80, 0, 0, 0, 0xff, 0, 0, 0, 0xff, 0, 0, 0, 0]);
    assertGood(await send(lu, [0x15, 0x10, 0, 0, page.length, 0], a, { dataOut: page }));
    assertGood(await send(lu, write6(5000), a, { dataOut: Buffer.alloc(5000) }));
    assertGood(await send(lu, wfm(1), a));
  } finally {
    await lu.close();
  }
  const again = (await createTape({ ...deviceDefaults('tape1', 'tape'), file: t.file }, { log: () => undefined })) as ScsiLogicalUnit;
  try {
    await clearUa(again, a);
    assert.deepEqual(assertGood(await send(again, read6(100), a)), blk(0, 100));
    assert.deepEqual(assertGood(await send(again, read6(5000), a)), Buffer.alloc(5000));
    const pos = assertGood(await send(again, readPos(6), a));
    assert.equal(Number(pos.readBigUInt64BE(8)), 2);
  } finally {
    await again.close();
    await t.cleanup();
  }
});

test('a cartridge not closed cleanly (crash) loads positioned at EOD, so a host filemark cannot cut data', async () => {
  const t = await drive();
  try {
    for (let i = 0; i < 3; i++) assertGood(await send(t.lu, write6(100), t.a, { dataOut: blk(i, 100) }));
    // no close: a second process opens the same cartridge, as after kill -9
    const lu2 = (await createTape({ ...deviceDefaults('tape9', 'tape'), file: t.file }, { log: () => undefined })) as ScsiLogicalUnit;
    try {
      await clearUa(lu2, t.a);
      assert.equal((await position(lu2, t.a)).block, 3);
      assertGood(await send(lu2, wfm(1), t.a));
      assertGood(await send(lu2, rewind, t.a));
      assert.deepEqual(assertGood(await send(lu2, read6(100), t.a)), blk(0, 100));
    } finally {
      await lu2.close();
    }
  } finally {
    await t.cleanup();
  }
  // a clean close loads at BOP
  const u = await drive();
  try {
    assertGood(await send(u.lu, write6(100), u.a, { dataOut: blk(0, 100) }));
    await u.lu.close();
    const lu3 = (await createTape({ ...deviceDefaults('tape8', 'tape'), file: u.file }, { log: () => undefined })) as ScsiLogicalUnit;
    await clearUa(lu3, u.a);
    assert.equal((await position(lu3, u.a)).block, 0);
    await lu3.close();
  } finally {
    await u.cleanup();
  }
});
