// The SMC-3 changer linked to real tape drives: READ ELEMENT STATUS (type, start, count,
// VOLTAG, DVCID), MOVE MEDIUM loading a drive, EXCHANGE MEDIUM, mail slot open/close with
// PREVENT, mode pages 1Dh/1Fh, state persisted and restored, library config expansion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, readFile } from 'node:fs/promises';
import { Cartridge } from '../../src/media/cartridge.ts';
import { createTape, tapeDrives } from '../../src/handlers/tape/index.ts';
import { createChanger } from '../../src/handlers/changer/index.ts';
import { deviceDefaults, parseConfigFile } from '../../src/host/config.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import { assertCheck, assertGood, clearUa, nexus, send, tempDir } from '../helpers/scsi-harness.ts';

const res = (b1: number, start: number, count: number, dvcid = 0, alloc = 0xffff) => [0xb8, b1, start >> 8, start & 0xff, count >> 8, count & 0xff, dvcid, (alloc >> 16) & 0xff, (alloc >> 8) & 0xff, alloc & 0xff, 0, 0];
const move = (src: number, dst: number) => [0xa5, 0, 0, 0, src >> 8, src & 0xff, dst >> 8, dst & 0xff, 0, 0, 0, 0];

interface Desc {
  type: number;
  address: number;
  full: boolean;
  access: boolean;
  svalid: boolean;
  source: number;
  tag?: string;
  id?: string;
}

function parseRes(d: Buffer): { first: number; count: number; descs: Desc[] } {
  const out: Desc[] = [];
  let off = 8;
  const end = 8 + d.readUIntBE(5, 3);
  while (off < end && off < d.length) {
    const type = d[off]!;
    const voltag = !!(d[off + 1]! & 0x80);
    const dl = d.readUInt16BE(off + 2);
    const bytes = d.readUIntBE(off + 5, 3);
    let p = off + 8;
    while (p < off + 8 + bytes) {
      const e = d.subarray(p, p + dl);
      const desc: Desc = { type, address: e.readUInt16BE(0), full: !!(e[2]! & 1), access: !!(e[2]! & 8), svalid: !!(e[9]! & 0x80), source: e.readUInt16BE(10) };
      if (voltag) desc.tag = e.toString('latin1', 12, 44).replace(/[\0 ]+$/, '');
      const idAt = 12 + (voltag ? 36 : 0);
      if (dl > idAt + 4 && e[idAt + 3]! > 0) desc.id = e.toString('latin1', idAt + 4, idAt + 4 + e[idAt + 3]!);
      out.push(desc);
      p += dl;
    }
    off += 8 + bytes;
  }
  return { first: d.readUInt16BE(0), count: d.readUInt16BE(2), descs: out };
}

async function library(dir: string, n = 3) {
  const folder = join(dir, 'carts');
  await mkdir(folder, { recursive: true });
  for (let i = 0; i < n; i++) await Cartridge.create(join(folder, `C0000${i}L6`), { barcode: `C0000${i}L6`, capacity: 50e6 }).catch(() => undefined);
  const host = { log: () => undefined };
  const d0 = (await createTape({ ...deviceDefaults('lib-d0', 'tape'), file: '-' }, host)) as ScsiLogicalUnit;
  const d1 = (await createTape({ ...deviceDefaults('lib-d1', 'tape'), file: '-' }, host)) as ScsiLogicalUnit;
  const ch = (await createChanger({ ...deviceDefaults('lib', 'changer'), file: folder, options: { drives: ['lib-d0', 'lib-d1'], slots: 4, mailSlots: 1 } }, host)) as ScsiLogicalUnit;
  const a = nexus(1);
  await clearUa(ch, a);
  return { ch, d0, d1, a, folder, close: async () => Promise.all([ch.close(), d0.close(), d1.close()]) };
}

