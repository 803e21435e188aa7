// A folder of ISOs as a set of DVD drives, end to end: the real CLI (`--type cdrom dvds FOLDER/`)
// over the embedded iSCSI target, ISOs made here with genisoimage, checked with iscsi-ls and
// tools/iscsi-raw (one libiscsi session per LUN, kept open across the changes): two images are two
// LUNs with the images' bytes; a third copied in becomes LUN 2 after UNIT ATTENTION 3F/0E and
// REPORT LUNS lists it; a removed image leaves its LUN NOT READY (3A/02); when it returns it loads
// again (28/00).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawSession, readAll } from '../helpers/iscsi-raw.ts';
import { makeIso, sha256, sha256Of } from '../helpers/iso.ts';
import { run, startTarget, type RunningTarget } from '../helpers/target-process.ts';

const TUR = [0, 0, 0, 0, 0, 0];
const REPORT_LUNS = [0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0];

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('a folder of ISOs as DVD drives over the embedded iSCSI target', () => {
  let dir: string;
  let isos: string;
  const made = new Map<string, string>();
  let target: RunningTarget;
  let base: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-cdset-'));
    isos = join(dir, 'isos');
    await mkdir(isos);
    for (const name of ['alpha', 'beta', 'gamma']) {
      made.set(name, await makeIso(dir, name, name.toUpperCase(), { [`${name}.txt`]: `disc ${name}\n`, 'noise.bin': randomBytes(200_000) }));
    }
    await copyFile(made.get('alpha')!, join(isos, 'alpha.iso'));
    await copyFile(made.get('beta')!, join(isos, 'beta.iso'));
    target = await startTarget(['--control', join(dir, 'c.sock'), '--type', 'cdrom', 'dvds', `${isos}/`], 2);
    base = target.served[0]!.url.replace(/\/\d+$/, '');
  });

  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  const blocksOf = async (name: string) => (await stat(made.get(name)!)).size / 2048;

  test('two images, two LUNs (iscsi-ls), each with its image\'s bytes', async () => {
    assert.deepEqual(target.served.map((s) => [s.lun, s.device, s.type]), [[0, 'dvds-alpha', 'cdrom'], [1, 'dvds-beta', 'cdrom']]);
    const ls = await run('iscsi-ls', ['-s', base.replace(/\/iqn.*$/, '')]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /Lun:0 +Type:MMC/);
    assert.match(ls.stdout, /Lun:1 +Type:MMC/);
    assert.doesNotMatch(ls.stdout, /Lun:2/);
    for (const [lun, name] of [[0, 'alpha'], [1, 'beta']] as const) {
      const s = new RawSession(`${base}/${lun}`);
      try {
        await s.ready();
        assert.equal(sha256(await readAll(s, await blocksOf(name))), await sha256Of(made.get(name)!), `LUN ${lun} reads ${name}.iso`);
      } finally {
        s.close();
      }
    }
  });

  test('an image copied in becomes LUN 2: 3F/0E on the open session, REPORT LUNS lists it, its data reads back', async () => {
    const s = new RawSession(`${base}/0`);
    try {
      await s.ready();
      // copied under a temporary name and renamed, as a careful copy does; a plain copy works too (settle time)
      await copyFile(made.get('gamma')!, join(isos, '.gamma.iso.part'));
      await rename(join(isos, '.gamma.iso.part'), join(isos, 'gamma.iso'));
      const added = await until('LUN 2 to be served', async () => target.served.find((x) => x.lun === 2));
      assert.equal(added.device, 'dvds-gamma');
      assert.equal(added.url, `${base}/2`);
      assert.equal((await s.send(TUR)).sense, '6/3f/0e', 'REPORTED LUNS DATA HAS CHANGED');
      const rl = await s.send(REPORT_LUNS, { in: 4096 });
      assert.equal(rl.status, 0, rl.line);
      assert.equal(rl.data.readUInt32BE(0), 24, 'three LUNs');
      assert.deepEqual([0, 1, 2].map((i) => rl.data[8 + i * 8 + 1]), [0, 1, 2]);
      assert.equal((await s.send(TUR)).status, 0, 'REPORT LUNS cleared the unit attention');
    } finally {
      s.close();
    }
    const g = new RawSession(`${base}/2`);
    try {
      await g.ready();
      assert.equal(sha256(await readAll(g, await blocksOf('gamma'))), await sha256Of(made.get('gamma')!));
    } finally {
      g.close();
    }
  });

  test('a removed image: NOT READY, medium not present (tray open), LUN kept; back again: 28/00 and readable', async () => {
    const s = new RawSession(`${base}/1`);
    try {
      await s.ready();
      await rm(join(isos, 'beta.iso'));
      const sense = await until('the disc to leave LUN 1', async () => {
        const r = await s.send(TUR);
        return r.status === 2 && r.sense.startsWith('2/3a') ? r.sense : undefined;
      });
      assert.equal(sense, '2/3a/02');
      const rl = await s.send(REPORT_LUNS, { in: 4096 });
      assert.equal(rl.data.readUInt32BE(0), 24, 'the LUN stays');
      const ev = await s.send([0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0], { in: 8 });
      assert.equal(ev.data[4], 3, 'GESN: media removal');
      await copyFile(made.get('beta')!, join(isos, 'beta.iso'));
      const back = await until('the disc to return', async () => {
        const r = await s.send(TUR);
        return r.sense.startsWith('2/') ? undefined : r.sense;
      });
      assert.equal(back, '6/28/00', 'NOT READY TO READY CHANGE');
      assert.equal(sha256(await readAll(s, await blocksOf('beta'))), await sha256Of(made.get('beta')!));
    } finally {
      s.close();
    }
  });
});
