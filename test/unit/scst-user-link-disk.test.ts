// The scst_user link serving disks (file and nullio) to the kernel model: PARSE_STANDARD, one
// EXEC per command, data in place in SGV-cached buffers, data integrity checked with sha256 of
// the image file, VERIFY with BYTCHK, read-only sessions, REPORT LUNS answered by the core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { diskConfig, openDisk, tempDir, tempImage } from '../helpers/scsi-harness.ts';
import { cdb10, cdb16, check, clearUa, good, serve, session } from '../helpers/scst-user-harness.ts';

const BS = 512;
const BLOCKS = 8192; // 4 MiB

test('disk: concurrent writes and reads through the link land in the image (sha256), VERIFY compares', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = await tempImage(dir, BLOCKS * BS);
    const lu = await openDisk(diskConfig({ file }));
    const srv = await serve([lu]);
    const dev = srv.model.device('disk1');
    assert.equal(dev.opt.parse_type, 0, 'disks use the kernel parser (PARSE_STANDARD)');
    const s = await session(dev);
    await clearUa(dev, s);
    const expected = Buffer.alloc(BLOCKS * BS);
    // 8 batches of 32 concurrent writes of 1..256 blocks, one per 256-block region (no overlap
    // within a batch, so the outcome is defined), mixing WRITE(10) and WRITE(16).
    const REGION = BLOCKS / 32;
    for (let batch = 0; batch < 8; batch++) {
      const writes = Array.from({ length: 32 }, (_, i) => {
        const n = 1 + Math.floor(Math.random() * REGION);
        const lba = i * REGION + Math.floor(Math.random() * (REGION - n + 1));
        return { i, lba, n, data: randomBytes(n * BS) };
      });
      const results = await Promise.all(
        writes.map((w) => dev.submit(s, { cdb: w.i % 2 ? cdb10(0x2a, w.lba, w.n) : cdb16(0x8a, w.lba, w.n), dataOut: w.data })),
      );
      for (const r of results) good(r);
      for (const w of writes) w.data.copy(expected, w.lba * BS);
    }
    // Read everything back in 128 KiB pieces, concurrently.
    const reads = await Promise.all(Array.from({ length: BLOCKS / 256 }, (_, j) => dev.submit(s, { cdb: cdb10(0x28, j * 256, 256) })));
    const back = Buffer.concat(reads.map(good));
    assert.equal(back.length, expected.length);
    assert.ok(back.equals(expected), 'data read back equals data written');
    // VERIFY(10) BYTCHK=1: equal -> GOOD, different -> MISCOMPARE.
    good(await dev.submit(s, { cdb: cdb10(0x2f, 10, 4, 0x02), dataOut: expected.subarray(10 * BS, 14 * BS) }));
    const wrong = Buffer.from(expected.subarray(10 * BS, 14 * BS));
    wrong[700] ^= 0xff;
    check(await dev.submit(s, { cdb: cdb10(0x2f, 10, 4, 0x02), dataOut: wrong }), '0e/1d/00');
    // SYNCHRONIZE CACHE, then the image on disk is exactly what was written.
    good(await dev.submit(s, { cdb: [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], expected: { dir: 'none', length: 0 } }));
    const stats = srv.link.server('disk1')!.describe();
    await srv.close();
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    assert.equal(sha(await readFile(file)), sha(expected));
    assert.equal(dev.stats.parses, 0, 'no PARSE for a disk');
    assert.ok(dev.stats.cacheHits > 0, 'SGV cache hits: buffers reused across commands');
    assert.ok(srv.model.stats.maxReplies > 1, `replies batched (max ${srv.model.stats.maxReplies} per call)`);
    assert.equal((stats.exec as { failed: number }).failed, 0);
  } finally {
    await cleanup();
  }
});

test('nullio: reads are zeros, writes are accepted, capacity from the size', async () => {
  const lu = await openDisk(diskConfig({ name: 'null1', type: 'nullio', nullio: true, sizeBytes: 1 << 30, file: undefined }));
  const srv = await serve([lu]);
  try {
    const dev = srv.model.device('null1');
    const s = await session(dev);
    await clearUa(dev, s);
    const cap = good(await dev.submit(s, { cdb: [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0] }));
    assert.equal(cap.readUInt32BE(0), (1 << 30) / BS - 1);
    assert.equal(cap.readUInt32BE(4), BS);
    good(await dev.submit(s, { cdb: cdb10(0x2a, 100, 64), dataOut: Buffer.alloc(64 * BS, 0xab) }));
    const d = good(await dev.submit(s, { cdb: cdb10(0x28, 100, 64) }));
    assert.equal(d.length, 64 * BS);
    assert.ok(d.every((b) => b === 0), 'nullio reads zeros even into a reused buffer that held 0xab');
    check(await dev.submit(s, { cdb: cdb10(0x28, (1 << 30) / BS, 1) }), '05/21/00');
  } finally {
    await srv.close();
  }
});

test('read-only session: the core refuses writes, MODE SENSE shows WP for that session only', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = await tempImage(dir, 1 << 20);
    const lu = await openDisk(diskConfig({ file }));
    const srv = await serve([lu]);
    const dev = srv.model.device('disk1');
    const ro = await session(dev, { rdOnly: true });
    const rw = await session(dev);
    await clearUa(dev, ro);
    await clearUa(dev, rw);
    assert.equal(srv.link.server('disk1')!.sessions.all().filter((x) => x.readOnly).length, 1);
    check(await dev.submit(ro, { cdb: cdb10(0x2a, 0, 1), dataOut: Buffer.alloc(BS, 1) }), '07/27/00');
    good(await dev.submit(rw, { cdb: cdb10(0x2a, 0, 1), dataOut: Buffer.alloc(BS, 1) }));
    const ms6 = [0x1a, 0, 0x3f, 0, 0xff, 0];
    assert.equal(good(await dev.submit(ro, { cdb: ms6 }))[2]! & 0x80, 0x80, 'WP for the read-only session');
    assert.equal(good(await dev.submit(rw, { cdb: ms6 }))[2]! & 0x80, 0, 'no WP for the other one');
    const ms10 = [0x5a, 0, 0x3f, 0, 0, 0, 0, 0x10, 0, 0];
    assert.equal(good(await dev.submit(ro, { cdb: ms10 }))[3]! & 0x80, 0x80);
    // REPORT LUNS never reaches the handler.
    const before = dev.stats.execs;
    const rl = good(await dev.submit(ro, { cdb: [0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0] }));
    assert.equal(rl.readUInt32BE(0), 8);
    assert.equal(dev.stats.execs, before);
    await srv.close();
  } finally {
    await cleanup();
  }
});
