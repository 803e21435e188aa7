// SBC-4 disk through raw CDBs against temp image files: data round trips, ranges, durability, verify.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { assertCheck, assertGood, cdb10, cdb12, cdb16, cdb6, clearUa, diskConfig, nexus, openDisk, send, tempDir, tempImage } from '../helpers/scsi-harness.ts';
import type { DeviceConfig } from '../../src/handlers/contract.ts';

const MiB = 1 << 20;

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 7 + seed * 13 + (i >> 9)) & 0xff;
  return b;
}

async function fileDisk(o: Partial<DeviceConfig> = {}, size = MiB) {
  const t = await tempDir();
  const file = await tempImage(t.dir, size);
  const lu = await openDisk(diskConfig({ file, ...o }));
  const n = nexus(1);
  await clearUa(lu, n);
  return { lu, n, file, cleanup: async () => { await lu.close(); await t.cleanup(); } };
}

test('every READ/WRITE size round-trips through the file', async () => {
  const { lu, n, file, cleanup } = await fileDisk();
  try {
    const cases: Array<[string, number[], number[], number, number]> = [
      ['6', cdb6(0x0a, 1, 3), cdb6(0x08, 1, 3), 1, 3],
      ['10', cdb10(0x2a, 10, 4), cdb10(0x28, 10, 4), 10, 4],
      ['12', cdb12(0xaa, 20, 5), cdb12(0xa8, 20, 5), 20, 5],
      ['16', cdb16(0x8a, 2040n, 8), cdb16(0x88, 2040n, 8), 2040, 8],
    ];
    let seed = 1;
    for (const [name, w, r, lba, blocks] of cases) {
      const data = pattern(blocks * 512, seed++);
      assertGood(await send(lu, w, n, { dataOut: data }));
      assert.deepEqual(assertGood(await send(lu, r, n)), data, `READ(${name})`);
      const onDisk = await readFile(file);
      assert.deepEqual(onDisk.subarray(lba * 512, (lba + blocks) * 512), data, `file contents after WRITE(${name})`);
    }
    // READ(6) transfer length 0 means 256 blocks
    assert.equal(assertGood(await send(lu, cdb6(0x08, 0, 0), n)).length, 256 * 512);
    // other sizes with 0 blocks transfer nothing
    assert.equal(assertGood(await send(lu, cdb10(0x28, 0, 0), n)).length, 0);
    assertGood(await send(lu, cdb16(0x8a, 5n, 0), n));
    // extra data-out is ignored; the response says what the CDB called for (residuals)
    const extra = await send(lu, cdb10(0x2a, 100, 1), n, { dataOut: Buffer.alloc(1024, 0x55) });
    assertGood(extra);
    assert.equal(extra.dataOutLength, 512);
    assert.deepEqual((await readFile(file)).subarray(101 * 512, 102 * 512), Buffer.alloc(512));
    // short data-out (the initiator's expected length was short): only the whole blocks sent are written
    const short = await send(lu, cdb10(0x2a, 200, 2), n, { dataOut: Buffer.alloc(512, 0x66) });
    assertGood(short);
    assert.equal(short.dataOutLength, 1024);
    assert.deepEqual((await readFile(file)).subarray(200 * 512, 202 * 512), Buffer.concat([Buffer.alloc(512, 0x66), Buffer.alloc(512)]));
    // a partial block cannot be written: refused without touching the medium
    const partial = await send(lu, cdb10(0x2a, 300, 1), n, { dataOut: Buffer.alloc(200, 0x77) });
    assertCheck(partial, 5, 0x0e, 0x03);
    assert.equal(partial.dataOutLength, 512);
    assert.deepEqual((await readFile(file)).subarray(300 * 512, 301 * 512), Buffer.alloc(512));
  } finally {
    await cleanup();
  }
});

