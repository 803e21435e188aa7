// COMPARE AND WRITE (atomicity under concurrent commands from two nexuses), ORWRITE(16),
// WRITE ATOMIC(16), PRE-FETCH, SANITIZE, and the range lock itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { assertCheck, assertGood, cdb10, cdb16, clearUa, diskConfig, nexus, openDisk, send, tempDir, tempImage } from '../helpers/scsi-harness.ts';
import { RangeLock } from '../../src/backing/range-lock.ts';
import type { DeviceConfig } from '../../src/handlers/contract.ts';

const MiB = 1 << 20;

async function fileDisk(o: Partial<DeviceConfig> = {}, size = 4 * MiB) {
  const t = await tempDir();
  const file = await tempImage(t.dir, size);
  const lu = await openDisk(diskConfig({ file, ...o }));
  const n = nexus(1);
  const n2 = nexus(2);
  await clearUa(lu, n);
  await clearUa(lu, n2);
  return { lu, n, n2, file, cleanup: async () => { await lu.close(); await t.cleanup(); } };
}

function caw(lba: bigint, blocks: number, byte1 = 0): number[] {
  const b = Buffer.alloc(16);
  b[0] = 0x89;
  b[1] = byte1;
  b.writeBigUInt64BE(lba, 2);
  b[13] = blocks;
  return [...b];
}

test('COMPARE AND WRITE: writes on match, 0E/1D/00 with the offset of the first difference otherwise', async () => {
  const { lu, n, file, cleanup } = await fileDisk();
  try {
    const a = Buffer.alloc(1024, 0x41);
    const b = Buffer.alloc(1024, 0x42);
    assertGood(await send(lu, cdb10(0x2a, 5, 2), n, { dataOut: a }));
    assertGood(await send(lu, caw(5n, 2, 0x08), n, { dataOut: Buffer.concat([a, b]) }));
    assert.deepEqual((await readFile(file)).subarray(5 * 512, 7 * 512), b);
    const wrong = Buffer.from(b);
    wrong[700] = 0;
    const v = assertCheck(await send(lu, caw(5n, 2), n, { dataOut: Buffer.concat([wrong, a]) }), 0x0e, 0x1d, 0);
    assert.equal(v.information, 700);
    assert.deepEqual((await readFile(file)).subarray(5 * 512, 7 * 512), b, 'nothing written on a miscompare');
    // limits, sizes, fields
    assertGood(await send(lu, caw(0n, 0), n));
    assertCheck(await send(lu, caw(8191n, 2), n, { dataOut: Buffer.alloc(2048) }), 5, 0x21, 0);
    assertCheck(await send(lu, caw(0n, 1), n, { dataOut: Buffer.alloc(4 * 512) }), 5, 0x24, 0, { cdb: true, byte: 13 });
    assertCheck(await send(lu, caw(0n, 1), n, { dataOut: Buffer.alloc(512) }), 5, 0x24, 0, { cdb: true, byte: 13 });
    assertCheck(await send(lu, caw(0n, 1, 0x20), n, { dataOut: Buffer.alloc(1024) }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 7 });
    // RSOC one-command form reports DPO/FUA in the usage data
    const r = assertGood(await send(lu, [0xa3, 0x0c, 0x01, 0x89, 0, 0, 0, 0, 2, 0, 0, 0], n));
    assert.equal(r[1]! & 0x07, 3, 'supported');
    assert.equal(r.readUInt16BE(2), 16);
    assert.equal(r[5]! & 0x18, 0x18);
  } finally {
    await cleanup();
  }
});

