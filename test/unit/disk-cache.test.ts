// The disk LU with the page cache on, through raw CDBs: data integrity against a model in each
// mode (write-back, O_DIRECT, write-through) with UNMAP, WRITE SAME, COMPARE AND WRITE and FUA
// mixed in; durability points (FUA, WCE=0, SYNCHRONIZE CACHE); GET LBA STATUS of cached writes;
// zero-copy READ data; the cache counters in describe().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeviceConfig } from '../../src/handlers/contract.ts';
import { PinnedData } from '../../src/scsi/data-in.ts';
import { prng } from '../helpers/prng.ts';
import { assertGood, cdb10, cdb16, clearUa, diskConfig, nexus, openDisk, send, tempDir } from '../helpers/scsi-harness.ts';

const KiB = 1024;
const MiB = 1 << 20;

async function cachedDisk(o: Partial<DeviceConfig>, size = 4 * MiB) {
  const t = await tempDir();
  const file = join(t.dir, 'disk.img');
  await writeFile(file, Buffer.alloc(0));
  await truncate(file, size);
  const lu = await openDisk(diskConfig({ file, ...o }));
  const n = nexus(1);
  await clearUa(lu, n);
  return { lu, n, file, cleanup: async () => { await lu.close(); await t.cleanup(); } };
}

function unmapCdb(ranges: Array<[number, number]>): { cdb: number[]; data: Buffer } {
  const p = Buffer.alloc(8 + 16 * ranges.length);
  p.writeUInt16BE(p.length - 2, 0);
  p.writeUInt16BE(16 * ranges.length, 2);
  ranges.forEach(([lba, n], i) => {
    p.writeBigUInt64BE(BigInt(lba), 8 + 16 * i);
    p.writeUInt32BE(n, 16 + 16 * i);
  });
  return { cdb: [0x42, 0, 0, 0, 0, 0, 0, p.length >> 8, p.length & 0xff, 0], data: p };
}

function caw(lba: number, blocks: number): number[] {
  const b = Buffer.alloc(16);
  b[0] = 0x89;
  b.writeBigUInt64BE(BigInt(lba), 2);
  b[13] = blocks;
  return [...b];
}

const syncCache = (lba = 0, blocks = 0): number[] => [0x35, 0, (lba >>> 24) & 0xff, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, blocks >> 8, blocks & 0xff, 0];

function block(seed: number, blocks: number): Buffer {
  const b = Buffer.allocUnsafe(blocks * 512);
  for (let i = 0; i < b.length; i++) b[i] = (seed * 13 + i * 5 + (i >> 9) * 3) & 0xff;
  return b;
}

const MODES: Array<[string, Partial<DeviceConfig>]> = [
  ['write-back', { cacheSize: 256 * KiB, thin: true }],
  ['O_DIRECT', { direct: true, cacheSize: 256 * KiB, thin: true }],
  ['write-through (-t)', { writeThrough: true, cacheSize: 256 * KiB, thin: true }],
];

for (const [mode, cfg] of MODES) {
  test(`${mode}: READ/WRITE/FUA/UNMAP/WRITE SAME/COMPARE AND WRITE against a model; the file matches after SYNCHRONIZE CACHE`, async () => {
    const size = 4 * MiB;
    const { lu, n, file, cleanup } = await cachedDisk(cfg, size);
    const blocks = size / 512;
    const model = Buffer.alloc(size);
    const rnd = prng(mode.length * 104729);
    try {
      for (let round = 0; round < 120; round++) {
        const used: Array<[number, number]> = [];
        const ops: Promise<void>[] = [];
        for (let k = 0; k < 5; k++) {
          const count = 1 + rnd(rnd(5) === 0 ? 300 : 20);
          const lba = rnd(blocks - count);
          if (!used.every(([a, b]) => lba + count <= a || lba >= b)) continue;
          used.push([lba, lba + count]);
          const at = lba * 512;
          const len = count * 512;
          const kind = rnd(12);
          if (kind < 4) {
            const data = block(round * 8 + k, count);
            data.copy(model, at);
            ops.push(send(lu, cdb10(0x2a, lba, count, rnd(4) === 0 ? 0x08 : 0), n, { dataOut: data }).then((r) => void assertGood(r)));
          } else if (kind < 8) {
            const want = Buffer.from(model.subarray(at, at + len));
            ops.push(send(lu, cdb10(0x28, lba, count), n).then((r) => assert.deepEqual(assertGood(r), want, `round ${round}: READ ${count} at ${lba}`)));
          } else if (kind < 9) {
            model.fill(0, at, at + len);
            const u = unmapCdb([[lba, count]]);
            ops.push(send(lu, u.cdb, n, { dataOut: u.data }).then((r) => void assertGood(r)));
          } else if (kind < 10) {
            // WRITE SAME(16): a pattern block, or UNMAP=1 with zeros (deallocates)
            const unmap = rnd(2) === 0;
            const pat = unmap ? Buffer.alloc(512) : block(round + 1000, 1);
            for (let i = 0; i < count; i++) pat.copy(model, at + i * 512);
            ops.push(send(lu, cdb16(0x93, BigInt(lba), count, unmap ? 0x08 : 0), n, { dataOut: pat }).then((r) => void assertGood(r)));
          } else if (kind < 11 && count <= 16) {
            const expected = Buffer.from(model.subarray(at, at + len));
            const data = block(round * 8 + k + 500, count);
            data.copy(model, at);
            ops.push(send(lu, caw(lba, count), n, { dataOut: Buffer.concat([expected, data]) }).then((r) => void assertGood(r)));
          } else {
            ops.push(send(lu, syncCache(lba, count), n).then((r) => void assertGood(r)));
          }
        }
        await Promise.all(ops);
      }
      assertGood(await send(lu, syncCache(), n));
      assert.deepEqual(await readFile(file), model, 'the file after SYNCHRONIZE CACHE');
      const cache = lu.describe().cache as Record<string, number>;
      assert.equal(cache.dirty, 0);
      assert.ok(cache.evictions > 0 && cache.hits > 0 && cache.misses > 0, JSON.stringify(cache));
      assert.ok(cache.used <= 256 * KiB);
    } finally {
      await cleanup();
    }
  });
}

