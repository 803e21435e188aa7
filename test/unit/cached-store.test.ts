// The page-cached store over real files: integrity against a model in every mode, durability of
// synchronous writes and flushes, pinned reads that writes cannot change, deallocation coherency,
// the budget, writers waiting for write-back, the age-based write-back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { CachedStore } from '../../src/backing/cached-store.ts';
import { FileStore } from '../../src/backing/file-store.ts';
import { PAGE_SIZE } from '../../src/backing/page-cache.ts';
import { StoreError } from '../../src/backing/store.ts';
import { dataBytes, PinnedData } from '../../src/scsi/data-in.ts';
import { prng } from '../helpers/prng.ts';
import { tempDir, tempImage } from '../helpers/scsi-harness.ts';

const KiB = 1024;

async function openCached(path: string, o: { direct?: boolean; writeThrough?: boolean; budget?: number; dirtyAgeMs?: number; streamBytes?: number } = {}) {
  const file = await FileStore.open({ path, blockSize: 512, readOnly: false, writeThrough: !!o.writeThrough, direct: !!o.direct, nvCache: false });
  return new CachedStore(file, { budget: o.budget ?? 32 * PAGE_SIZE, dirtyAgeMs: o.dirtyAgeMs ?? 60_000, streamBytes: o.streamBytes });
}

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 31 + i * 7 + (i >> 9)) & 0xff;
  return b;
}

// Several seeds: the races this catches (a write-back run racing a write, a frame reused while
// a run waited for its lock) show only with some interleavings.
for (const mode of ['write-back', 'write-back O_DIRECT', 'write-through'] as const) {
  for (const seed of [1, 2, 3, 4]) test(`${mode}, seed ${seed}: random concurrent reads, writes, flushes and deallocations match a model`, async () => {
    const { dir, cleanup } = await tempDir();
    const size = 1 << 20;
    const path = await tempImage(dir, size);
    const model = Buffer.alloc(size);
    const s = await openCached(path, { direct: mode.includes('DIRECT'), writeThrough: mode === 'write-through', budget: 24 * PAGE_SIZE, streamBytes: 96 * KiB });
    const rnd = prng(mode.length * 7919 + seed);
    const sync = mode === 'write-through';
    // zero-copy reads held for a few rounds while writes land on their pages
    const held: Array<{ data: PinnedData; want: Buffer; until: number }> = [];
    try {
      for (let round = 0; round < 150; round++) {
        for (const h of held.filter((x) => x.until === round)) {
          assert.deepEqual(Buffer.concat(h.data.segments as Buffer[]), h.want, `round ${round}: held read changed`);
          h.data.release();
          held.splice(held.indexOf(h), 1);
        }
        // a batch of concurrent operations on disjoint sector ranges (they may share pages)
        const used: Array<[number, number]> = [];
        const free = (a: number, b: number) => used.every(([x, y]) => b <= x || a >= y);
        const ops: Promise<void>[] = [];
        for (let k = 0; k < 6; k++) {
          const sectors = 1 + rnd(rnd(4) === 0 ? 200 : 24);
          const at = rnd(size / 512 - sectors) * 512;
          const len = sectors * 512;
          if (!free(at, at + len)) continue;
          used.push([at, at + len]);
          const kind = rnd(10);
          if (kind < 4) {
            const data = pattern(len, round * 10 + k);
            data.copy(model, at);
            ops.push(s.write(at, data, sync || rnd(8) === 0));
          } else if (kind < 7) {
            const want = Buffer.from(model.subarray(at, at + len));
            ops.push(s.readPinned(at, len).then((d) => assert.deepEqual(dataBytes(d), want, `round ${round}: read ${len} at ${at}`)));
          } else if (kind < 9) {
            const want = Buffer.from(model.subarray(at, at + len));
            const until = round + 1 + rnd(3);
            ops.push(s.readPinned(at, len).then((data) => void held.push({ data, want, until })));
          } else {
            model.fill(0, at, at + len);
            ops.push(s.deallocate(at, len));
          }
        }
        if (rnd(10) === 0) ops.push(s.flush());
        await Promise.all(ops);
        s.cache.check();
        assert.ok(s.cache.usedBytes <= s.cache.budget);
      }
      for (const h of held.splice(0)) {
        assert.deepEqual(Buffer.concat(h.data.segments as Buffer[]), h.want, 'held read changed');
        h.data.release();
      }
      await s.flush();
      assert.ok(s.cache.stats.evictions > 0, 'the workload did not fit');
      // write-back copies a held page it writes to; write-through drops it from the cache instead
      if (!sync) assert.ok(s.cache.stats.copies > 0, 'writes landed on held pages');
      assert.equal(s.cache.pinnedFrames, 0);
      assert.equal(s.cache.dirtyCount, 0, 'flush left nothing dirty');
      assert.deepEqual(await readFile(path), model, 'the file after flush');
    } finally {
      await s.close();
      await cleanup();
    }
  });
}