test('COMPARE AND WRITE is atomic against concurrent CAWs and WRITEs from two nexuses', async () => {
  const { lu, n, n2, cleanup } = await fileDisk();
  try {
    const A = Buffer.alloc(512, 0xaa);
    const B = Buffer.alloc(512, 0xbb);
    assertGood(await send(lu, cdb10(0x2a, 0, 1), n, { dataOut: A }));
    // A->B on one nexus, B->A on the other, all in flight at once: every success flips the
    // block, so the final content tells whether two CAWs ever read the same old value.
    const all: Array<Promise<{ status: number }>> = [];
    for (let i = 0; i < 300; i++) {
      all.push(send(lu, caw(0n, 1), n, { dataOut: Buffer.concat([A, B]) }));
      all.push(send(lu, caw(0n, 1), n2, { dataOut: Buffer.concat([B, A]) }));
    }
    const rs = await Promise.all(all);
    const good = rs.filter((r) => r.status === 0).length;
    assert.ok(rs.every((r) => r.status === 0 || r.status === 2));
    assert.ok(good > 0);
    const now = assertGood(await send(lu, cdb10(0x28, 0, 1), n));
    assert.deepEqual(now, good % 2 === 0 ? A : B, `${good} successful CAWs`);
    // a WRITE queued behind a CAW does not slip between its compare and its write
    const r1 = send(lu, caw(0n, 1), n, { dataOut: Buffer.concat([now, Buffer.alloc(512, 1)]) });
    const r2 = send(lu, cdb10(0x2a, 0, 1), n2, { dataOut: Buffer.alloc(512, 2) });
    assertGood(await r1);
    assertGood(await r2);
    assert.deepEqual(assertGood(await send(lu, cdb10(0x28, 0, 1), n)), Buffer.alloc(512, 2));
  } finally {
    await cleanup();
  }
});

test('range lock: FIFO, shared readers in parallel, exclusive writers ordered on overlap only', async () => {
  const l = new RangeLock();
  const order: string[] = [];
  const w1 = await l.acquire(0n, 10, 'exclusive');
  const r1 = l.acquire(5n, 1, 'shared').then((rel) => { order.push('r1'); return rel; });
  const w2 = l.acquire(20n, 5, 'exclusive').then((rel) => { order.push('w2'); return rel; });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['w2'], 'non-overlapping writer does not wait');
  w1();
  (await r1)();
  (await w2)();
  assert.deepEqual(order, ['w2', 'r1']);
  const s1 = await l.acquire(0n, 4, 'shared');
  const s2 = await l.acquire(0n, 4, 'shared'); // readers share
  s1();
  s2();
  assert.equal(l.size, 0);
});

test('ORWRITE(16) ORs into the medium; WRITE ATOMIC(16); PRE-FETCH answers GOOD', async () => {
  const { lu, n, cleanup } = await fileDisk();
  try {
    assertGood(await send(lu, cdb10(0x2a, 3, 1), n, { dataOut: Buffer.alloc(512, 0x0f) }));
    assertGood(await send(lu, cdb16(0x8b, 3n, 1, 0x08), n, { dataOut: Buffer.alloc(512, 0x30) }));
    assert.deepEqual(assertGood(await send(lu, cdb10(0x28, 3, 1), n)), Buffer.alloc(512, 0x3f));
    assertCheck(await send(lu, cdb16(0x8b, 3n, 1, 0x20), n, { dataOut: Buffer.alloc(512) }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 7 });
    assertCheck(await send(lu, cdb16(0x8b, 8192n, 1), n, { dataOut: Buffer.alloc(512) }), 5, 0x21, 0);
    // WRITE ATOMIC(16): TRANSFER LENGTH in bytes 12..13, ATOMIC BOUNDARY 10..11 unsupported
    const wa = (lba: bigint, blocks: number, boundary = 0): number[] => {
      const b = Buffer.alloc(16);
      b[0] = 0x9c;
      b.writeBigUInt64BE(lba, 2);
      b.writeUInt16BE(boundary, 10);
      b.writeUInt16BE(blocks, 12);
      return [...b];
    };
    assertGood(await send(lu, wa(10n, 2), n, { dataOut: Buffer.alloc(1024, 0x66) }));
    assert.deepEqual(assertGood(await send(lu, cdb10(0x28, 10, 2), n)), Buffer.alloc(1024, 0x66));
    assertGood(await send(lu, wa(0n, 0), n));
    assertCheck(await send(lu, wa(0n, 1, 1), n, { dataOut: Buffer.alloc(512) }), 5, 0x24, 0, { cdb: true, byte: 10 });
    assertCheck(await send(lu, wa(8193n, 0), n), 5, 0x21, 0);
    assertCheck(await send(lu, wa(0n, 2), n, { dataOut: Buffer.alloc(512) }), 5, 0x0e, 0x03);
    // PRE-FETCH: GOOD (we never promise the blocks stay cached), IMMED, 0 = to the end, range
    assert.equal((await send(lu, [0x34, 0, 0, 0, 0, 0, 0, 0, 16, 0], n)).status, 0);
    assert.equal((await send(lu, [0x34, 2, 0, 0, 0, 0, 3, 0, 16, 0], n)).status, 0);
    assert.equal((await send(lu, cdb16(0x90, 0n, 0), n)).status, 0);
    assertCheck(await send(lu, cdb16(0x90, 8192n, 1), n), 5, 0x21, 0);
    assertCheck(await send(lu, cdb16(0x90, 8193n, 0), n), 5, 0x21, 0);
    assertCheck(await send(lu, [0x34, 0x01, 0, 0, 0, 0, 0, 0, 1, 0], n), 5, 0x24, 0, { cdb: true, byte: 1, bit: 0 });
  } finally {
    await cleanup();
  }
});

