// Tape data encryption through raw CDBs (SSC-4 data encryption and security protocol parameters; SPC-4 SECURITY PROTOCOL IN/OUT):
// the support, capabilities and status pages; SET DATA ENCRYPTION with a 256-bit key; blocks
// written encrypted (AES-256-GCM) are neither plaintext nor key on the cartridge; reading them
// back with the key, without it, with another key, in RAW mode, and after tampering gives the
// data or the encryption-specific sense; scope, CKOD, nexus loss; the key never in the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { open, readFile } from 'node:fs/promises';
import { crc32c } from '@node-rs/crc32';
import { Cartridge, DATA_START, RECORD_HEADER } from '../../src/media/cartridge.ts';
import { createTape } from '../../src/handlers/tape/index.ts';
import { deviceDefaults } from '../../src/host/config.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import { dataBytes } from '../../src/scsi/data-in.ts';
import { assertCheck, assertGood, clearUa, nexus, send, tempDir } from '../helpers/scsi-harness.ts';

const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const spin = (proto: number, sps: number, alloc = 8192) => [0xa2, proto, sps >> 8, sps & 0xff, 0, 0, ...u32(alloc), 0, 0];
const spout = (len: number, sps = 0x10, proto = 0x20) => [0xb5, proto, sps >> 8, sps & 0xff, 0, 0, ...u32(len), 0, 0];
const write6 = (len: number) => [0x0a, 0, ...u24(len), 0];
const read6 = (len: number) => [0x08, 0, ...u24(len), 0];
const rewind = [0x01, 0, 0, 0, 0, 0];
const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const OTHER = Buffer.alloc(32, 0x42);

/** SET DATA ENCRYPTION page (SSC-4 set data encryption page). */
function sde(o: { scope?: number; encrypt: number; decrypt: number; key?: Buffer; algorithm?: number; ckod?: boolean; rdmc?: number; ukad?: string; lock?: boolean }): Buffer {
  const key = o.key ?? Buffer.alloc(0);
  const kad = o.ukad ? Buffer.concat([Buffer.from([0, 0, 0, o.ukad.length]), Buffer.from(o.ukad)]) : Buffer.alloc(0);
  const b = Buffer.alloc(20 + key.length);
  b.writeUInt16BE(0x0010, 0);
  b[4] = ((o.scope ?? 2) << 5) | (o.lock ? 1 : 0);
  b[5] = ((o.rdmc ?? 0) << 4) | (o.ckod ? 0x04 : 0);
  b[6] = o.encrypt;
  b[7] = o.decrypt;
  b[8] = o.algorithm ?? 1;
  b.writeUInt16BE(key.length, 18);
  key.copy(b, 20);
  const page = Buffer.concat([b, kad]);
  page.writeUInt16BE(page.length - 4, 2);
  return page;
}

function block(i: number, len = 3000): Buffer {
  const b = Buffer.alloc(len);
  for (let j = 0; j < len; j++) b[j] = (i * 7 + j * 13) & 0xff;
  b.write('PLAINTEXT-MARKER', 100);
  return b;
}

async function drive() {
  const { dir, cleanup } = await tempDir();
  const file = join(dir, 'E00001L8');
  await Cartridge.create(file, { barcode: 'E00001L8', capacity: 100e6, density: 0x5e }); // LTO-8, as the drive
  const logs: string[] = [];
  const lu = (await createTape({ ...deviceDefaults('etape', 'tape'), file, options: { generation: 8 } }, { log: (_l, m) => logs.push(m) })) as ScsiLogicalUnit;
  const a = nexus(1);
  const b = nexus(2);
  await clearUa(lu, a);
  await clearUa(lu, b);
  return { lu, a, b, file, logs, cleanup: async () => { await lu.close(); await cleanup(); } };
}

async function setEnc(lu: ScsiLogicalUnit, nx: ReturnType<typeof nexus>, page: Buffer) {
  return send(lu, spout(page.length), nx, { dataOut: page });
}