test('READ ELEMENT STATUS honours type, start, count, VOLTAG and DVCID', async () => {
  const { dir, cleanup } = await tempDir();
  const l = await library(dir);
  try {
    // all types, address order: drives 1-2, transport 2F0h, mail 300h, slots 400h-403h
    let r = parseRes(assertGood(await send(l.ch, res(0x10, 0, 100), l.a)));
    assert.equal(r.count, 8);
    assert.deepEqual(r.descs.map((d) => d.address), [1, 2, 0x2f0, 0x300, 0x400, 0x401, 0x402, 0x403]);
    assert.deepEqual(r.descs.filter((d) => d.full).map((d) => d.tag), ['C00000L6', 'C00001L6', 'C00002L6']);
    // count and start
    r = parseRes(assertGood(await send(l.ch, res(0x12, 0x401, 2), l.a)));
    assert.deepEqual(r.descs.map((d) => [d.address, d.tag]), [[0x401, 'C00001L6'], [0x402, 'C00002L6']]);
    assert.equal(r.first, 0x401);
    // drives with DVCID: vendor + product + serial of the linked drive LU
    r = parseRes(assertGood(await send(l.ch, res(0x04, 0, 10, 1), l.a)));
    assert.equal(r.descs.length, 2);
    assert.match(r.descs[0]!.id!, /^IBM     ULT3580-TD9/);
    // allocation length truncates; header still says how much there is
    const short = assertGood(await send(l.ch, res(0x10, 0, 100, 0, 16), l.a));
    assert.equal(short.length, 16);
    assertCheck(await send(l.ch, res(0x02, 0x500, 1), l.a), 5, 0x21, 0x01);
    // mode pages: element address assignment and capabilities
    const p1d = assertGood(await send(l.ch, [0x1a, 0x08, 0x1d, 0, 255, 0], l.a));
    assert.deepEqual([p1d.readUInt16BE(6 + 4), p1d.readUInt16BE(6 + 6), p1d.readUInt16BE(6 + 12), p1d.readUInt16BE(6 + 14)], [0x400, 4, 1, 2]);
    const p1f = assertGood(await send(l.ch, [0x1a, 0x08, 0x1f, 0, 255, 0], l.a));
    assert.equal(p1f[4 + 2], 0x0e);
  } finally {
    await l.close();
    await cleanup();
  }
});

test('MOVE MEDIUM loads the drive; moving back unloads; errors; state survives a restart', async () => {
  const { dir, cleanup } = await tempDir();
  let l = await library(dir);
  try {
    assertCheck(await send(l.d0, [0, 0, 0, 0, 0, 0], l.a), 6, 0x29, 0);
    assertCheck(await send(l.d0, [0, 0, 0, 0, 0, 0], l.a), 2, 0x3a, 0);
    assertGood(await send(l.ch, move(0x401, 0x001), l.a));
    assertCheck(await send(l.d0, [0, 0, 0, 0, 0, 0], l.a), 6, 0x28, 0);
    assertGood(await send(l.d0, [0, 0, 0, 0, 0, 0], l.a));
    // write a block in the drive
    assertGood(await send(l.d0, [0x0a, 0, 0, 0, 4, 0], l.a, { dataOut: Buffer.from('tape') }));
    assertCheck(await send(l.ch, move(0x401, 0x002), l.a), 5, 0x3b, 0x0e); // source empty
    assertCheck(await send(l.ch, move(0x400, 0x001), l.a), 5, 0x3b, 0x0d); // destination full
    assertCheck(await send(l.ch, move(0x999, 0x001), l.a), 5, 0x21, 0x01);
    assertCheck(await send(l.ch, move(0x2f0, 0x001), l.a), 5, 0x21, 0x01);
    // drive PREVENT blocks taking the cartridge out
    assertGood(await send(l.d0, [0x1e, 0, 0, 0, 1, 0], l.a));
    assertCheck(await send(l.ch, move(0x001, 0x403), l.a), 5, 0x53, 0x02);
    assertGood(await send(l.d0, [0x1e, 0, 0, 0, 0, 0], l.a));
    // drive to drive
    assertGood(await send(l.ch, move(0x001, 0x002), l.a));
    const r = parseRes(assertGood(await send(l.ch, res(0x14, 0, 10), l.a)));
    assert.deepEqual(r.descs.map((d) => [d.address, d.full, d.tag, d.svalid, d.source]), [[1, false, '', false, 0], [2, true, 'C00001L6', true, 0x401]]);
    // exchange: drive 2's cartridge goes to slot 401h, slot 400h's to drive 2
    assertGood(await send(l.ch, [0xa6, 0, 0, 0, 0x04, 0x00, 0, 0x02, 0x04, 0x01, 0, 0], l.a));
    const s = JSON.parse(await readFile(join(l.folder, '.lib.library.json'), 'utf8'));
    assert.deepEqual(s.elements['2'], { barcode: 'C00000L6', source: 0x400 });
    assert.deepEqual(s.elements['1025'].barcode, 'C00001L6');
  } finally {
    await l.close();
  }
  // restart: the cartridge in drive 2 is loaded again, the one in 401h is still there
  tapeDrives.clear();
  l = await library(dir);
  try {
    const r = parseRes(assertGood(await send(l.ch, res(0x10, 0, 100), l.a)));
    assert.deepEqual(r.descs.filter((d) => d.full).map((d) => [d.address, d.tag]), [[2, 'C00000L6'], [0x401, 'C00001L6'], [0x402, 'C00002L6']]);
    await clearUa(l.d1, l.a);
    assertGood(await send(l.ch, move(0x002, 0x400), l.a));
    assertGood(await send(l.ch, move(0x401, 0x001), l.a));
    await clearUa(l.d0, l.a);
    assert.equal(assertGood(await send(l.d0, [0x08, 0, 0, 0, 4, 0], l.a)).toString(), 'tape');
  } finally {
    await l.close();
    await cleanup();
  }
});