test('a synchronous write is in the file when it completes; a write-back one only after flush', async () => {
  const { dir, cleanup } = await tempDir();
  const path = await tempImage(dir, 256 * KiB);
  const s = await openCached(path);
  try {
    await s.write(8 * KiB, Buffer.alloc(4 * KiB, 0xaa));
    assert.ok((await readFile(path)).subarray(8 * KiB, 12 * KiB).every((b) => b === 0), 'write-back: still only in the cache');
    await s.write(40 * KiB, Buffer.alloc(512, 0xbb), true);
    assert.ok((await readFile(path)).subarray(40 * KiB, 40 * KiB + 512).every((b) => b === 0xbb), 'FUA: in the file');
    // a synchronous write over a dirty page: that page's other bytes stay dirty, then both reach the file
    await s.write(8 * KiB + 512, Buffer.alloc(512, 0xcc), true);
    let file = await readFile(path);
    assert.ok(file.subarray(8 * KiB + 512, 9 * KiB).every((b) => b === 0xcc));
    assert.ok(file.subarray(8 * KiB, 8 * KiB + 512).every((b) => b === 0), 'the older write-back bytes are not forced out');
    // SYNCHRONIZE CACHE of a range writes back that range only
    await s.write(100 * KiB, Buffer.alloc(4 * KiB, 0xdd));
    await s.flush(8 * KiB, 4 * KiB);
    file = await readFile(path);
    assert.ok(file.subarray(8 * KiB, 8 * KiB + 512).every((b) => b === 0xaa), 'range flushed');
    assert.ok(file.subarray(100 * KiB, 104 * KiB).every((b) => b === 0), 'outside the range: still dirty');
    assert.equal(s.cache.dirtyCount, 1);
    await s.flush();
    assert.ok((await readFile(path)).subarray(100 * KiB, 104 * KiB).every((b) => b === 0xdd));
  } finally {
    await s.close();
    await cleanup();
  }
});

test('pinned read data does not change when writes land on its pages before it is released', async () => {
  const { dir, cleanup } = await tempDir();
  const path = await tempImage(dir, 256 * KiB);
  const s = await openCached(path, { streamBytes: 1 << 20 });
  try {
    const old = pattern(16 * KiB, 1);
    await s.write(4 * KiB, old);
    const pinned = await s.readPinned(4 * KiB, 16 * KiB);
    const before = Buffer.concat(pinned.segments.map((x) => Buffer.from(x)));
    assert.deepEqual(before, old);
    await s.write(4 * KiB, pattern(16 * KiB, 2)); // write-back over every pinned page
    await s.write(8 * KiB + 512, Buffer.alloc(512, 0xee), true); // and a synchronous one
    await s.deallocate(12 * KiB, 4 * KiB);
    assert.deepEqual(Buffer.concat(pinned.segments as Buffer[]), old, 'the pinned bytes are what was read');
    assert.ok(s.cache.stats.copies >= 4, 'the writes copied the pinned pages');
    const now = dataBytes(await s.readPinned(4 * KiB, 16 * KiB));
    const want = pattern(16 * KiB, 2);
    want.fill(0xee, 4 * KiB + 512, 5 * KiB);
    want.fill(0, 8 * KiB, 12 * KiB);
    assert.deepEqual(now, want, 'a new read sees the writes');
    const used = s.cache.usedBytes;
    pinned.release();
    pinned.release(); // idempotent
    assert.ok(s.cache.usedBytes < used, 'releasing freed the replaced pages');
    assert.equal(s.cache.pinnedFrames, 0);
    s.cache.check();
  } finally {
    await s.close();
    await cleanup();
  }
});

test('deallocation drops covered pages and zeroes the cached part of partial ones, dirty or not', async () => {
  const { dir, cleanup } = await tempDir();
  const path = await tempImage(dir, 256 * KiB);
  const s = await openCached(path);
  try {
    await s.write(0, Buffer.alloc(32 * KiB, 0x5a)); // dirty
    await s.flush(0, 4 * KiB); // page 0 clean, pages 1..7 dirty
    await s.deallocate(1536, 12 * KiB); // from mid page 0 to mid page 3
    const want = Buffer.alloc(32 * KiB, 0x5a);
    want.fill(0, 1536, 1536 + 12 * KiB);
    assert.deepEqual(dataBytes(await s.readPinned(0, 32 * KiB)), want);
    await s.flush();
    assert.deepEqual((await readFile(path)).subarray(0, 32 * KiB), want);
  } finally {
    await s.close();
    await cleanup();
  }
});