test('write-back: a WRITE is only in the cache; FUA, READ FUA, WCE=0 and SYNCHRONIZE CACHE put data in the file', async () => {
  const { lu, n, file, cleanup } = await cachedDisk({ cacheSize: 1 * MiB });
  const onDisk = async (lba: number, blocks: number) => (await readFile(file)).subarray(lba * 512, (lba + blocks) * 512);
  try {
    assertGood(await send(lu, cdb10(0x2a, 16, 8), n, { dataOut: Buffer.alloc(4 * KiB, 1) }));
    assert.ok((await onDisk(16, 8)).every((b) => b === 0), 'WRITE: cached, not yet in the file');
    assertGood(await send(lu, cdb10(0x2a, 64, 8, 0x08), n, { dataOut: Buffer.alloc(4 * KiB, 2) }));
    assert.ok((await onDisk(64, 8)).every((b) => b === 2), 'WRITE FUA: in the file');
    assertGood(await send(lu, syncCache(16, 8), n));
    assert.ok((await onDisk(16, 8)).every((b) => b === 1), 'SYNCHRONIZE CACHE: in the file');
    assertGood(await send(lu, cdb10(0x2a, 32, 8), n, { dataOut: Buffer.alloc(4 * KiB, 4) }));
    assert.ok((await onDisk(32, 8)).every((b) => b === 0), 'WRITE: cached again');
    const fuaRead = await send(lu, cdb10(0x28, 32, 8, 0x08), n);
    assertGood(fuaRead);
    assert.ok((await onDisk(32, 8)).every((b) => b === 4), 'READ FUA: the newer cached blocks were written to the medium first (SBC-4)');
    // MODE SELECT(6) caching page with WCE=0: every write is durable when GOOD
    const sel = Buffer.alloc(24);
    sel[4] = 0x08;
    sel[5] = 0x12;
    assertGood(await send(lu, [0x15, 0x10, 0, 0, 24, 0], n, { dataOut: sel }));
    assertGood(await send(lu, cdb10(0x2a, 128, 1), n, { dataOut: Buffer.alloc(512, 3) }));
    assert.ok((await onDisk(128, 1)).every((b) => b === 3), 'WCE=0: in the file');
    assert.equal((lu.describe().cache as { dirty: number }).dirty, 0);
  } finally {
    await cleanup();
  }
});

test('READ answers with pinned cache pages; GET LBA STATUS counts cached writes to holes as mapped', async () => {
  const { lu, n, cleanup } = await cachedDisk({ cacheSize: 1 * MiB, thin: true });
  try {
    assertGood(await send(lu, cdb10(0x2a, 2048, 16), n, { dataOut: Buffer.alloc(8 * KiB, 9) }));
    const r = await send(lu, cdb10(0x28, 2048, 16), n);
    assert.ok(r.data instanceof PinnedData, 'zero-copy data-in');
    assert.equal(r.data.length, 8 * KiB);
    assert.equal(r.data.segments.length, 1, 'two adjacent pages, one piece');
    r.data.release();
    const b = Buffer.alloc(16);
    b[0] = 0x9e;
    b[1] = 0x12;
    b.writeBigUInt64BE(2048n, 2);
    b.writeUInt32BE(64, 10);
    const d = assertGood(await send(lu, [...b], n));
    assert.equal(d.readBigUInt64BE(8), 2048n);
    assert.equal(d.readUInt32BE(16), 16, '16 blocks');
    assert.equal(d[20]! & 0x0f, 0, 'mapped');
    const c = lu.describe().cache as Record<string, number>;
    for (const k of ['budget', 'used', 'hits', 'misses', 'dirty', 'evictions', 'flushes']) assert.equal(typeof c[k], 'number', k);
    assert.equal(c.budget, 1 * MiB);
  } finally {
    await cleanup();
  }
});

test('the page cache is on by default with O_DIRECT and off for a buffered file', async () => {
  const a = await cachedDisk({ direct: true });
  const b = await cachedDisk({});
  try {
    assert.ok(a.lu.describe().cache, 'O_DIRECT: cached');
    assert.equal(b.lu.describe().cache, undefined, 'buffered: the kernel caches');
    assertGood(await send(a.lu, cdb10(0x2a, 0, 1), a.n, { dataOut: Buffer.alloc(512, 7) }));
    assert.ok(assertGood(await send(a.lu, cdb10(0x28, 0, 1), a.n)).every((x) => x === 7));
  } finally {
    await a.cleanup();
    await b.cleanup();
  }
});
