// The file store and the handler modules: open flags, clear errors, round trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileStore } from '../../src/backing/file-store.ts';
import { NullStore } from '../../src/backing/null-store.ts';
import disk from '../../src/handlers/disk/index.ts';
import nullio from '../../src/handlers/nullio.ts';
import { addressOf } from '../../src/ffi/memory.ts';
import { readBuffers } from '../../src/backing/buffer-pool.ts';
import { dataBytes } from '../../src/scsi/data-in.ts';
import { assertGood, cdb10, clearUa, diskConfig, nexus, send, tempDir, tempImage } from '../helpers/scsi-harness.ts';

const host = { log: () => undefined };
const base = { blockSize: 512, readOnly: false, writeThrough: false, direct: false, nvCache: false };

test('bad images fail with one clear message naming the file', async () => {
  const t = await tempDir();
  try {
    const odd = join(t.dir, 'odd.img');
    await writeFile(odd, Buffer.alloc(1000));
    await assert.rejects(FileStore.open({ ...base, path: odd }), { message: `${odd} is 1000 bytes, not a multiple of the 512-byte block size` });
    const four = await tempImage(t.dir, 6144, 'four.img');
    await assert.rejects(FileStore.open({ ...base, path: four, blockSize: 4096 }), { message: `${four} is 6144 bytes, not a multiple of the 4096-byte block size` });
    const missing = join(t.dir, 'missing.img');
    await assert.rejects(FileStore.open({ ...base, path: missing }), { message: `cannot open ${missing}: no such file or directory (ENOENT)` });
    const empty = join(t.dir, 'empty.img');
    await writeFile(empty, '');
    await assert.rejects(FileStore.open({ ...base, path: empty }), { message: `${empty} is empty (0 bytes)` });
    await assert.rejects(disk.create(diskConfig({ file: missing }), host), { message: `cannot open ${missing}: no such file or directory (ENOENT)` });
    await assert.rejects(FileStore.open({ ...base, path: t.dir }), { message: `cannot open ${t.dir}: is a directory (EISDIR)` });
  } finally {
    await t.cleanup();
  }
});

test('FileStore reads and writes at positions; read-only refuses writes; O_DSYNC means durable', async () => {
  const t = await tempDir();
  try {
    const p = await tempImage(t.dir, 8192);
    const s = await FileStore.open({ ...base, path: p });
    assert.equal(s.size, 8192);
    assert.equal(s.writesAreDurable, false);
    await s.write(1024, Buffer.from('hello'));
    assert.equal((await s.read(1024, 5)).toString(), 'hello');
    await s.flush();
    await s.close();
    const ro = await FileStore.open({ ...base, path: p, readOnly: true });
    await assert.rejects(ro.write(0, Buffer.alloc(512)), { name: 'StoreError' });
    await assert.rejects(ro.read(8000, 512), /unexpected end of file/);
    await ro.close();
    const ds = await FileStore.open({ ...base, path: p, writeThrough: true });
    assert.equal(ds.writesAreDurable, true);
    await ds.close();
  } finally {
    await t.cleanup();
  }
});

test('O_DIRECT uses aligned buffers (or says the file system cannot do it)', async () => {
  const t = await tempDir();
  try {
    const p = await tempImage(t.dir, 65536);
    let s: FileStore;
    try {
      s = await FileStore.open({ ...base, path: p, direct: true });
    } catch (e) {
      assert.match((e as Error).message, /^cannot open .*: EINVAL \(the file system does not support O_DIRECT\)$/);
      return;
    }
    const data = Buffer.alloc(4096, 0x5a);
    await s.write(4096, data);
    const got = await s.read(4096, 4096);
    assert.deepEqual(got, data);
    assert.equal(addressOf(got) % 4096n, 0n);
    await s.close();
  } finally {
    await t.cleanup();
  }
});

test('NullStore returns zeros, pinned READ data too (views of shared zeros, more than one for > 1 MiB)', async () => {
  const s = new NullStore(8 << 20);
  await s.write(0, Buffer.alloc(512, 1));
  assert.deepEqual(await s.read(0, 512), Buffer.alloc(512));
  const big = await s.readPinned(0, (3 << 20) + 512);
  assert.deepEqual(big.segments.map((x) => x.length), [1 << 20, 1 << 20, 1 << 20, 512]);
  assert.ok(dataBytes(big).every((b) => b === 0));
});