test('LBA range checks (with overflow), protection fields, transfer limit', async () => {
  const { lu, n, cleanup } = await fileDisk(); // 2048 blocks
  try {
    assertCheck(await send(lu, cdb10(0x28, 2047, 2), n), 5, 0x21, 0);
    assertGood(await send(lu, cdb10(0x28, 2047, 1), n));
    assertGood(await send(lu, cdb10(0x28, 2048, 0), n));
    assertCheck(await send(lu, cdb10(0x28, 2049, 0), n), 5, 0x21, 0);
    assertCheck(await send(lu, cdb16(0x88, 0xffffffffffffffffn, 1), n), 5, 0x21, 0);
    assertCheck(await send(lu, cdb16(0x88, 1n << 63n, 1), n), 5, 0x21, 0);
    assertCheck(await send(lu, cdb12(0xa8, 0xffffffff, 2), n), 5, 0x21, 0);
    assertCheck(await send(lu, cdb6(0x08, 2040, 9), n), 5, 0x21, 0);
    assertCheck(await send(lu, cdb16(0x8a, 2048n, 1), n, { dataOut: Buffer.alloc(512) }), 5, 0x21, 0);
    const info = assertCheck(await send(lu, cdb10(0x28, 4000, 1), n), 5, 0x21, 0);
    assert.equal(info.information, 4000);
    assertCheck(await send(lu, cdb10(0x28, 0, 1, 0x20), n), 5, 0x24, 0, { cdb: true, byte: 1, bit: 7 });
    assertCheck(await send(lu, cdb16(0x8a, 0n, 1, 0xe0), n, { dataOut: Buffer.alloc(512) }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 7 });
    assertCheck(await send(lu, cdb6(0x08, 0, 1).map((b, i) => (i === 1 ? 0x20 : b)), n), 5, 0x24, 0, { cdb: true, byte: 1, bit: 5 });
    // above MAXIMUM TRANSFER LENGTH (8 MiB / 512 = 16384 blocks) points at the length field
    assertCheck(await send(lu, cdb16(0x88, 0n, 16385), n), 5, 0x24, 0, { cdb: true, byte: 10 });
  } finally {
    await cleanup();
  }
});

const flushes = (lu: { describe(): Record<string, unknown> }): number => lu.describe()['flushes'] as number;

test('FUA, WCE and SYNCHRONIZE CACHE decide when data is flushed', async () => {
  const { lu, n, cleanup } = await fileDisk();
  try {
    const blk = Buffer.alloc(512, 1);
    assertGood(await send(lu, cdb10(0x2a, 0, 1), n, { dataOut: blk }));
    assert.equal(flushes(lu), 0, 'write-back: no flush');
    assertGood(await send(lu, cdb10(0x2a, 0, 1, 0x08), n, { dataOut: blk }));
    assert.equal(flushes(lu), 1, 'FUA flushes');
    assertGood(await send(lu, cdb10(0x35, 0, 0), n));
    assert.equal(flushes(lu), 2, 'SYNCHRONIZE CACHE(10) flushes');
    assertGood(await send(lu, cdb16(0x91, 0n, 0), n));
    assert.equal(flushes(lu), 3, 'SYNCHRONIZE CACHE(16) flushes');
    assertCheck(await send(lu, cdb10(0x35, 2000, 100), n), 5, 0x21, 0);
    assertGood(await send(lu, cdb10(0x35, 0, 0, 0x02), n)); // IMMED
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(flushes(lu), 4);
    // MODE SELECT WCE = 0: every write is durable before GOOD
    const sel = Buffer.alloc(24);
    sel[4] = 0x08;
    sel[5] = 0x12;
    assertGood(await send(lu, [0x15, 0x10, 0, 0, 24, 0], n, { dataOut: sel }));
    assertGood(await send(lu, cdb10(0x2a, 0, 1), n, { dataOut: blk }));
    assertGood(await send(lu, cdb6(0x0a, 0, 1), n, { dataOut: blk }));
    assert.equal(flushes(lu), 6, 'write-through after WCE=0');
  } finally {
    await cleanup();
  }
});

test('-t reports WCE=0 and needs no flushes; -c makes flushes no-ops', async () => {
  const wt = await fileDisk({ writeThrough: true });
  try {
    assert.equal(assertGood(await send(wt.lu, [0x1a, 0x08, 0x08, 0, 255, 0], wt.n))[6], 0x00);
    assertGood(await send(wt.lu, cdb10(0x2a, 0, 1, 0x08), wt.n, { dataOut: Buffer.alloc(512) }));
    assert.equal(flushes(wt.lu), 0, 'O_DSYNC writes are durable already');
  } finally {
    await wt.cleanup();
  }
  const nv = await fileDisk({ nvCache: true });
  try {
    assert.equal(assertGood(await send(nv.lu, [0x1a, 0x08, 0x08, 0, 255, 0], nv.n))[6], 0x04, 'WCE still 1');
    assertGood(await send(nv.lu, cdb10(0x2a, 0, 1, 0x08), nv.n, { dataOut: Buffer.alloc(512) }));
    assertGood(await send(nv.lu, cdb10(0x35, 0, 0), nv.n));
    assert.equal(flushes(nv.lu), 0);
  } finally {
    await nv.cleanup();
  }
});

