// Tape data encryption end to end over the embedded iSCSI target: the real CLI serves a drive
// on an empty cartridge file (formatted on first load), tools/iscsi-raw sets a 256-bit key with
// SECURITY PROTOCOL OUT, writes blocks, reads them back with the key, and without it gets
// DATA PROTECT / UNABLE TO DECRYPT DATA; the cartridge file holds neither the data nor the key,
// and after a restart (the key is gone with the process) the blocks still do not read without it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawSession } from '../helpers/iscsi-raw.ts';
import { startTarget, type RunningTarget } from '../helpers/target-process.ts';

const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const KEY = Buffer.from('8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex');
const block = (i: number) => Buffer.alloc(4096, `secret block ${i} `);

function sde(encrypt: number, decrypt: number, key?: Buffer): Buffer {
  const k = key ?? Buffer.alloc(0);
  const b = Buffer.alloc(20 + k.length);
  b.writeUInt16BE(0x10, 0);
  b.writeUInt16BE(b.length - 4, 2);
  b[4] = 2 << 5; // all I_T nexus
  b[6] = encrypt;
  b[7] = decrypt;
  b[8] = 1;
  b.writeUInt16BE(k.length, 18);
  k.copy(b, 20);
  return b;
}
const spout = (len: number) => [0xb5, 0x20, 0, 0x10, 0, 0, 0, 0, len >> 8, len & 0xff, 0, 0];

describe('tape data encryption over the embedded iSCSI target', () => {
  let dir: string;
  let target: RunningTarget | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-tape-crypto-'));
    await writeFile(join(dir, 'K00001L8'), '');
  });
  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('SPOUT key, write, read back; keyless read fails with 07/74/01; nothing in the clear on disk', async () => {
    target = await startTarget(['--type', 'tape', '--generation', '8', 'ktape', join(dir, 'K00001L8')]);
    let s = new RawSession(target.served[0]!.url);
    try {
      await s.ready();
      const page = sde(2, 2, KEY);
      assert.equal((await s.send(spout(page.length), { out: page })).status, 0, 'SET DATA ENCRYPTION');
      for (let i = 0; i < 8; i++) assert.equal((await s.send([0x0a, 0, ...u24(4096), 0], { out: block(i) })).status, 0);
      assert.equal((await s.send([0x10, 0, 0, 0, 1, 0])).status, 0, 'WRITE FILEMARKS (flushes)');
      const des = await s.send([0xa2, 0x20, 0, 0x20, 0, 0, 0, 0, 0x10, 0, 0, 0], { in: 4096 });
      assert.deepEqual([des.data[5], des.data[6], des.data[7]], [2, 2, 1], 'status: encrypt, decrypt, algorithm 1');
      assert.equal((await s.send([0x01, 0, 0, 0, 0, 0])).status, 0);
      for (let i = 0; i < 8; i++) assert.deepEqual((await s.send([0x08, 0, ...u24(4096), 0], { in: 4096 })).data, block(i), `block ${i}`);
      const off = sde(0, 0);
      assert.equal((await s.send(spout(off.length), { out: off })).status, 0);
      assert.equal((await s.send([0x01, 0, 0, 0, 0, 0])).status, 0);
      assert.equal((await s.send([0x08, 0, ...u24(4096), 0], { in: 4096 })).sense, '7/74/01');
    } finally {
      s.close();
    }
    const image = await readFile(join(dir, 'K00001L8'));
    assert.equal(image.indexOf('secret block'), -1, 'no plaintext in the cartridge file');
    assert.equal(image.indexOf(KEY), -1, 'no key in the cartridge file');
    assert.doesNotMatch(target.stderr(), new RegExp(KEY.toString('hex')), 'no key in the log');
    assert.equal(await target.stop('SIGTERM'), 0);
    target = await startTarget(['--type', 'tape', 'ktape', join(dir, 'K00001L8')]);
    s = new RawSession(target.served[0]!.url);
    try {
      await s.ready();
      assert.equal((await s.send([0x08, 0, ...u24(4096), 0], { in: 4096 })).sense, '7/74/01', 'the key died with the process');
    } finally {
      s.close();
    }
  });
});