test('FileStore pinned reads: exact bytes in a pooled buffer that returns to the pool on release; a failed read releases it', async () => {
  const t = await tempDir();
  try {
    const p = await tempImage(t.dir, 1 << 20);
    const want = Buffer.alloc(256 << 10);
    for (let i = 0; i < want.length; i++) want[i] = (i * 13) & 0xff;
    await writeFile(p, want);
    const s = await FileStore.open({ ...base, path: p });
    try {
      // inline (page-cached, <= 128 KiB) and threadpool (larger) reads
      for (const [at, len] of [[512, 4096], [8192, 100_000], [0, 200 << 10]] as const) {
        const d = await s.readPinned(at, len);
        assert.equal(d.length, len);
        assert.deepEqual(Buffer.concat(d.segments as Buffer[]), want.subarray(at, at + len));
        const idle = readBuffers.idle;
        d.release();
        assert.ok(readBuffers.idle > idle, 'released back to the pool');
      }
      const idle = readBuffers.idle;
      await assert.rejects(s.readPinned((1 << 20) - 512, 4096), /unexpected end of file/);
      assert.equal(readBuffers.idle, idle, 'the buffer of the failed read went back too');
    } finally {
      await s.close();
    }
  } finally {
    await t.cleanup();
  }
});

test('handler modules create working LUs', async () => {
  const t = await tempDir();
  try {
    const p = await tempImage(t.dir, 65536);
    const lu = await disk.create(diskConfig({ file: p }), host);
    assert.equal(lu.peripheralType, 0);
    const n = nexus(1);
    await clearUa(lu, n);
    assertGood(await send(lu, cdb10(0x2a, 3, 1), n, { dataOut: Buffer.alloc(512, 7) }));
    assert.deepEqual(assertGood(await send(lu, cdb10(0x28, 3, 1), n)), Buffer.alloc(512, 7));
    await lu.close();
    const nl = await nullio.create(diskConfig({ type: 'nullio', file: p, sizeBytes: 1 << 20 }), host);
    await clearUa(nl, n);
    assert.deepEqual([...assertGood(await send(nl, cdb10(0x25, 0, 0), n))], [0, 0, 0x07, 0xff, 0, 0, 2, 0]);
    await assert.rejects(nullio.create(diskConfig({ type: 'nullio', sizeBytes: 1000 }), host), /not a positive multiple of the 512-byte block size/);
    assert.match(disk.description, /SBC-4/);
  } finally {
    await t.cleanup();
  }
});

test('inline I/O: page-cached reads and small writes skip the threadpool and round-trip exactly', async () => {
  const t = await tempDir();
  try {
    const p = await tempImage(t.dir, 1 << 20);
    await writeFile(p, Buffer.alloc(1 << 20, 0x5a)); // page-cached now
    const s = await FileStore.open({ ...base, path: p });
    const pattern = Buffer.alloc(4096);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7) & 0xff;
    await s.write(8192, pattern);
    assert.ok((s.stats.inlineWrites as number) >= 1, 'a 4 KiB buffered write is inline');
    const got = await s.read(8192, 4096);
    assert.deepEqual(got, pattern);
    assert.ok((s.stats.inlineReads as number) >= 1, 'a cached 4 KiB read is inline (preadv2 RWF_NOWAIT)');
    // Neighbouring reads from the shared slab never alias each other.
    const a = await s.read(0, 512);
    const b = await s.read(8192, 512);
    a.fill(1);
    assert.deepEqual(b, pattern.subarray(0, 512));
    // Large transfers still go through the threadpool, with the same result.
    const big = Buffer.alloc(512 << 10, 0x33);
    await s.write(256 << 10, big);
    assert.deepEqual(await s.read(256 << 10, 512 << 10), big);
    // Reads past the end still fail cleanly.
    await assert.rejects(s.read((1 << 20) - 512, 1024), { code: 'EOF' });
    await s.close();
  } finally {
    await t.cleanup();
  }
});

test('RWF_NOWAIT is a property of each file: an image on tmpfs (EOPNOTSUPP) does not stop inline reads of one on ext4', async (t) => {
  const shm = '/dev/shm';
  const onTmpfs = join(shm, `fileio-nowait-${process.pid}.img`);
  const d = await tempDir();
  try {
    await writeFile(onTmpfs, Buffer.alloc(8192, 1));
    const onDisk = join(d.dir, 'disk.img');
    await writeFile(onDisk, Buffer.alloc(8192, 2));
    const a = await FileStore.open({ ...base, path: onTmpfs });
    const b = await FileStore.open({ ...base, path: onDisk });
    try {
      (await a.readPinned(0, 4096)).release();
      (await a.readPinned(0, 4096)).release();
      if (a.stats.inlineReads > 0) t.diagnostic('this kernel does RWF_NOWAIT on tmpfs too');
      const pinned = await b.readPinned(4096, 4096); // in the page cache: the file was just written
      assert.equal(pinned.segments[0]![0], 2);
      pinned.release();
      assert.equal(b.stats.inlineReads, 1, 'read in place with preadv2(RWF_NOWAIT), not through the threadpool');
    } finally {
      await a.close();
      await b.close();
    }
  } finally {
    await import('node:fs/promises').then((f) => f.rm(onTmpfs, { force: true }));
    await d.cleanup();
  }
});
