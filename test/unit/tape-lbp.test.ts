// Logical block protection through raw CDBs (SSC-4 logical block protection, control data protection mode page
// 0Ah/F0h, CRC32C): MODE SELECT of the method, LBP_W checks the CRC32C every written block
// carries (ABORTED COMMAND 10/01 when it does not match), LBP_R returns it with every block read
// (computed for blocks written without it), and a block damaged on disk whose record checksum
// was fixed up is still caught by its stored CRC and reported as a MEDIUM ERROR, not returned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';
import { Cartridge, DATA_START, RECORD_HEADER } from '../../src/media/cartridge.ts';
import { createTape } from '../../src/handlers/tape/index.ts';
import { deviceDefaults } from '../../src/host/config.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import { assertCheck, assertGood, clearUa, nexus, send, tempDir } from '../helpers/scsi-harness.ts';

const write6 = (len: number) => [0x0a, 0, 0, (len >> 8) & 0xff, len & 0xff, 0];
const read6 = (len: number) => [0x08, 0, 0, (len >> 8) & 0xff, len & 0xff, 0];
const rewind = [0x01, 0, 0, 0, 0, 0];

/** MODE SELECT(10) of page 0Ah/F0h with method, length and LBP_W/LBP_R/RBDP. */
function lbpSelect(method: number, len: number, flags: number): { cdb: number[]; data: Buffer } {
  const page = Buffer.alloc(32);
  page[0] = 0x40 | 0x0a;
  page[1] = 0xf0;
  page.writeUInt16BE(0x1c, 2);
  page[4] = method;
  page[5] = len;
  page[6] = flags;
  const header = Buffer.alloc(8);
  header[3] = 0x10; // BUFFERED MODE 1, as the drive reports it
  const data = Buffer.concat([header, page]);
  return { cdb: [0x55, 0x10, 0, 0, 0, 0, 0, 0, data.length, 0], data };
}

function withCrc(b: Buffer): Buffer {
  const pi = Buffer.alloc(4);
  pi.writeUInt32LE(crc32c(b));
  return Buffer.concat([b, pi]);
}

async function drive() {
  const { dir, cleanup } = await tempDir();
  const file = join(dir, 'P00001L9');
  await Cartridge.create(file, { barcode: 'P00001L9', capacity: 100e6 });
  const lu = (await createTape({ ...deviceDefaults('ptape', 'tape'), file }, { log: () => undefined })) as ScsiLogicalUnit;
  const a = nexus(1);
  await clearUa(lu, a);
  return { lu, a, file, cleanup: async () => { await lu.close(); await cleanup(); } };
}

test('MODE SENSE shows page 0Ah/F0h; MODE SELECT accepts CRC32C, refuses other methods with the field pointer', async () => {
  const t = await drive();
  try {
    const ms = assertGood(await send(t.lu, [0x5a, 0x08, 0x0a, 0xf0, 0, 0, 0, 0, 0xff, 0], t.a));
    assert.deepEqual([ms[8]! & 0x7f, ms[9], ms.readUInt16BE(10)], [0x4a, 0xf0, 0x1c]);
    const bad = lbpSelect(1, 4, 0xc0);
    assertCheck(await send(t.lu, bad.cdb, t.a, { dataOut: bad.data }), 5, 0x26, 0, { cdb: false, byte: 8 + 4 });
    const badLen = lbpSelect(2, 8, 0xc0);
    assertCheck(await send(t.lu, badLen.cdb, t.a, { dataOut: badLen.data }), 5, 0x26, 0, { cdb: false, byte: 8 + 5 });
    const ok = lbpSelect(2, 4, 0xc0);
    assertGood(await send(t.lu, ok.cdb, t.a, { dataOut: ok.data }));
    const now = assertGood(await send(t.lu, [0x5a, 0x08, 0x0a, 0xf0, 0, 0, 0, 0, 0xff, 0], t.a));
    assert.deepEqual([now[12], now[13], now[14]], [2, 4, 0xc0]);
  } finally {
    await t.cleanup();
  }
});

test('LBP_W checks the CRC32C of every block, LBP_R returns it; a block written without LBP gets it computed', async () => {
  const t = await drive();
  const { lu, a } = t;
  try {
    const plain = Buffer.alloc(1000, 0x11);
    assertGood(await send(lu, write6(1000), a, { dataOut: plain })); // before LBP
    const on = lbpSelect(2, 4, 0xc0);
    assertGood(await send(lu, on.cdb, a, { dataOut: on.data }));
    const block = Buffer.alloc(2000, 0x22);
    assertGood(await send(lu, write6(2004), a, { dataOut: withCrc(block) }));
    const wrong = withCrc(block);
    wrong[10] ^= 1;
    assertCheck(await send(lu, write6(2004), a, { dataOut: wrong }), 0x0b, 0x10, 0x01);
    assertGood(await send(lu, rewind, a));
    const r0 = await send(lu, read6(1004), a);
    assert.equal(r0.status, 0, `read 0: ${r0.sense?.toString('hex')}`);
    assert.deepEqual(assertGood(r0), withCrc(plain), 'computed for the old block');
    assert.deepEqual(assertGood(await send(lu, read6(2004), a)), withCrc(block), 'stored CRC returned');
    assertCheck(await send(lu, read6(4), a), 8, 0, 5, undefined); // EOD: the refused block was not written
    const readOnly = lbpSelect(2, 4, 0x00);
    assertGood(await send(lu, readOnly.cdb, a, { dataOut: readOnly.data }));
    assertGood(await send(lu, rewind, a));
    assert.deepEqual(assertGood(await send(lu, read6(1000), a)), plain);
    assert.deepEqual(assertGood(await send(lu, read6(2000), a)), block, 'without LBP_R the CRC is not returned');
  } finally {
    await t.cleanup();
  }
});

test('a protected block damaged on disk (record checksum fixed up) is a MEDIUM ERROR, not data', async () => {
  const t = await drive();
  const { lu, a } = t;
  try {
    const off = lbpSelect(2, 4, 0x80);
    assertGood(await send(lu, off.cdb, a, { dataOut: off.data }));
    // incompressible, so the stored payload is the block itself
    const block = randomBytes(1500);
    assertGood(await send(lu, write6(1504), a, { dataOut: withCrc(block) }));
    assertGood(await send(lu, rewind, a));
    await lu.flush?.();
    const fh = await open(t.file, 'r+');
    const h = Buffer.alloc(RECORD_HEADER);
    await fh.read(h, 0, RECORD_HEADER, DATA_START);
    const stored = h.readUInt32LE(16);
    const payload = Buffer.alloc(stored);
    await fh.read(payload, 0, stored, DATA_START + RECORD_HEADER);
    assert.equal(h[5]! & 0x01, 0, 'stored uncompressed');
    payload[100] ^= 0xff;
    h.writeUInt32LE(crc32c(payload), 28);
    h.writeUInt32LE(crc32c(h.subarray(0, 32)), 32);
    await fh.write(h, 0, RECORD_HEADER, DATA_START);
    await fh.write(payload, 0, stored, DATA_START + RECORD_HEADER);
    await fh.close();
    const r = await send(lu, read6(1500), a);
    assertCheck(r, 3, 0x10, 0x01);
    assert.ok(!r.data || r.data.length === 0, 'no data returned');
  } finally {
    await t.cleanup();
  }
});
