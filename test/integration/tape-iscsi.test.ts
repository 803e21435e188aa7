// A tape library end to end over the embedded iSCSI target: `fileio_tgt tape create/info` make
// the cartridges, the real CLI serves a --config library (changer LUN 0, drive LUN 1), and
// tools/iscsi-raw (raw CDBs over libiscsi, one session per LU) moves a cartridge into the drive,
// writes blocks and a filemark, then the target is killed with SIGKILL; after a restart the
// cartridge is back in the drive and every acknowledged block reads back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawSession } from '../helpers/iscsi-raw.ts';
import { runCli, startTarget, type RunningTarget } from '../helpers/target-process.ts';

const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const block = (i: number) => Buffer.alloc(4096, `block ${i} `);
const res = (b1: number, start: number, count: number) => [0xb8, b1, start >> 8, start & 0xff, count >> 8, count & 0xff, 0, 0, 0x10, 0, 0, 0];

describe('tape library over the embedded iSCSI target', () => {
  let dir: string;
  let config: string;
  let target: RunningTarget | undefined;

  const start = async () => {
    target = await startTarget(['--config', config], 2);
    const byLun = new Map(target.served.map((s) => [s.lun, s.url]));
    return { changer: byLun.get(0)!, drive: byLun.get(1)! };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-tape-'));
    const carts = join(dir, 'carts');
    await mkdir(carts);
    for (const bc of ['VOL001L6', 'VOL002L6']) {
      const r = await runCli(['tape', 'create', '--barcode', bc, '--size', '64M', join(carts, bc)]);
      assert.equal(r.code, 0, r.stderr);
    }
    const dup = await runCli(['tape', 'create', '--barcode', 'VOL001L6', join(carts, 'VOL001L6')]);
    assert.equal(dup.code, 1, 'refuses to overwrite');
    config = join(dir, 'lib.json');
    await writeFile(config, JSON.stringify({ libraries: [{ name: 'vtl', cartridges: carts, drives: 1, slots: 4, mailSlots: 1 }] }));
  });

  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('load by MOVE MEDIUM, write, SIGKILL, restart: every acknowledged block is there', async () => {
    let urls = await start();
    const ch = new RawSession(urls.changer);
    const dr = new RawSession(urls.drive);
    try {
      const inq = await dr.send([0x12, 0, 0, 0, 96, 0], { in: 96 });
      assert.equal(inq.data[0], 0x01, 'sequential-access device');
      const cinq = await ch.send([0x12, 0, 0, 0, 96, 0], { in: 96 });
      assert.equal(cinq.data[0], 0x08, 'medium changer');
      await ch.ready();
      const st = await ch.send(res(0x12, 0, 10), { in: 4096 });
      assert.equal(st.status, 0, st.line);
      assert.match(st.data.toString('latin1'), /VOL001L6/);
      let tur = await dr.send([0, 0, 0, 0, 0, 0]);
      if (tur.sense.startsWith('6/')) tur = await dr.send([0, 0, 0, 0, 0, 0]); // power-on UA, unless libiscsi's login took it
      assert.equal(tur.sense, '2/3a/00', 'empty drive');
      assert.equal((await ch.send([0xa5, 0, 0, 0, 0x04, 0x00, 0x00, 0x01, 0, 0, 0, 0])).status, 0, 'MOVE MEDIUM slot -> drive');
      await dr.ready();
      for (let i = 0; i < 20; i++) assert.equal((await dr.send([0x0a, 0, ...u24(4096), 0], { out: block(i) })).status, 0);
      assert.equal((await dr.send([0x10, 0, 0, 0, 1, 0])).status, 0, 'WRITE FILEMARKS');
      for (let i = 20; i < 30; i++) assert.equal((await dr.send([0x0a, 0, ...u24(4096), 0], { out: block(i) })).status, 0);
    } finally {
      ch.close();
      dr.close();
    }
    assert.equal(await target!.stop('SIGKILL'), 'SIGKILL');
    urls = await start();
    const dr2 = new RawSession(urls.drive);
    const ch2 = new RawSession(urls.changer);
    try {
      await dr2.ready();
      assert.equal((await dr2.send([0x01, 0, 0, 0, 0, 0])).status, 0, 'REWIND');
      for (let i = 0; i < 20; i++) {
        const r = await dr2.send([0x08, 0, ...u24(4096), 0], { in: 4096 });
        assert.equal(r.status, 0, r.line);
        assert.deepEqual(r.data, block(i), `block ${i}`);
      }
      assert.equal((await dr2.send([0x08, 0, ...u24(4096), 0], { in: 4096 })).sense, '0/00/01', 'filemark');
      for (let i = 20; i < 30; i++) assert.deepEqual((await dr2.send([0x08, 0, ...u24(4096), 0], { in: 4096 })).data, block(i), `block ${i}`);
      assert.equal((await dr2.send([0x08, 0, ...u24(4096), 0], { in: 4096 })).sense, '8/00/05', 'EOD');
      const pos = await dr2.send([0x34, 0x06, 0, 0, 0, 0, 0, 0, 0, 0], { in: 32 });
      assert.equal(Number(pos.data.readBigUInt64BE(8)), 31);
      assert.equal(Number(pos.data.readBigUInt64BE(16)), 1);
      // SPACE back over the filemark (file 1 -> file 0 side), LOCATE, short READ POSITION
      assert.equal((await dr2.send([0x11, 0x01, 0xff, 0xff, 0xff, 0])).status, 0);
      const sp = await dr2.send([0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0], { in: 20 });
      assert.equal(sp.data.readUInt32BE(4), 20);
      // unload and put the cartridge away
      await ch2.ready();
      assert.equal((await dr2.send([0x1b, 0, 0, 0, 0, 0])).status, 0, 'UNLOAD');
      assert.equal((await ch2.send([0xa5, 0, 0, 0, 0x00, 0x01, 0x04, 0x03, 0, 0, 0, 0])).status, 0, 'MOVE MEDIUM drive -> slot');
      const st = await ch2.send(res(0x12, 0x403, 1), { in: 4096 });
      assert.match(st.data.toString('latin1'), /VOL001L6/);
      assert.equal((await dr2.send([0, 0, 0, 0, 0, 0])).sense, '2/3a/00');
    } finally {
      dr2.close();
      ch2.close();
    }
    const info = await runCli(['tape', 'info', '--json', join(dir, 'carts', 'VOL001L6')]);
    assert.equal(info.code, 0, info.stderr);
    const j = JSON.parse(info.stdout);
    assert.equal(j.blocks, 30);
    assert.equal(j.filemarks, 1);
  });

  test('--type changer NAME FOLDER --drives 2: a library with two drives; an empty cartridge file in it is formatted', async () => {
    const vtl = join(dir, 'cli-vtl');
    await mkdir(vtl);
    await writeFile(join(vtl, 'E00001L7'), '');
    const t = await startTarget(['--type', 'changer', '--drives', '2', 'clilib', vtl], 3);
    try {
      assert.deepEqual(t.served.map((s) => [s.lun, s.type]).sort(), [[0, 'changer'], [1, 'tape'], [2, 'tape']]);
      const ch = new RawSession(t.served.find((s) => s.lun === 0)!.url);
      try {
        await ch.ready();
        const st = await ch.send(res(0x14, 0, 10), { in: 4096 }); // data transfer elements
        assert.equal(st.status, 0, st.line);
        assert.equal(st.data.readUInt16BE(2), 2, 'two drives');
        const slots = await ch.send(res(0x12, 0, 100), { in: 8192 });
        assert.match(slots.data.toString('latin1'), /E00001L7/);
        assert.equal((await ch.send([0xa5, 0, 0, 0, 0x04, 0x00, 0x00, 0x02, 0, 0, 0, 0])).status, 0, 'MOVE MEDIUM slot -> second drive');
      } finally {
        ch.close();
      }
      assert.match(t.stderr(), /E00001L7 was empty: formatted as blank cartridge E00001L7, LTO-7/);
    } finally {
      await t.stop();
    }
  });
});
