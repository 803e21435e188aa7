// The index stored in the cartridge (src/media/record-index.ts): a clean unload writes the
// checkpoints and marks after EOD and the next load reads them instead of walking every record;
// any change drops it first, so a crash (the file copied mid-session, as kill -9 leaves it), a
// damaged trailer or a trailer that disagrees with the records all fall back to the rebuild,
// and nothing acknowledged is lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copyFile, open, readFile, stat, writeFile } from 'node:fs/promises';
import { Cartridge, DATA_START, RECORD_HEADER, RecordKind } from '../../src/media/cartridge.ts';
import { STRIDE } from '../../src/media/record-index.ts';
import { tempDir } from '../helpers/scsi-harness.ts';

const N = 3 * STRIDE + 300;
const len = (i: number) => 64 + (i % 5) * 37;
function block(i: number): Buffer {
  const b = Buffer.alloc(len(i), i & 0xff);
  b.writeUInt32LE(i, 0);
  return b;
}
const isMark = (i: number) => i % 500 === 499;
const isSetmark = (i: number) => i === 1999;

async function fill(f: string, n = N): Promise<Cartridge> {
  await Cartridge.create(f, { barcode: 'IDX1', capacity: 1e9 });
  const c = await Cartridge.open(f);
  for (let i = 0; i < n; i++) {
    if (isSetmark(i)) await c.append(RecordKind.SETMARK);
    else if (isMark(i)) await c.append(RecordKind.FILEMARK);
    else await c.append(RecordKind.DATA, block(i));
  }
  return c;
}

async function checkAll(c: Cartridge, n = N): Promise<void> {
  assert.equal(c.count, n);
  let used = 0;
  for (let i = 0; i < n; i += 97) {
    const kind = isSetmark(i) ? RecordKind.SETMARK : isMark(i) ? RecordKind.FILEMARK : RecordKind.DATA;
    assert.equal(c.kind(i), kind, `kind of ${i}`);
    if (kind === RecordKind.DATA) assert.deepEqual(await c.read(i), block(i), `record ${i}`);
  }
  for (let i = 0; i < n; i++) used += RECORD_HEADER + (isSetmark(i) || isMark(i) ? 0 : len(i));
  assert.equal(c.used, used);
  const mid = STRIDE + 17;
  await c.resolve(mid);
  let before = 0;
  for (let i = 0; i < mid; i++) before += RECORD_HEADER + (isSetmark(i) || isMark(i) ? 0 : len(i));
  assert.equal(c.usedBefore(mid), before, 'usedBefore is exact once resolved');
  assert.deepEqual(c.markList(RecordKind.SETMARK), [1999]);
  assert.equal(c.filemarksBefore(n), Math.floor(n / 500) - (n > 1999 ? 1 : 0));
}

test('a clean unload stores the index; the next load reads it instead of walking the records', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const f = join(dir, 'IDX1');
    const c = await fill(f);
    const end = c.end;
    await c.close();
    assert.ok((await stat(f)).size > end, 'the trailer follows EOD');
    const d = await Cartridge.open(f);
    assert.equal(d.describe().index, 'trailer');
    await checkAll(d);
    await d.close();
    const r = await Cartridge.open(f, { readOnly: true });
    assert.equal(r.indexSource, 'trailer');
    assert.equal(r.recoveredTail, undefined, 'the trailer is not a torn tail');
    await r.close();
  } finally {
    await cleanup();
  }
});

test('appending after a stored-index load, then a crash: the index is rebuilt and every record is there', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const f = join(dir, 'IDX1');
    await (await fill(f)).close();
    const d = await Cartridge.open(f);
    assert.equal(d.indexSource, 'trailer');
    for (let i = N; i < N + 50; i++) await d.append(RecordKind.DATA, block(i));
    await d.sync();
    const crashed = join(dir, 'crashed');
    await copyFile(f, crashed); // the file as kill -9 leaves it
    await d.close();
    const e = await Cartridge.open(crashed);
    assert.equal(e.indexSource, 'rebuilt');
    assert.ok(e.unclean);
    assert.equal(e.recoveredTail, undefined, 'the old trailer was removed before the first append');
    assert.equal(e.count, N + 50);
    assert.deepEqual(await e.read(N + 49), block(N + 49));
    await e.close();
    const g = await Cartridge.open(f);
    assert.equal(g.indexSource, 'trailer');
    assert.equal(g.count, N + 50);
    assert.deepEqual(await g.read(N + 10), block(N + 10));
    await g.close();
  } finally {
    await cleanup();
  }
});

test('overwrite in the middle after a stored-index load: marks and chunks are cut, the new index is stored', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const f = join(dir, 'IDX1');
    await (await fill(f)).close();
    const d = await Cartridge.open(f);
    const cut = 2 * STRIDE + 5;
    await d.truncate(cut);
    await d.append(RecordKind.DATA, Buffer.from('new tail'));
    assert.equal(d.count, cut + 1);
    assert.deepEqual(d.markList(RecordKind.SETMARK), [1999]);
    assert.equal(d.filemarkCount, 3);
    await d.close();
    const e = await Cartridge.open(f);
    assert.equal(e.indexSource, 'trailer');
    assert.equal(e.count, cut + 1);
    assert.deepEqual(await e.read(cut), Buffer.from('new tail'));
    assert.deepEqual(await e.read(cut - 1), block(cut - 1));
    await e.close();
  } finally {
    await cleanup();
  }
});

test('a damaged trailer, one from another epoch, or one that disagrees with the records: rebuilt, nothing lost', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const f = join(dir, 'IDX1');
    await (await fill(f)).close();
    const image = await readFile(f);
    const end = (await Cartridge.open(f, { readOnly: true })).end;
    const damage = async (at: number, bytes: Buffer) => {
      await writeFile(f, image);
      const fh = await open(f, 'r+');
      await fh.write(bytes, 0, bytes.length, at);
      await fh.close();
      const c = await Cartridge.open(f);
      assert.equal(c.indexSource, 'rebuilt', `damage at ${at}`);
      await checkAll(c);
      await c.close();
      assert.equal((await Cartridge.open(f, { readOnly: true })).indexSource, 'trailer', 'stored again at the unload');
    };
    await damage(end + 70, Buffer.from([0xee])); // a checkpoint byte: body CRC
    await damage(end + 20, Buffer.from([0xee])); // count: head CRC
    // a trailer whose CRCs are right but whose last checkpoint is off by one record
    const t = Buffer.from(image.subarray(end));
    const n = t.readUInt32LE(36);
    const last = 64 + 8 * (n - 1);
    t.writeBigUInt64LE(t.readBigUInt64LE(last) + BigInt(RECORD_HEADER + 64), last);
    const { crc32c } = await import('@node-rs/crc32');
    t.writeUInt32LE(crc32c(t.subarray(64)), 56);
    t.writeUInt32LE(crc32c(t.subarray(0, 60)), 60);
    await damage(end, t);
    // records appended behind the trailer's back (file longer than the trailer says)
    await writeFile(f, Buffer.concat([image, Buffer.alloc(10)]));
    const c = await Cartridge.open(f);
    assert.equal(c.indexSource, 'rebuilt');
    assert.equal(c.count, N);
    await c.close();
    assert.ok(DATA_START < end);
  } finally {
    await cleanup();
  }
});