test('SECURITY PROTOCOL IN: protocol list, in/out support, capabilities (AES-256-GCM), key formats, management capabilities', async () => {
  const t = await drive();
  try {
    const list = assertGood(await send(t.lu, spin(0x00, 0x0000), t.a));
    assert.deepEqual([...list.subarray(6)], [0, 2, 0x00, 0x20]);
    const cert = assertGood(await send(t.lu, spin(0x00, 0x0001), t.a));
    assert.equal(cert.readUInt16BE(2), 0);
    const inSup = assertGood(await send(t.lu, spin(0x20, 0x0000), t.a));
    assert.deepEqual([...inSup.subarray(4)].filter((_, i) => i % 2 === 1), [0x00, 0x01, 0x10, 0x11, 0x12, 0x20, 0x21]);
    const outSup = assertGood(await send(t.lu, spin(0x20, 0x0001), t.a));
    assert.deepEqual([...outSup], [0, 1, 0, 2, 0, 0x10]);
    const cap = assertGood(await send(t.lu, spin(0x20, 0x0010), t.a));
    assert.equal(cap.readUInt16BE(0), 0x0010);
    assert.equal(cap.readUInt16BE(2), 40);
    assert.equal(cap[20], 1, 'algorithm index');
    assert.equal(cap[24]! & 0x0f, 0x0a, 'ENCRYPT_C = DECRYPT_C = capable');
    assert.equal(cap.readUInt16BE(30), 32, 'key length');
    assert.equal(cap.readUInt32BE(40), 0x00010014, 'AES-256-GCM');
    assert.deepEqual([...assertGood(await send(t.lu, spin(0x20, 0x0011), t.a))], [0, 0x11, 0, 1, 0]);
    assert.equal(assertGood(await send(t.lu, spin(0x20, 0x0012), t.a))[7], 7);
    assert.equal(assertGood(await send(t.lu, spin(0x20, 0x0010, 8), t.a)).length, 8, 'allocation length');
    assertCheck(await send(t.lu, spin(0x21, 0), t.a), 5, 0x24, 0, { cdb: true, byte: 1 });
    assertCheck(await send(t.lu, spin(0x20, 0x0030), t.a), 5, 0x24, 0, { cdb: true, byte: 2 });
    assertCheck(await send(t.lu, [0xa2, 0x20, 0, 0x10, 0x01, 0, 0, 0, 1, 0, 0, 0], t.a), 5, 0x24, 0, { cdb: true, byte: 4, bit: 0 });
  } finally {
    await t.cleanup();
  }
});

test('SET DATA ENCRYPTION: bad fields get the field pointer in the parameter list', async () => {
  const t = await drive();
  try {
    assertCheck(await setEnc(t.lu, t.a, sde({ encrypt: 2, decrypt: 2, key: KEY, algorithm: 2 })), 5, 0x26, 0, { cdb: false, byte: 8 });
    assertCheck(await setEnc(t.lu, t.a, sde({ encrypt: 2, decrypt: 2, key: KEY.subarray(0, 16) })), 5, 0x26, 0, { cdb: false, byte: 18 });
    assertCheck(await setEnc(t.lu, t.a, sde({ encrypt: 1, decrypt: 2, key: KEY })), 5, 0x26, 0, { cdb: false, byte: 6 });
    assertCheck(await setEnc(t.lu, t.a, sde({ encrypt: 2, decrypt: 4, key: KEY })), 5, 0x26, 0, { cdb: false, byte: 7 });
    assertCheck(await setEnc(t.lu, t.a, sde({ encrypt: 2, decrypt: 2, key: KEY, scope: 3 })), 5, 0x26, 0, { cdb: false, byte: 4, bit: 7 });
    const page = sde({ encrypt: 2, decrypt: 2, key: KEY });
    assertCheck(await send(t.lu, spout(page.length, 0x11), t.a, { dataOut: page }), 5, 0x24, 0, { cdb: true, byte: 2 });
    const status = assertGood(await send(t.lu, spin(0x20, 0x0020), t.a));
    assert.deepEqual([status[5], status[6]], [0, 0], 'nothing was set');
  } finally {
    await t.cleanup();
  }
});