test('SANITIZE OVERWRITE: parameter checks, NOT READY 04/1B while it runs, the pattern afterwards', async () => {
  const { lu, n, cleanup } = await fileDisk({}, 64 * MiB);
  try {
    const san = (sa: number, len: number, byte1 = 0): number[] => [0x48, byte1 | sa, 0, 0, 0, 0, 0, len >> 8, len & 0xff, 0];
    const param = (owcount: number, pattern: Buffer): Buffer => {
      const p = Buffer.alloc(4 + pattern.length);
      p[0] = owcount;
      p.writeUInt16BE(pattern.length, 2);
      pattern.copy(p, 4);
      return p;
    };
    const p = param(1, Buffer.from([1, 2, 3, 4]));
    assertCheck(await send(lu, san(1, 4), n, { dataOut: p.subarray(0, 4) }), 5, 0x24, 0, { cdb: true, byte: 7 });
    assertCheck(await send(lu, san(1, 517), n, { dataOut: Buffer.alloc(517) }), 5, 0x24, 0, { cdb: true, byte: 7 });
    assertCheck(await send(lu, san(1, 8), n, { dataOut: param(0, Buffer.from([1, 2, 3, 4])) }), 5, 0x26, 0, { cdb: false, byte: 0, bit: 4 });
    assertCheck(await send(lu, san(1, 8, 0x40), n, { dataOut: p }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 6 });
    assertCheck(await send(lu, san(3, 0), n), 5, 0x24, 0, { cdb: true, byte: 1, bit: 4 }); // no CRYPTO ERASE
    assertCheck(await send(lu, san(2, 0), n), 5, 0x24, 0, { cdb: true, byte: 1, bit: 4 }); // BLOCK ERASE: thin only
    assertCheck(await send(lu, san(0x1f, 8), n, { dataOut: Buffer.alloc(8) }), 5, 0x24, 0, { cdb: true, byte: 7 });
    // IMMED: GOOD at once, then 02/04/1B for medium access and TUR; INQUIRY still answers
    assertGood(await send(lu, san(1, 8, 0x80), n, { dataOut: p }));
    const tur = await send(lu, [0, 0, 0, 0, 0, 0], n);
    if (tur.status !== 0) {
      assertCheck(tur, 2, 0x04, 0x1b);
      assertGood(await send(lu, [0x12, 0, 0, 0, 36, 0], n));
    }
    for (let i = 0; i < 200; i++) {
      if ((await send(lu, [0, 0, 0, 0, 0, 0], n)).status === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const all = assertGood(await send(lu, cdb10(0x28, 0, 16), n));
    assert.deepEqual(all, Buffer.alloc(16 * 512).fill(Buffer.from([1, 2, 3, 4])));
    assertGood(await send(lu, san(0x1f, 0), n));
  } finally {
    await cleanup();
  }
});