test('mail slot: OPEN refused under PREVENT, moves refused while open; INITIALIZE ELEMENT STATUS finds new cartridges', async () => {
  const { dir, cleanup } = await tempDir();
  const l = await library(dir, 1);
  try {
    assertGood(await send(l.ch, move(0x400, 0x300), l.a));
    assertGood(await send(l.ch, [0x1e, 0, 0, 0, 1, 0], l.a));
    assertCheck(await send(l.ch, [0x1b, 0, 0x03, 0x00, 0, 0], l.a), 5, 0x53, 0x02);
    assertGood(await send(l.ch, [0x1e, 0, 0, 0, 0, 0], l.a));
    assertGood(await send(l.ch, [0x1b, 0, 0x03, 0x00, 0, 0], l.a));
    let r = parseRes(assertGood(await send(l.ch, res(0x13, 0, 10), l.a)));
    assert.equal(r.descs[0]!.access, false);
    assertCheck(await send(l.ch, move(0x300, 0x400), l.a), 2, 0x3a, 0x02);
    assertGood(await send(l.ch, [0x1b, 0, 0x03, 0x00, 1, 0], l.a));
    assertGood(await send(l.ch, move(0x300, 0x400), l.a));
    await Cartridge.create(join(l.folder, 'NEW001L6'), { barcode: 'NEW001L6', capacity: 50e6 });
    assertGood(await send(l.ch, [0x07, 0, 0, 0, 0, 0], l.a));
    r = parseRes(assertGood(await send(l.ch, res(0x13, 0, 10), l.a)));
    assert.equal(r.descs[0]!.tag, 'NEW001L6'); // imported through the mail slot
    assertGood(await send(l.ch, [0x37, 1, 0x04, 0x00, 0, 0, 0, 4, 0, 0], l.a));
    assertGood(await send(l.ch, [0x2b, 0, 0, 0, 0x04, 0x00, 0, 0, 0, 0], l.a));
  } finally {
    await l.close();
    await cleanup();
  }
});

test('library config section expands to drives, changer and one target', () => {
  const cfg = parseConfigFile(JSON.stringify({ libraries: [{ name: 'vtl', cartridges: '/carts', drives: 2, slots: 10, mailSlots: 2 }] }), 'c.json', ['disk', 'tape', 'changer']);
  assert.deepEqual(cfg.devices.map((d) => [d.name, d.type, d.file]), [['vtl-drive0', 'tape', '-'], ['vtl-drive1', 'tape', '-'], ['vtl', 'changer', '/carts']]);
  assert.deepEqual(cfg.devices[2]!.options, { drives: ['vtl-drive0', 'vtl-drive1'], slots: 10, mailSlots: 2 });
  assert.deepEqual(cfg.targets, [{ iqn: 'iqn.2026-11.org.fileio-tgt:vtl', luns: [{ lun: 0, device: 'vtl' }, { lun: 1, device: 'vtl-drive0' }, { lun: 2, device: 'vtl-drive1' }] }]);
  assert.throws(() => parseConfigFile(JSON.stringify({ libraries: [{ name: 'vtl', cartridges: '/c', bogus: 1 }] }), 'c.json', ['tape', 'changer']), /libraries\[0\]\.bogus: unknown field/);
});
