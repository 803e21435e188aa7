// FileStore thin provisioning: deallocate (punch + zeroed partial blocks), allocation map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileStore } from '../../src/backing/file-store.ts';
import { tempDir } from '../helpers/scsi-harness.ts';

const MiB = 1 << 20;
const base = { blockSize: 512, readOnly: false, writeThrough: false, direct: false, nvCache: false };

test('deallocate punches whole fs blocks, zeroes partial ones; allocationMap reports extents', async () => {
  const t = await tempDir();
  try {
    const p = join(t.dir, 'thin.img');
    await writeFile(p, Buffer.alloc(0));
    await truncate(p, 8 * MiB);
    const s = await FileStore.open({ ...base, path: p });
    try {
      assert.deepEqual(await s.allocationMap(0, 8 * MiB, 10), [{ offset: 0, length: 8 * MiB, mapped: false }]);
      await s.write(0, Buffer.alloc(4 * MiB, 0x5a));
      await s.flush();
      const full = (await stat(p)).blocks;
      // 512 bytes into the first fs block .. 3 MiB + 1 KiB: partial head and tail are zeroed, the rest punched
      await s.deallocate(512, 3 * MiB + 512);
      await s.flush();
      const after = (await stat(p)).blocks;
      assert.ok(after < full - (2 * MiB) / 512, `holes appear: ${full} -> ${after} sectors`);
      const data = await readFile(p);
      assert.ok(data.subarray(0, 512).every((b) => b === 0x5a));
      assert.ok(data.subarray(512, 3 * MiB + 1024).every((b) => b === 0), 'deallocated range reads zeros');
      assert.ok(data.subarray(3 * MiB + 1024, 4 * MiB).every((b) => b === 0x5a));
      const map = await s.allocationMap(0, 8 * MiB, 10);
      assert.deepEqual(map, [
        { offset: 0, length: 4096, mapped: true },
        { offset: 4096, length: 3 * MiB - 4096, mapped: false },
        { offset: 3 * MiB, length: MiB, mapped: true },
        { offset: 4 * MiB, length: 4 * MiB, mapped: false },
      ]);
      assert.equal((await s.allocationMap(0, 8 * MiB, 2)).length, 2, 'maxExtents');
      // a range inside one fs block cannot be punched: it is written with zeros
      await s.deallocate(3 * MiB + 4096, 1024);
      assert.deepEqual(await s.read(3 * MiB + 4096, 1024), Buffer.alloc(1024));
      assert.ok(s.describe()['bytesDeallocated'] as number >= 2 * MiB);
    } finally {
      await s.close();
    }
  } finally {
    await t.cleanup();
  }
});

test('a 1 GiB punch is chunked and keeps the event loop responsive', async () => {
  const t = await tempDir();
  try {
    const p = join(t.dir, 'big.img');
    await writeFile(p, Buffer.alloc(0));
    await truncate(p, 1 << 30);
    const s = await FileStore.open({ ...base, path: p });
    try {
      const chunk = Buffer.alloc(8 * MiB, 1);
      for (let off = 0; off < 256 * MiB; off += chunk.length) await s.write(off, chunk);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const t0 = performance.now();
      await s.deallocate(0, 1 << 30);
      const ms = performance.now() - t0;
      clearInterval(timer);
      assert.deepEqual(await s.allocationMap(0, 1 << 30, 4), [{ offset: 0, length: 1 << 30, mapped: false }]);
      assert.ok(ms < 5000, `punch took ${ms} ms`);
      assert.ok(ticks >= 1 || ms < 20, `event loop ran during the punch (${ticks} ticks in ${ms.toFixed(1)} ms)`);
    } finally {
      await s.close();
    }
  } finally {
    await t.cleanup();
  }
});
