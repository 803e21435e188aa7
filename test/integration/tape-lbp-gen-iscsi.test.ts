// Logical block protection and the LTO generation rules end to end over the embedded iSCSI
// target: the real CLI serves an LTO-8 drive (--generation 8) on an LTO-8 cartridge and on an
// LTO-6 one; tools/iscsi-raw turns LBP on with MODE SELECT(10) of page 0Ah/F0h, writes blocks
// carrying their CRC32C, gets ABORTED COMMAND 10/01 for a wrong one and the CRC back on READ; the
// LTO-6 cartridge is refused with MEDIUM ERROR 30/00.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { RawSession } from '../helpers/iscsi-raw.ts';
import { runCli, startTarget, type RunningTarget } from '../helpers/target-process.ts';

const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
function withCrc(b: Buffer): Buffer {
  const pi = Buffer.alloc(4);
  pi.writeUInt32LE(crc32c(b));
  return Buffer.concat([b, pi]);
}

describe('LBP and generation rules over the embedded iSCSI target', () => {
  let dir: string;
  let target: RunningTarget | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-tape-lbp-'));
    for (const [bc, gen] of [['L00001L8', '8'], ['L00002L6', '6']]) {
      const r = await runCli(['tape', 'create', '--barcode', bc, '--generation', gen, '--size', '64M', join(dir, bc)]);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('an LTO-8 drive: CRC32C protected blocks on LTO-8, LTO-6 refused', async () => {
    target = await startTarget(['--type', 'tape', '--generation', '8', 'lbp8', join(dir, 'L00001L8'), 'old6', join(dir, 'L00002L6')], 2);
    const byName = new Map(target.served.map((s) => [s.device, s.url]));
    const s = new RawSession(byName.get('lbp8')!);
    const old = new RawSession(byName.get('old6')!);
    try {
      await s.ready();
      const page = Buffer.alloc(40);
      page[3] = 0x10; // BUFFERED MODE 1
      page[8] = 0x4a;
      page[9] = 0xf0;
      page.writeUInt16BE(0x1c, 10);
      page[12] = 2; // CRC32C
      page[13] = 4;
      page[14] = 0xc0; // LBP_W, LBP_R
      assert.equal((await s.send([0x55, 0x10, 0, 0, 0, 0, 0, 0, page.length, 0], { out: page })).status, 0, 'MODE SELECT 0Ah/F0h');
      const block = Buffer.alloc(4096, 'protected ');
      assert.equal((await s.send([0x0a, 0, ...u24(4100), 0], { out: withCrc(block) })).status, 0);
      const bad = withCrc(block);
      bad[0] ^= 1;
      assert.equal((await s.send([0x0a, 0, ...u24(4100), 0], { out: bad })).sense, 'b/10/01');
      assert.equal((await s.send([0x01, 0, 0, 0, 0, 0])).status, 0);
      const r = await s.send([0x08, 0, ...u24(4100), 0], { in: 4100 });
      assert.equal(r.status, 0, r.line);
      assert.deepEqual(r.data, withCrc(block));
      await old.ready().catch(() => undefined);
      assert.equal((await old.send([0x08, 0, ...u24(512), 0], { in: 512 })).sense, '3/30/00', 'LTO-6 in an LTO-8 drive');
    } finally {
      s.close();
      old.close();
    }
  });
});