test('VERIFY BYTCHK 0/1/3 and WRITE AND VERIFY; MISCOMPARE carries the byte offset', async () => {
  const { lu, n, cleanup } = await fileDisk();
  try {
    const data = pattern(4 * 512, 9);
    assertGood(await send(lu, cdb10(0x2e, 8, 4, 0x02), n, { dataOut: data })); // WRITE AND VERIFY(10) BYTCHK=1
    assert.deepEqual(assertGood(await send(lu, cdb10(0x28, 8, 4), n)), data);
    assertGood(await send(lu, cdb10(0x2f, 8, 4, 0x02), n, { dataOut: data }));
    const bad = Buffer.from(data);
    bad[700] ^= 0x01;
    const v = assertCheck(await send(lu, cdb12(0xaf, 8, 4, 0x02), n, { dataOut: bad }), 0x0e, 0x1d, 0x00);
    assert.equal(v.information, 700);
    assertGood(await send(lu, cdb16(0x8f, 8n, 4), n)); // BYTCHK=0: medium check
    assertCheck(await send(lu, cdb10(0x2f, 2047, 2), n), 5, 0x21, 0);
    assertCheck(await send(lu, cdb10(0x2f, 8, 1, 0x04), n, { dataOut: data }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 2 });
    // BYTCHK=3: one block compared against every block in the range
    const same = Buffer.alloc(512, 0xab);
    assertGood(await send(lu, cdb16(0x8e, 100n, 3), n, { dataOut: Buffer.concat([same, same, same]) }));
    assertGood(await send(lu, cdb10(0x2f, 100, 3, 0x06), n, { dataOut: same }));
    const r3 = assertCheck(await send(lu, cdb10(0x2f, 99, 3, 0x06), n, { dataOut: same }), 0x0e, 0x1d, 0x00);
    assert.equal(r3.information, 0);
    assertCheck(await send(lu, cdb12(0xae, 0, 1, 0x06), n, { dataOut: same }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 2 });
  } finally {
    await cleanup();
  }
});

test('read-only (-r): 21/00 beats 27/00, reads work, WP in MODE SENSE', async () => {
  const { lu, n, cleanup } = await fileDisk({ readOnly: true });
  try {
    const blk = Buffer.alloc(512);
    for (const cdb of [cdb6(0x0a, 0, 1), cdb10(0x2a, 0, 1), cdb12(0xaa, 0, 1), cdb16(0x8a, 0n, 1), cdb10(0x2e, 0, 1)]) {
      assertCheck(await send(lu, cdb, n, { dataOut: blk }), 7, 0x27, 0x00);
    }
    assertCheck(await send(lu, cdb10(0x2a, 2048, 1), n, { dataOut: blk }), 5, 0x21, 0x00);
    assertGood(await send(lu, cdb10(0x28, 0, 1), n));
    assertGood(await send(lu, cdb10(0x35, 0, 0), n));
    assert.equal(assertGood(await send(lu, [0x1a, 0, 0x3f, 0, 255, 0], n))[2], 0x90);
  } finally {
    await cleanup();
  }
});

