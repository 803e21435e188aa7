// SBC-4 thin provisioning through raw CDBs: READ CAPACITY(16) LBPME/LBPRZ, VPD B0h/B2h, UNMAP,
// WRITE SAME(10/16) with UNMAP/NDOB, GET LBA STATUS, FORMAT UNIT; fully provisioned LUs refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertCheck, assertGood, cdb10, cdb16, clearUa, diskConfig, nexus, openDisk, send, tempDir } from '../helpers/scsi-harness.ts';
import type { DeviceConfig } from '../../src/handlers/contract.ts';

const MiB = 1 << 20;

async function sparseDisk(o: Partial<DeviceConfig> = {}, size = 16 * MiB) {
  const t = await tempDir();
  const file = join(t.dir, 'thin.img');
  await writeFile(file, Buffer.alloc(0));
  await truncate(file, size);
  const lu = await openDisk(diskConfig({ file, thin: true, ...o }));
  const n = nexus(1);
  await clearUa(lu, n);
  return { lu, n, file, cleanup: async () => { await lu.close(); await t.cleanup(); } };
}

function unmapList(ranges: Array<[bigint, number]>, extra = 0): Buffer {
  const p = Buffer.alloc(8 + 16 * ranges.length + extra);
  p.writeUInt16BE(p.length - 2, 0);
  p.writeUInt16BE(16 * ranges.length + extra, 2);
  ranges.forEach(([lba, n], i) => {
    p.writeBigUInt64BE(lba, 8 + 16 * i);
    p.writeUInt32BE(n, 16 + 16 * i);
  });
  return p;
}

function unmapCdb(len: number, byte1 = 0): number[] {
  return [0x42, byte1, 0, 0, 0, 0, 0, len >> 8, len & 0xff, 0];
}

function getLbaStatus(lba: bigint, alloc: number): number[] {
  const b = Buffer.alloc(16);
  b[0] = 0x9e;
  b[1] = 0x12;
  b.writeBigUInt64BE(lba, 2);
  b.writeUInt32BE(alloc, 10);
  return [...b];
}

function descriptors(d: Buffer): Array<[bigint, number, number]> {
  const n = (d.readUInt32BE(0) - 4) / 16;
  const out: Array<[bigint, number, number]> = [];
  for (let i = 0; i < n && 8 + 16 * i + 16 <= d.length; i++) out.push([d.readBigUInt64BE(8 + 16 * i), d.readUInt32BE(16 + 16 * i), d[20 + 16 * i]! & 0x0f]);
  return out;
}

test('thin LU: READ CAPACITY(16) LBPME+LBPRZ, VPD B0h unmap limits, B2h LBPU/LBPWS/LBPWS10/LBPRZ/thin', async () => {
  const { lu, n, cleanup } = await sparseDisk();
  try {
    const rc = assertGood(await send(lu, [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0], n));
    assert.equal(rc[14]! & 0xc0, 0xc0);
    const b0 = assertGood(await send(lu, [0x12, 1, 0xb0, 0, 255, 0], n));
    assert.equal(b0[4]! & 1, 0, 'WSNZ = 0');
    assert.equal(b0[5], 255, 'MAXIMUM COMPARE AND WRITE LENGTH');
    assert.equal(b0.readUInt32BE(20), 1 << 20, 'MAXIMUM UNMAP LBA COUNT');
    assert.equal(b0.readUInt32BE(24), 256, 'MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT');
    assert.equal(b0.readUInt32BE(28), 8, 'OPTIMAL UNMAP GRANULARITY: a 4 KiB fs block');
    assert.equal(b0.readUInt32BE(32), 0x80000000, 'UGAVALID, alignment 0');
    assert.equal(b0.readBigUInt64BE(36), 0xffffn, 'MAXIMUM WRITE SAME LENGTH');
    assert.equal(b0.readUInt32BE(44), 16384, 'MAXIMUM ATOMIC TRANSFER LENGTH');
    const b2 = assertGood(await send(lu, [0x12, 1, 0xb2, 0, 255, 0], n));
    assert.equal(b2[5], 0x80 | 0x40 | 0x20 | 0x04);
    assert.equal(b2[6]! & 0x07, 2, 'provisioning type thin');
    const b1 = assertGood(await send(lu, [0x12, 1, 0xb1, 0, 255, 0], n));
    assert.equal(b1[7]! >> 6, 1, 'WABEREQ 01b');
  } finally {
    await cleanup();
  }
});