test('encrypted write and read back; the cartridge holds neither plaintext nor key; keyless, wrong-key and tampered reads', async () => {
  const t = await drive();
  const { lu, a } = t;
  try {
    assertGood(await setEnc(lu, a, sde({ encrypt: 2, decrypt: 2, key: KEY, ukad: 'backup-key-1' })));
    const des = assertGood(await send(lu, spin(0x20, 0x0020), a));
    assert.deepEqual([des[4], des[5], des[6], des[7], des.readUInt32BE(8)], [0x42, 2, 2, 1, 1], 'scope ALL I_T NEXUS, encrypt, decrypt, algorithm 1, key instance 1');
    assert.match(des.subarray(24).toString('latin1'), /backup-key-1/);
    for (let i = 0; i < 3; i++) assertGood(await send(lu, write6(3000), a, { dataOut: block(i) }));
    assertGood(await send(lu, [0x10, 0, 0, 0, 1, 0], a));
    assertGood(await send(lu, rewind, a));
    const nbes = assertGood(await send(lu, spin(0x20, 0x0021), a));
    assert.deepEqual([Number(nbes.readBigUInt64BE(4)), nbes[12], nbes[13]], [0, 5, 1], 'block 0: encrypted, able to decrypt, algorithm 1');
    for (let i = 0; i < 3; i++) assert.deepEqual(assertGood(await send(lu, read6(3000), a)), block(i), `block ${i}`);
    assert.equal(assertGood(await send(lu, spin(0x20, 0x0021), a))[12], 2, 'a filemark is not a logical block');
    await lu.flush?.();
    const image = await readFile(t.file);
    assert.equal(image.indexOf('PLAINTEXT-MARKER'), -1, 'no plaintext on the cartridge');
    assert.equal(image.indexOf(KEY), -1, 'no key on the cartridge');
    assert.notEqual(image.indexOf('backup-key-1'), -1, 'the U-KAD is stored in the clear');
    assert.ok(!t.logs.some((m) => m.includes(KEY.toString('hex')) || m.includes(KEY.toString('latin1'))), 'no key in the log');

    // without a key
    assertGood(await setEnc(lu, a, sde({ encrypt: 0, decrypt: 0 })));
    assertGood(await send(lu, rewind, a));
    assert.equal(assertGood(await send(lu, spin(0x20, 0x0021), a))[12], 6, 'encrypted, cannot decrypt');
    assertCheck(await send(lu, read6(3000), a), 7, 0x74, 0x01);
    const pos = assertGood(await send(lu, [0x34, 0x06, 0, 0, 0, 0, 0, 0, 0, 0], a));
    assert.equal(Number(pos.readBigUInt64BE(8)), 1, 'positioned after the block');
    // another key
    assertGood(await setEnc(lu, a, sde({ encrypt: 2, decrypt: 2, key: OTHER })));
    assertGood(await send(lu, rewind, a));
    assertCheck(await send(lu, read6(3000), a), 7, 0x74, 0x03);
    // RAW mode: the envelope as stored, unless RDMC protected it
    assertGood(await setEnc(lu, a, sde({ encrypt: 0, decrypt: 1 })));
    assertGood(await send(lu, rewind, a));
    const raw = dataBytes((await send(lu, read6(8192), a)).data);
    assert.ok(raw.length > 44 && raw.indexOf('PLAINTEXT-MARKER') === -1 && raw.indexOf('backup-key-1') === 44, 'raw read returns the envelope (header, U-KAD, ciphertext)');
    // DECRYPT mode meets an unencrypted block
    assertGood(await setEnc(lu, a, sde({ encrypt: 0, decrypt: 0 })));
    assertGood(await send(lu, [0x11, 0x03, 0, 0, 0, 0], a)); // SPACE to EOD
    assertGood(await send(lu, write6(100), a, { dataOut: Buffer.alloc(100, 1) }));
    assertGood(await setEnc(lu, a, sde({ encrypt: 2, decrypt: 2, key: KEY })));
    assertGood(await send(lu, [0x11, 0x00, 0xff, 0xff, 0xff, 0], a)); // back one block
    assertCheck(await send(lu, read6(100), a), 7, 0x74, 0x02);
  } finally {
    await t.cleanup();
  }
});

