// The optical jukebox end to end: a --config "libraries" entry with media "optical" (changer at
// LUN 0, a cdrom drive at LUN 1) over a folder of ISOs made here with genisoimage, driven over the
// embedded iSCSI target with tools/iscsi-raw: READ ELEMENT STATUS shows the images in slots by
// volume tag, MOVE MEDIUM slot -> drive makes the drive read the ISO's bytes, moving it back
// leaves the drive without medium, `fileio_tgt media` is refused on a jukebox drive, and which disc
// is where survives a restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawSession, readAll } from '../helpers/iscsi-raw.ts';
import { makeIso, sha256, sha256Of } from '../helpers/iso.ts';
import { runCli, startTarget, type RunningTarget } from '../helpers/target-process.ts';

const TUR = [0, 0, 0, 0, 0, 0];
const res = (b1: number, start: number, count: number) => [0xb8, b1, start >> 8, start & 0xff, count >> 8, count & 0xff, 0, 0, 0x10, 0, 0, 0];
const move = (src: number, dst: number) => [0xa5, 0, 0, 0, src >> 8, src & 0xff, dst >> 8, dst & 0xff, 0, 0, 0, 0];

/** [address, volume tag] of every full element in READ ELEMENT STATUS data (VOLTAG set). */
function fullElements(d: Buffer): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (let off = 8; off < 8 + d.readUIntBE(5, 3); ) {
    const len = d.readUInt16BE(off + 2);
    const bytes = d.readUIntBE(off + 5, 3);
    for (let p = off + 8; p < off + 8 + bytes; p += len) {
      if (d[p + 2]! & 1) out.push([d.readUInt16BE(p), d.toString('latin1', p + 12, p + 44).trimEnd()]);
    }
    off += 8 + bytes;
  }
  return out;
}

describe('optical jukebox over the embedded iSCSI target', () => {
  let dir: string;
  let config: string;
  let sock: string;
  const made = new Map<string, string>();
  let target: RunningTarget | undefined;

  const start = async () => {
    target = await startTarget(['--config', config, '--control', sock], 2);
    const byLun = new Map(target.served.map((s) => [s.lun, s.url]));
    return { changer: new RawSession(byLun.get(0)!), drive: new RawSession(byLun.get(1)!) };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-jukebox-'));
    const images = join(dir, 'images');
    await mkdir(images);
    for (const name of ['install-dvd', 'tools']) {
      const iso = await makeIso(dir, name, name.toUpperCase().replace('-', '_'), { 'readme.txt': `${name}\n`, 'data.bin': randomBytes(150_000) });
      await rename(iso, join(images, `${name}.iso`));
      made.set(name, join(images, `${name}.iso`));
    }
    sock = join(dir, 'c.sock');
    config = join(dir, 'jukebox.json');
    await writeFile(config, JSON.stringify({ libraries: [{ name: 'jb', media: 'optical', images, drives: 1, slots: 4, mailSlots: 0 }] }));
  });

  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('slots by volume tag; MOVE MEDIUM loads the drive with the ISO\'s bytes; back to the slot empties it; state survives a restart', async () => {
    let { changer, drive } = await start();
    const blocks = async (name: string) => (await stat(made.get(name)!)).size / 2048;
    try {
      const inq = await drive.send([0x12, 0, 0, 0, 96, 0], { in: 96 });
      assert.equal(inq.data[0], 0x05, 'the drive is an MMC device');
      assert.equal((await changer.send([0x12, 0, 0, 0, 96, 0], { in: 96 })).data[0], 0x08, 'medium changer');
      await changer.ready();
      const st = await changer.send(res(0x10, 0, 100), { in: 4096 });
      assert.equal(st.status, 0, st.line);
      assert.deepEqual(fullElements(st.data), [[0x400, 'install-dvd'], [0x401, 'tools']]);
      let tur = await drive.send(TUR);
      if (tur.sense.startsWith('6/')) tur = await drive.send(TUR);
      assert.equal(tur.sense, '2/3a/01', 'empty drive, tray closed');

      assert.equal((await changer.send(move(0x401, 0x001))).status, 0, 'MOVE MEDIUM slot -> drive');
      assert.equal((await drive.send(TUR)).sense, '6/28/00');
      const cap = await drive.send([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], { in: 8 });
      assert.equal(cap.data.readUInt32BE(0), (await blocks('tools')) - 1);
      assert.equal(sha256(await readAll(drive, await blocks('tools'))), await sha256Of(made.get('tools')!));

      const refused = await runCli(['media', 'eject', 'jb-drive0', '--control', sock]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /jb-drive0 is a drive of the jukebox jb/);

      assert.equal((await changer.send(move(0x001, 0x401))).status, 0, 'MOVE MEDIUM drive -> slot');
      assert.equal((await drive.send(TUR)).sense, '2/3a/01', 'no medium');
      assert.equal((await changer.send(move(0x400, 0x001))).status, 0);
    } finally {
      changer.close();
      drive.close();
    }
    assert.equal(await target!.stop('SIGTERM'), 0);
    ({ changer, drive } = await start());
    try {
      await changer.ready();
      const st = await changer.send(res(0x10, 0, 100), { in: 4096 });
      assert.deepEqual(fullElements(st.data), [[0x001, 'install-dvd'], [0x401, 'tools']]);
      await drive.ready();
      assert.equal(sha256(await readAll(drive, await blocks('install-dvd'))), await sha256Of(made.get('install-dvd')!));
    } finally {
      changer.close();
      drive.close();
    }
  });
});