test('fully provisioned LU: no UNMAP, WRITE SAME with UNMAP refused, GET LBA STATUS all mapped', async () => {
  const { lu, n, cleanup } = await sparseDisk({ thin: false });
  try {
    const rc = assertGood(await send(lu, [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0], n));
    assert.equal(rc[14]! & 0xc0, 0);
    const b2 = assertGood(await send(lu, [0x12, 1, 0xb2, 0, 255, 0], n));
    assert.equal(b2[5], 0);
    const b0 = assertGood(await send(lu, [0x12, 1, 0xb0, 0, 255, 0], n));
    assert.equal(b0.readUInt32BE(20), 0, 'no unmap limits');
    assertCheck(await send(lu, unmapCdb(24), n, { dataOut: unmapList([[0n, 1]]) }), 5, 0x20, 0, { cdb: true, byte: 0 });
    assertCheck(await send(lu, cdb10(0x41, 0, 1, 0x08), n, { dataOut: Buffer.alloc(512) }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 3 });
    const d = descriptors(assertGood(await send(lu, getLbaStatus(5n, 24), n)));
    assert.deepEqual(d, [[5n, 32768 - 5, 0]]);
  } finally {
    await cleanup();
  }
});

test('UNMAP punches holes (file blocks shrink, GET LBA STATUS sees them) and validates the list', async () => {
  const { lu, n, file, cleanup } = await sparseDisk();
  try {
    assertGood(await send(lu, cdb10(0x2a, 0, 8192), n, { dataOut: Buffer.alloc(4 * MiB, 0x77) }));
    assertGood(await send(lu, [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], n));
    const before = (await stat(file)).blocks;
    assertGood(await send(lu, unmapCdb(40), n, { dataOut: unmapList([[8n, 2048], [4096n, 1]]) }));
    assertGood(await send(lu, [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], n));
    const after = (await stat(file)).blocks;
    assert.ok(after <= before - 2048, `holes: ${before} -> ${after} sectors`);
    const r = assertGood(await send(lu, cdb10(0x28, 0, 2064), n));
    assert.ok(r.subarray(0, 8 * 512).every((b) => b === 0x77));
    assert.ok(r.subarray(8 * 512, 2056 * 512).every((b) => b === 0), 'LBPRZ: unmapped blocks read as zeros');
    assert.ok(r.subarray(2056 * 512).every((b) => b === 0x77));
    // a single 512-byte block cannot be punched: zeroed, still mapped
    assert.deepEqual(assertGood(await send(lu, cdb10(0x28, 4096, 1), n)), Buffer.alloc(512));
    const d = descriptors(assertGood(await send(lu, getLbaStatus(0n, 8 + 16 * 4), n)));
    assert.deepEqual(d, [
      [0n, 8, 0],
      [8n, 2048, 1],
      [2056n, 8192 - 2056, 0],
      [8192n, 32768 - 8192, 1],
    ]);
    // allocation length: truncated, PARAMETER DATA LENGTH still tells the truth for what fits
    const short = assertGood(await send(lu, getLbaStatus(4n, 24), n));
    assert.equal(short.length, 24);
    assert.deepEqual(descriptors(short), [[4n, 4, 0]]);
    // errors
    assertCheck(await send(lu, getLbaStatus(32768n, 24), n), 5, 0x21, 0);
    assertCheck(await send(lu, getLbaStatus(0xffffffffffffffffn, 24), n), 5, 0x21, 0);
    assertCheck(await send(lu, unmapCdb(4), n, { dataOut: Buffer.alloc(4) }), 5, 0x1a, 0, { cdb: true, byte: 7 });
    assertCheck(await send(lu, unmapCdb(24, 1), n, { dataOut: unmapList([[0n, 1]]) }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 0 });
    assertCheck(await send(lu, unmapCdb(24), n, { dataOut: unmapList([[32767n, 2]]) }), 5, 0x21, 0);
    assertCheck(await send(lu, unmapCdb(24), n, { dataOut: unmapList([[0xffffffffffffffffn, 1]]) }), 5, 0x21, 0);
    const many = unmapList(Array.from({ length: 257 }, (_, i) => [BigInt(i), 1] as [bigint, number]));
    assertCheck(await send(lu, unmapCdb(many.length), n, { dataOut: many }), 5, 0x26, 0, { cdb: false, byte: 2 });
    const bad = unmapList([[0n, 1]]);
    bad.writeUInt16BE(40, 2); // descriptor data length beyond the list
    assertCheck(await send(lu, unmapCdb(24), n, { dataOut: bad }), 5, 0x26, 0, { cdb: false, byte: 2 });
    assertGood(await send(lu, unmapCdb(0), n));
    assertGood(await send(lu, unmapCdb(24), n, { dataOut: unmapList([[32768n, 0]]) }));
  } finally {
    await cleanup();
  }
});