test('a cache full of dirty pages makes writers wait for the write-back, never grow', async () => {
  const { dir, cleanup } = await tempDir();
  const path = await tempImage(dir, 1 << 20);
  const s = await openCached(path, { budget: 8 * PAGE_SIZE, streamBytes: 1 << 30 });
  try {
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 64; i++) writes.push(s.write(i * PAGE_SIZE, Buffer.alloc(PAGE_SIZE, i + 1)));
    let maxUsed = 0;
    const probe = setInterval(() => (maxUsed = Math.max(maxUsed, s.cache.usedBytes)), 1);
    await Promise.all(writes);
    clearInterval(probe);
    assert.ok(s.cache.stats.stalls > 0, 'writers waited');
    assert.ok(maxUsed <= 8 * PAGE_SIZE);
    await s.flush();
    const file = await readFile(path);
    for (let i = 0; i < 64; i++) assert.ok(file.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE).every((b) => b === i + 1), `page ${i}`);
  } finally {
    await s.close();
    await cleanup();
  }
});

test('a writer does not wait for pages pinned by sends: with every frame pinned and none dirty, it writes around the cache', async () => {
  const { dir, cleanup } = await tempDir();
  const path = await tempImage(dir, 256 * KiB);
  const s = await openCached(path, { budget: 2 * PAGE_SIZE });
  try {
    const held = await s.readPinned(0, 2 * PAGE_SIZE); // two responses nobody reads yet
    assert.equal(s.cache.pinnedFrames, 2);
    await s.write(64 * KiB, Buffer.alloc(512, 0x5a));
    assert.ok((await readFile(path)).subarray(64 * KiB, 64 * KiB + 512).every((b) => b === 0x5a), 'in the file');
    assert.equal(s.cache.stats.stalls, 0, 'without waiting');
    held.release();
    assert.deepEqual(await s.read(64 * KiB, 512), Buffer.alloc(512, 0x5a));
  } finally {
    await s.close();
    await cleanup();
  }
});

test('dirty pages are written back after the dirty age without a flush; counters show it', async () => {
  const { dir, cleanup } = await tempDir();
  const path = await tempImage(dir, 64 * KiB);
  const s = await openCached(path, { dirtyAgeMs: 40 });
  try {
    await s.write(0, Buffer.alloc(8 * KiB, 0x77));
    assert.equal((s.describe().cache as { dirty: number }).dirty, 2);
    const deadline = Date.now() + 5000;
    while (s.cache.dirtyCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.cache.dirtyCount, 0);
    assert.ok((await readFile(path)).subarray(0, 8 * KiB).every((b) => b === 0x77));
    await s.readPinned(0, 8 * KiB).then((d) => d.release());
    const c = s.describe().cache as Record<string, number>;
    assert.equal(c.budget, 32 * PAGE_SIZE);
    assert.equal(c.hits, 2);
    assert.equal(c.flushes, 1, 'one pwritev for two adjacent pages');
    assert.equal(c.pagesWritten, 2);
    assert.equal(c.used, 2 * PAGE_SIZE);
  } finally {
    await s.close();
    await cleanup();
  }
});

test('close writes back; the last page of a file that ends mid-page stays within the file', async () => {
  const { dir, cleanup } = await tempDir();
  const path = await tempImage(dir, 10 * KiB + 512);
  const s = await openCached(path, { direct: true });
  await s.write(9 * KiB, Buffer.alloc(1536, 0x42));
  assert.deepEqual(dataBytes(await s.readPinned(8 * KiB, 2 * KiB + 512)), Buffer.concat([Buffer.alloc(1024), Buffer.alloc(1536, 0x42)]));
  await s.close();
  const file = await readFile(path);
  assert.equal(file.length, 10 * KiB + 512);
  assert.ok(file.subarray(9 * KiB).every((b) => b === 0x42));
  await cleanup();
});

test('a large write goes around the cache: cached pages it covers are dropped or updated, none added', async () => {
  const { dir, cleanup } = await tempDir();
  const path = await tempImage(dir, 1 << 20);
  const s = await openCached(path, { budget: 64 * PAGE_SIZE, streamBytes: 64 * KiB });
  try {
    await s.write(4 * KiB + 512, Buffer.alloc(1024, 1)); // dirty page 1
    const pinned = await s.readPinned(8 * KiB, 4 * KiB); // page 2 held by a "send"
    const big = Buffer.alloc(128 * KiB, 2);
    await s.write(5 * KiB, big); // from mid page 1 to mid page 33
    assert.deepEqual(Buffer.from(pinned.segments[0]!), Buffer.alloc(4 * KiB), 'the held page is unchanged');
    pinned.release();
    const file = await readFile(path);
    assert.ok(file.subarray(5 * KiB, 5 * KiB + 128 * KiB).every((b) => b === 2), 'in the file at once');
    const want = Buffer.alloc(160 * KiB);
    want.fill(1, 4 * KiB + 512, 5 * KiB);
    want.fill(2, 5 * KiB, 133 * KiB);
    assert.deepEqual(dataBytes(await s.readPinned(0, 160 * KiB)), want);
    const c = s.describe().cache as Record<string, number>;
    assert.equal(c.writeArounds, 1);
  } finally {
    await s.close();
    await cleanup();
  }
});