test('a tampered ciphertext with a valid record checksum fails the GCM tag check (74/04); RDMC protect refuses RAW reads', async () => {
  const t = await drive();
  const { lu, a } = t;
  try {
    assertGood(await setEnc(lu, a, sde({ encrypt: 2, decrypt: 2, key: KEY, rdmc: 3 })));
    assertGood(await send(lu, write6(3000), a, { dataOut: block(0) }));
    assertGood(await send(lu, write6(3000), a, { dataOut: block(1) }));
    assertGood(await send(lu, [0x01, 0, 0, 0, 0, 0], a));
    await lu.flush?.();
    // flip a ciphertext byte of record 0 and fix its payload CRC and header CRC
    const fh = await open(t.file, 'r+');
    const h = Buffer.alloc(RECORD_HEADER);
    await fh.read(h, 0, RECORD_HEADER, DATA_START);
    const stored = h.readUInt32LE(16);
    const payload = Buffer.alloc(stored);
    await fh.read(payload, 0, stored, DATA_START + RECORD_HEADER);
    payload[stored - 10]! ^= 0x01;
    h.writeUInt32LE(crc32c(payload), 28);
    h.writeUInt32LE(crc32c(h.subarray(0, 32)), 32);
    await fh.write(h, 0, RECORD_HEADER, DATA_START);
    await fh.write(payload, 0, stored, DATA_START + RECORD_HEADER);
    await fh.close();
    assertCheck(await send(lu, read6(3000), a), 7, 0x74, 0x04);
    assert.deepEqual(assertGood(await send(lu, read6(3000), a)), block(1));
    assertGood(await setEnc(lu, a, sde({ encrypt: 0, decrypt: 1 })));
    assertGood(await send(lu, [0x01, 0, 0, 0, 0, 0], a));
    assertCheck(await send(lu, read6(8192), a), 7, 0x74, 0x0a);
  } finally {
    await t.cleanup();
  }
});

test('scope: LOCAL parameters belong to one nexus and go with it; CKOD clears them at unload', async () => {
  const t = await drive();
  const { lu, a, b } = t;
  try {
    assertGood(await setEnc(lu, a, sde({ scope: 1, encrypt: 2, decrypt: 2, key: KEY })));
    assertGood(await send(lu, write6(3000), a, { dataOut: block(5) }));
    assertGood(await send(lu, rewind, b));
    assertCheck(await send(lu, read6(3000), b), 7, 0x74, 0x01, );
    assert.equal(assertGood(await send(lu, spin(0x20, 0x0020), b))[5], 0, 'the other nexus sees no parameters');
    lu.nexusLost(a);
    await clearUa(lu, a);
    assert.equal(assertGood(await send(lu, spin(0x20, 0x0020), a))[5], 0, 'cleared with the nexus');
    assertGood(await setEnc(lu, a, sde({ encrypt: 2, decrypt: 2, key: KEY, ckod: true })));
    assertGood(await send(lu, rewind, a));
    assert.deepEqual(assertGood(await send(lu, read6(3000), a)), block(5));
    assertGood(await send(lu, [0x1b, 0, 0, 0, 0, 0], a)); // UNLOAD
    assert.equal(assertGood(await send(lu, spin(0x20, 0x0020), a))[5], 0, 'CKOD: cleared at unload');
    assert.ok(t.logs.some((m) => /cleared \(cartridge unloaded, CKOD\)/.test(m)));
  } finally {
    await t.cleanup();
  }
});