test('READ CAPACITY(10/16): block sizes 512 and 4096, >32-bit capacity, PMI rule', async () => {
  const d512 = await openDisk(diskConfig({ nullio: true, sizeBytes: 2 * MiB }));
  const n = nexus(1);
  await clearUa(d512, n);
  assert.deepEqual([...assertGood(await send(d512, cdb10(0x25, 0, 0), n))], [0, 0, 0x0f, 0xff, 0, 0, 0x02, 0x00]);
  const rc16 = [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0];
  const r = assertGood(await send(d512, rc16, n));
  assert.deepEqual([...r.subarray(0, 16)], [0, 0, 0, 0, 0, 0, 0x0f, 0xff, 0, 0, 0x02, 0x00, 0, 0x03, 0, 0]);
  assert.equal(r.length, 32);
  assertCheck(await send(d512, [0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0], n), 5, 0x24, 0, { cdb: true, byte: 2 });
  assert.equal(assertGood(await send(d512, [...rc16.slice(0, 13), 8, 0, 0], n)).length, 8);

  const d4k = await openDisk(diskConfig({ nullio: true, sizeBytes: 2 * MiB, blockSize: 4096 }));
  await clearUa(d4k, n);
  assert.deepEqual([...assertGood(await send(d4k, cdb10(0x25, 0, 0), n))], [0, 0, 0x01, 0xff, 0, 0, 0x10, 0x00]);
  assert.equal(assertGood(await send(d4k, rc16, n))[13], 0x00);

  const big = await openDisk(diskConfig({ nullio: true, sizeBytes: 2 ** 33 * 512 }));
  await clearUa(big, n);
  assert.deepEqual([...assertGood(await send(big, cdb10(0x25, 0, 0), n))], [0xff, 0xff, 0xff, 0xff, 0, 0, 0x02, 0x00]);
  assert.equal(assertGood(await send(big, rc16, n)).readBigUInt64BE(0), 2n ** 33n - 1n);
});

test('block size 4096 round trip through a file', async () => {
  const { lu, n, file, cleanup } = await fileDisk({ blockSize: 4096 }, 4 * MiB);
  try {
    const data = pattern(2 * 4096, 3);
    assertGood(await send(lu, cdb10(0x2a, 1000, 2), n, { dataOut: data }));
    assert.deepEqual(assertGood(await send(lu, cdb16(0x88, 1000n, 2), n)), data);
    assert.deepEqual((await readFile(file)).subarray(1000 * 4096, 1002 * 4096), data);
    assertCheck(await send(lu, cdb10(0x28, 1023, 2), n), 5, 0x21, 0);
  } finally {
    await cleanup();
  }
});

test('nullio: zeros on read, writes dropped, 1 TiB default', async () => {
  const lu = await openDisk(diskConfig({ nullio: true }));
  const n = nexus(1);
  await clearUa(lu, n);
  assertGood(await send(lu, cdb10(0x2a, 5, 1), n, { dataOut: Buffer.alloc(512, 0xff) }));
  assert.deepEqual(assertGood(await send(lu, cdb10(0x28, 5, 1), n)), Buffer.alloc(512));
  assert.deepEqual([...assertGood(await send(lu, cdb10(0x25, 0, 0), n))], [0x7f, 0xff, 0xff, 0xff, 0, 0, 0x02, 0x00]);
});

test('START STOP UNIT: STOP keeps the unit ready (medium.ts), LoEj only when removable, power conditions', async () => {
  const lu = await openDisk(diskConfig({ nullio: true, sizeBytes: MiB }));
  const n = nexus(1);
  await clearUa(lu, n);
  const ssu = (b4: number) => [0x1b, 0, 0, 0, b4, 0];
  assertGood(await send(lu, ssu(0x00), n));
  assertGood(await send(lu, [0, 0, 0, 0, 0, 0], n));
  assertGood(await send(lu, cdb10(0x28, 0, 1), n));
  assertGood(await send(lu, ssu(0x01), n));
  assertGood(await send(lu, cdb10(0x28, 0, 1), n));
  assertCheck(await send(lu, ssu(0x02), n), 5, 0x24, 0, { cdb: true, byte: 4, bit: 1 });
  assertGood(await send(lu, ssu(0x50), n)); // reserved power condition: accepted, no effect
  assertGood(await send(lu, ssu(0x30), n)); // STANDBY power condition: accepted
  const rem = await openDisk(diskConfig({ nullio: true, sizeBytes: MiB, removable: true }));
  await clearUa(rem, n);
  assertGood(await send(rem, ssu(0x02), n));
  assertCheck(await send(rem, [0, 0, 0, 0, 0, 0], n), 2, 0x3a, 0x00);
  assertCheck(await send(rem, cdb10(0x25, 0, 0), n), 2, 0x3a, 0x00);
  assertGood(await send(rem, ssu(0x03), n));
  assertGood(await send(rem, [0, 0, 0, 0, 0, 0], n));
});