test('a large read that misses fills free frames only: it never pushes out cached pages', async () => {
  const { dir, cleanup } = await tempDir();
  const path = await tempImage(dir, 1 << 20);
  await writeFile(path, pattern(1 << 20, 3));
  const s = await openCached(path, { budget: 16 * PAGE_SIZE, streamBytes: 64 * KiB });
  try {
    for (let p = 0; p < 12; p++) (await s.readPinned(p * PAGE_SIZE, 512)).release(); // 12 hot pages
    const big = dataBytes(await s.readPinned(256 * KiB, 256 * KiB)); // 64 pages, 4 free frames
    assert.deepEqual(big, pattern(1 << 20, 3).subarray(256 * KiB, 512 * KiB));
    const misses = s.cache.stats.misses;
    for (let p = 0; p < 12; p++) (await s.readPinned(p * PAGE_SIZE, 512)).release();
    assert.equal(s.cache.stats.misses, misses, 'the hot pages are all still cached');
    assert.equal(s.cache.stats.evictions, 0);
    assert.ok((s.describe().cache as { bypassReads: number }).bypassReads > 0, 'the rest was read around the cache');
  } finally {
    await s.close();
    await cleanup();
  }
});

test('a failing write-back fails the writers waiting for a frame and SYNCHRONIZE CACHE, instead of hanging', async () => {
  const { dir, cleanup } = await tempDir();
  const path = await tempImage(dir, 1 << 20);
  const file = await FileStore.open({ path, blockSize: 512, readOnly: false, writeThrough: false, direct: false, nvCache: false });
  file.writeBuffers = () => Promise.reject(new StoreError('write', `${path}: no space left`, 'ENOSPC'));
  const s = new CachedStore(file, { budget: 8 * PAGE_SIZE, dirtyAgeMs: 60_000, streamBytes: 1 << 30 });
  try {
    const writes = Array.from({ length: 16 }, (_, i) => s.write(i * PAGE_SIZE, Buffer.alloc(PAGE_SIZE, i + 1)));
    const results = await Promise.allSettled(writes);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 8, 'the first 8 fit in the cache');
    for (const r of results.filter((x) => x.status === 'rejected')) assert.match(String((r as PromiseRejectedResult).reason), /no space left/);
    await assert.rejects(s.flush(), /no space left/);
    const c = s.describe().cache as Record<string, unknown>;
    assert.ok((c.writebackErrors as number) > 0);
    assert.match(String(c.lastWritebackError), /no space left/);
    assert.equal(c.dirty, 8, 'the acknowledged writes are still held');
  } finally {
    file.writeBuffers = FileStore.prototype.writeBuffers;
    await s.close();
    await cleanup();
  }
});

test('a large read over a full cache of scattered pages is one read of the store, with the dirty pages laid over it', async () => {
  const { dir, cleanup } = await tempDir();
  const path = await tempImage(dir, 1 << 20);
  await writeFile(path, pattern(1 << 20, 5));
  const s = await openCached(path, { budget: 16 * PAGE_SIZE, streamBytes: 64 * KiB });
  try {
    const want = pattern(1 << 20, 5);
    // every other page of the first 32 cached, some of them dirty: the cache is full
    for (let p = 0; p < 32; p += 2) {
      if (p % 4 === 0) {
        const d = Buffer.alloc(512, p + 1);
        await s.write(p * PAGE_SIZE + 1024, d);
        d.copy(want, p * PAGE_SIZE + 1024);
      } else (await s.readPinned(p * PAGE_SIZE, 512)).release();
    }
    assert.equal(s.cache.unusedFrames, 0);
    const before = (s.describe().cache as { bypassReads: number }).bypassReads;
    const got = await s.readPinned(512, 128 * KiB);
    assert.equal(got.segments.length, 1, 'one buffer');
    assert.deepEqual(dataBytes(got), want.subarray(512, 512 + 128 * KiB));
    assert.equal((s.describe().cache as { bypassReads: number }).bypassReads, before + 1, 'one read around the cache');
  } finally {
    await s.close();
    await cleanup();
  }
});