test('WRITE SAME(10/16): patterns, UNMAP, NDOB, 0 = to the end, limits and refused fields', async () => {
  const { lu, n, file, cleanup } = await sparseDisk();
  try {
    const block = Buffer.alloc(512, 0x3c);
    assertGood(await send(lu, cdb10(0x41, 10, 300), n, { dataOut: block }));
    const r = assertGood(await send(lu, cdb10(0x28, 9, 302), n));
    assert.ok(r.subarray(0, 512).every((b) => b === 0));
    assert.ok(r.subarray(512, 301 * 512).every((b) => b === 0x3c));
    assert.ok(r.subarray(301 * 512).every((b) => b === 0));
    // UNMAP=1 deallocates whatever the block holds (LBPRZ: zeros)
    assertGood(await send(lu, cdb16(0x8a, 0n, 4096), n, { dataOut: Buffer.alloc(2 * MiB, 0x11) }));
    assertGood(await send(lu, [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], n));
    const before = (await stat(file)).blocks;
    assertGood(await send(lu, cdb16(0x93, 0n, 4096, 0x08), n, { dataOut: Buffer.alloc(512, 0xff) }));
    assertGood(await send(lu, [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], n));
    assert.ok((await stat(file)).blocks < before - 3000);
    assert.deepEqual(assertGood(await send(lu, cdb10(0x28, 0, 16), n)), Buffer.alloc(16 * 512));
    // NDOB: no data-out, zeros
    assertGood(await send(lu, cdb10(0x2a, 100, 1), n, { dataOut: Buffer.alloc(512, 9) }));
    const nd = await send(lu, cdb16(0x93, 100n, 1, 0x01), n);
    assertGood(nd);
    assert.equal(nd.dataOutLength, 0);
    assert.deepEqual(assertGood(await send(lu, cdb10(0x28, 100, 1), n)), Buffer.alloc(512));
    // 0 blocks: to the end of the medium
    assertGood(await send(lu, cdb16(0x93, 32760n, 0), n, { dataOut: Buffer.alloc(512, 0x42) }));
    assert.ok(assertGood(await send(lu, cdb10(0x28, 32760, 8), n)).every((b) => b === 0x42));
    // the whole LU (32768 blocks) is under MAXIMUM WRITE SAME LENGTH (65535)
    assertGood(await send(lu, cdb16(0x93, 0n, 0), n, { dataOut: Buffer.alloc(512) }));
    assertCheck(await send(lu, cdb16(0x93, 0n, 0x10000), n, { dataOut: Buffer.alloc(512) }), 5, 0x24, 0, { cdb: true, byte: 10 });
    assertCheck(await send(lu, cdb16(0x93, 32768n, 1), n, { dataOut: Buffer.alloc(512) }), 5, 0x21, 0);
    assertCheck(await send(lu, cdb16(0x93, 32769n, 0), n, { dataOut: Buffer.alloc(512) }), 5, 0x21, 0);
    assertCheck(await send(lu, cdb10(0x41, 0, 1, 0x02), n, { dataOut: block }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 1 });
    assertCheck(await send(lu, cdb10(0x41, 0, 1, 0x04), n, { dataOut: block }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 2 });
    assertCheck(await send(lu, cdb16(0x93, 0n, 1, 0x10), n, { dataOut: block }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 4 });
    assertCheck(await send(lu, cdb16(0x93, 0n, 1, 0x20), n, { dataOut: block }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 7 });
    // the data-out is exactly one block
    assertCheck(await send(lu, cdb10(0x41, 0, 1), n, { dataOut: Buffer.alloc(256) }), 5, 0x0e, 0x03);
    assertCheck(await send(lu, cdb10(0x41, 0, 1), n, { dataOut: Buffer.alloc(1024) }), 5, 0x0e, 0x03);
  } finally {
    await cleanup();
  }
});

test('FORMAT UNIT: validates fields; a thin LU ends up fully deallocated', async () => {
  const { lu, n, file, cleanup } = await sparseDisk();
  try {
    assertGood(await send(lu, cdb10(0x2a, 0, 2048), n, { dataOut: Buffer.alloc(MiB, 0x55) }));
    assertCheck(await send(lu, [0x04, 0x40, 0, 0, 0, 0], n), 5, 0x24, 0, { cdb: true, byte: 1, bit: 7 });
    assertCheck(await send(lu, [0x04, 0x10, 0, 0, 0, 0], n, { dataOut: Buffer.from([0, 0x08, 0, 0]) }), 5, 0x26, 0, { cdb: false, byte: 1, bit: 6 });
    assertCheck(await send(lu, [0x04, 0x10, 0, 0, 0, 0], n, { dataOut: Buffer.from([1, 0, 0, 0]) }), 5, 0x26, 0, { cdb: false, byte: 0, bit: 2 });
    assertGood(await send(lu, [0x04, 0x10, 0, 0, 0, 0], n, { dataOut: Buffer.from([0, 0, 0, 0]) }));
    assertGood(await send(lu, [0x04, 0, 0, 0, 0, 0], n));
    assert.equal((await stat(file)).blocks, 0);
    assert.deepEqual(assertGood(await send(lu, cdb10(0x28, 0, 8), n)), Buffer.alloc(8 * 512));
  } finally {
    await cleanup();
  }
});
