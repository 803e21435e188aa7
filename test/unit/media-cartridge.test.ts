// The cartridge file format: create/open, records and marks, index queries, truncation on
// overwrite, A/B header updates, and torn-tail recovery at random cut points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { Cartridge, DATA_START, RecordKind, SLOT_SIZE, decodeHeader } from '../../src/media/cartridge.ts';
import { densityForCapacity, parseTapeSize } from '../../src/media/density.ts';
import { tempDir } from '../helpers/scsi-harness.ts';

function block(i: number, len = 1000 + (i % 7) * 300): Buffer {
  const b = Buffer.alloc(len);
  for (let j = 0; j < len; j++) b[j] = (i * 31 + j * 7) & 0xff;
  return b;
}

test('create, append blocks and marks, reopen: index and payloads survive', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const f = join(dir, 'A00001L6');
    const h = await Cartridge.create(f, { barcode: 'A00001L6', capacity: 2.5e12 });
    assert.equal(h.density, 0x5a);
    assert.equal((await stat(f)).size, DATA_START);
    const c = await Cartridge.open(f);
    assert.equal(c.header.loadCount, 1);
    for (let i = 0; i < 10; i++) await c.append(RecordKind.DATA, block(i), i % 2 === 0);
    await c.append(RecordKind.FILEMARK);
    await c.append(RecordKind.DATA, block(11));
    await c.append(RecordKind.SETMARK);
    await c.append(RecordKind.FILEMARK);
    await c.close();
    const d = await Cartridge.open(f);
    assert.equal(d.count, 14);
    assert.equal(d.header.loadCount, 2);
    assert.deepEqual(d.markList(RecordKind.FILEMARK), [10, 13]);
    assert.deepEqual(d.markList(RecordKind.SETMARK), [12]);
    assert.equal(d.filemarksBefore(11), 1);
    assert.equal(d.filemarksBefore(14), 2);
    for (let i = 0; i < 10; i++) assert.deepEqual(await d.read(i), block(i));
    assert.deepEqual(await d.read(11), block(11));
    // overwrite in the middle: everything after is gone
    await d.truncate(5);
    await d.append(RecordKind.DATA, block(99));
    await d.close();
    const e = await Cartridge.open(f);
    assert.equal(e.count, 6);
    assert.deepEqual(await e.read(5), block(99));
    assert.equal(e.filemarkCount, 0);
    await e.close();
  } finally {
    await cleanup();
  }
});

test('header: A/B slots, a torn newest slot falls back to the other', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const f = join(dir, 'B1');
    await Cartridge.create(f, { barcode: 'B1', capacity: 100e6, worm: true });
    const c = await Cartridge.open(f); // generation 2 (slot A), load count 1
    await c.updateHeader((h) => h.attributes.set(0x0800, { format: 1, value: Buffer.from('VENDOR  ') }));
    await c.close(); // generation 3 in slot B (attributes), maybe 4
    const img = await readFile(f);
    const a = decodeHeader(img.subarray(0, SLOT_SIZE))!;
    const b = decodeHeader(img.subarray(SLOT_SIZE, 2 * SLOT_SIZE))!;
    const newest = a.generation > b.generation ? 0 : SLOT_SIZE;
    const older = newest === 0 ? b : a;
    // tear the newest slot
    const fh = await open(f, 'r+');
    await fh.write(Buffer.alloc(100, 0x55), 0, 100, newest + 40);
    await fh.close();
    const p = await Cartridge.peek(f);
    assert.equal(p!.generation, older.generation);
    assert.ok(p!.flags & 1, 'WORM flag');
  } finally {
    await cleanup();
  }
});

test('torn tail: cutting the file anywhere keeps every whole record before the cut', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const f = join(dir, 'T1');
    await Cartridge.create(f, { barcode: 'T1', capacity: 1e9 });
    const c = await Cartridge.open(f);
    const ends: number[] = [];
    for (let i = 0; i < 40; i++) {
      if (i % 10 === 9) await c.append(RecordKind.FILEMARK);
      else await c.append(RecordKind.DATA, block(i, 100 + i * 97), i % 3 === 0);
      ends.push(c.end);
    }
    await c.sync();
    // a crashed session: verifiedEnd is still at the start of the data (load count written at open)
    const image = await readFile(f);
    const size = image.length;
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let k = 0; k < 25; k++) {
      const cut = DATA_START + Math.floor(rnd() * (size - DATA_START));
      await writeFile(f, image);
      await truncate(f, cut);
      const d = await Cartridge.open(f, { countLoad: false });
      const whole = ends.filter((e) => e <= cut).length;
      assert.equal(d.count, whole, `cut at ${cut}`);
      assert.equal((await stat(f)).size, whole === 0 ? DATA_START : ends[whole - 1]);
      for (let i = 0; i < whole; i++) if (d.kind(i) === RecordKind.DATA) assert.deepEqual(await d.read(i), block(i, 100 + i * 97));
      // writing continues at the new EOD
      await d.append(RecordKind.DATA, block(500));
      await d.close();
      const e = await Cartridge.open(f, { countLoad: false });
      assert.equal(e.count, whole + 1);
      assert.deepEqual(await e.read(whole), block(500));
      await e.close();
    }
    // a flipped payload byte in the unverified tail is detected too
    await writeFile(f, image);
    const fh = await open(f, 'r+');
    await fh.write(Buffer.from([0xff ^ image[ends[20]! + 40]!]), 0, 1, ends[20]! + 40);
    await fh.close();
    const g = await Cartridge.open(f);
    assert.equal(g.count, 21);
    assert.ok(g.recoveredTail);
    await g.close();
  } finally {
    await cleanup();
  }
});

test('stale records after a lost truncate are not resurrected (epoch)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const f = join(dir, 'S1');
    await Cartridge.create(f, { barcode: 'S1', capacity: 1e9 });
    const c = await Cartridge.open(f);
    for (let i = 0; i < 6; i++) await c.append(RecordKind.DATA, block(i, 500));
    await c.close();
    const before = await readFile(f);
    const d = await Cartridge.open(f);
    await d.truncate(3);
    await d.append(RecordKind.DATA, block(77, 500)); // same size as the old record 3
    await d.close();
    // simulate the truncate being lost: put the old records 4 and 5 back behind the new record 3
    const after = await readFile(f);
    const merged = Buffer.concat([after, before.subarray(after.length)]);
    await writeFile(f, merged);
    const e = await Cartridge.open(f);
    assert.equal(e.count, 4);
    assert.deepEqual(await e.read(3), block(77, 500));
    await e.close();
  } finally {
    await cleanup();
  }
});

test('sizes and densities', () => {
  assert.equal(parseTapeSize('2.5T'), 2.5e12);
  assert.equal(parseTapeSize('64M'), 64e6);
  assert.equal(parseTapeSize('1GiB'), 1 << 30);
  assert.equal(parseTapeSize('x'), undefined);
  assert.equal(densityForCapacity(2.5e12).generation, 6);
  assert.equal(densityForCapacity(1e6).generation, 1);
  assert.equal(densityForCapacity(1e15).generation, 9);
});
