// The optical jukebox: the SMC-3 changer over a folder of disc images with cdrom drives (the
// optical adapter), and the medium-neutral Library with fake adapters (load failure rollback).
// Volume tags from file names, MOVE MEDIUM loading a disc (28/00, GESN new media, the image's
// bytes), moving it out (drive empty), PREVENT on the drive, initiator eject leaving the disc in
// the data transfer element, `media` refused on a held drive, state across a restart, and the
// optical library config section.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCdrom } from '../../src/handlers/cdrom/create.ts';
import { createChanger } from '../../src/handlers/changer/index.ts';
import { Library } from '../../src/handlers/changer/library.ts';
import type { ChangerDrive, MediaCatalog } from '../../src/handlers/changer/medium.ts';
import { volumeTagFor } from '../../src/handlers/changer/optical-adapter.ts';
import { deviceDefaults, parseConfigFile } from '../../src/host/config.ts';
import type { LogicalUnit } from '../../src/scsi/command.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import { CheckCondition } from '../../src/scsi/sense.ts';
import { assertCheck, assertGood, clearUa, nexus, send, tempDir } from '../helpers/scsi-harness.ts';

const TUR = [0, 0, 0, 0, 0, 0];
const res = (b1: number, start: number, count: number, dvcid = 0) => [0xb8, b1, start >> 8, start & 0xff, count >> 8, count & 0xff, dvcid, 0, 0x10, 0, 0, 0];
const move = (src: number, dst: number) => [0xa5, 0, 0, 0, src >> 8, src & 0xff, dst >> 8, dst & 0xff, 0, 0, 0, 0];
const read10 = (lba: number, n: number) => [0x28, 0, lba >>> 24, (lba >> 16) & 0xff, (lba >> 8) & 0xff, lba & 0xff, 0, n >> 8, n & 0xff, 0];

/** Element descriptors of READ ELEMENT STATUS data: address, full, volume tag, SVALID source, DVCID. */
function elements(d: Buffer): Array<{ address: number; full: boolean; tag: string; source?: number; id?: string }> {
  const out: Array<{ address: number; full: boolean; tag: string; source?: number; id?: string }> = [];
  for (let off = 8; off < 8 + d.readUIntBE(5, 3); ) {
    const voltag = (d[off + 1]! & 0x80) !== 0;
    const len = d.readUInt16BE(off + 2);
    const bytes = d.readUIntBE(off + 5, 3);
    for (let p = off + 8; p < off + 8 + bytes; p += len) {
      const e = d.subarray(p, p + len);
      const idAt = 12 + (voltag ? 36 : 0);
      out.push({
        address: e.readUInt16BE(0),
        full: (e[2]! & 1) === 1,
        tag: voltag ? e.toString('latin1', 12, 44).replace(/[\0 ]+$/, '') : '',
        ...(e[9]! & 0x80 ? { source: e.readUInt16BE(10) } : {}),
        ...(len > idAt + 4 && e[idAt + 3]! > 0 ? { id: e.toString('latin1', idAt + 4, idAt + 4 + e[idAt + 3]!) } : {}),
      });
    }
    off += 8 + bytes;
  }
  return out;
}

function image(tag: string, blocks: number): Buffer {
  const b = Buffer.alloc(blocks * 2048);
  for (let i = 0; i < blocks; i++) b.write(`${tag}:${i}`, i * 2048, 'ascii');
  return b;
}

async function jukebox(dir: string) {
  const units = new Map<string, LogicalUnit>();
  const host = { log: () => undefined, unit: (n: string) => units.get(n) };
  for (const name of ['jb-drive0', 'jb-drive1']) units.set(name, await createCdrom({ ...deviceDefaults(name, 'cdrom'), file: '-' }, host));
  const ch = (await createChanger({ ...deviceDefaults('jb', 'changer'), file: dir, options: { media: 'optical', drives: ['jb-drive0', 'jb-drive1'], slots: 4, mailSlots: 1 } }, host)) as ScsiLogicalUnit;
  const d0 = units.get('jb-drive0') as ScsiLogicalUnit & { media: (r: object) => Promise<Record<string, unknown>> };
  const n = nexus(1);
  await clearUa(ch, n);
  return { ch, d0, n, close: () => Promise.all([ch.close(), ...[...units.values()].map((u) => u.close())]) };
}

test('volume tags: the file name without .iso/.img when it fits; else cleaned, cut, and a hash of the name', () => {
  assert.equal(volumeTagFor('debian-12.5.0-amd64-DVD-1.iso'), 'debian-12.5.0-amd64-DVD-1');
  assert.equal(volumeTagFor('ubuntu-24.04.1-live-server-amd64.iso'), 'ubuntu-24.04.1-live-server-amd64');
  for (const odd of ['my disc.iso', 'what?.img', 'star*.iso', 'café.iso', `${'n'.repeat(40)}.iso`]) {
    const t = volumeTagFor(odd);
    assert.ok(t.length <= 32, `${odd}: ${t}`);
    assert.match(t, /^[\x21-\x7e]+$/, `${odd}: printable, no spaces`);
    assert.doesNotMatch(t, /[*?]/, `${odd}: no template wildcards`);
    assert.match(t, /~[0-9A-F]{4}$/, `${odd}: hash suffix`);
  }
  assert.notEqual(volumeTagFor(`${'n'.repeat(40)}1.iso`), volumeTagFor(`${'n'.repeat(40)}2.iso`));
});

test('jukebox: slots hold the folder\'s images; MOVE MEDIUM loads a cdrom drive, moving back empties it; state survives a restart', async () => {
  const { dir, cleanup } = await tempDir();
  await writeFile(join(dir, 'alpha.iso'), image('alpha', 8));
  await writeFile(join(dir, 'beta.img'), image('beta', 4));
  await writeFile(join(dir, 'notes.txt'), 'not a disc');
  let j = await jukebox(dir);
  try {
    const all = elements(assertGood(await send(j.ch, res(0x10, 0, 100), j.n)));
    assert.deepEqual(all.filter((e) => e.full).map((e) => [e.address, e.tag]), [[0x400, 'alpha'], [0x401, 'beta']]);
    const drives = elements(assertGood(await send(j.ch, res(0x04, 0, 10, 1), j.n)));
    assert.match(drives[0]!.id!, /^FILEIO {2}jb-drive0/, 'DVCID names the cdrom drive');
    const inq = assertGood(await send(j.ch, [0x12, 0, 0, 0, 96, 0], j.n));
    assert.equal(inq[0], 0x08);
    assert.equal(inq.toString('latin1', 16, 27), 'DVD JUKEBOX');

    const d = j.d0;
    await send(d, TUR, j.n); // registers the nexus (power-on UA)
    assertCheck(await send(d, TUR, j.n), 2, 0x3a, 0x01);
    assertGood(await send(j.ch, move(0x401, 0x001), j.n));
    assertCheck(await send(d, TUR, j.n), 6, 0x28, 0x00);
    const gesn = assertGood(await send(d, [0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0], j.n));
    assert.deepEqual([gesn[4], gesn[5]], [2, 2], 'NewMedia, media present');
    assert.equal(assertGood(await send(d, read10(3, 1), j.n)).toString('ascii', 0, 6), 'beta:3');
    // `media` on a drive the jukebox holds is refused; status is fine
    await assert.rejects(d.media({ action: 'eject' }), /jb-drive0 is a drive of the jukebox jb: discs move with MOVE MEDIUM/);
    assert.equal((await d.media({ action: 'status' })).file, join(dir, 'beta.img'));
    // PREVENT on the drive keeps the disc in it
    assertGood(await send(d, [0x1e, 0, 0, 0, 1, 0], j.n));
    assertCheck(await send(j.ch, move(0x001, 0x401), j.n), 5, 0x53, 0x02);
    assertGood(await send(d, [0x1e, 0, 0, 0, 0, 0], j.n));
    // initiator eject: tray open, the disc stays in the data transfer element
    assertGood(await send(d, [0x1b, 0, 0, 0, 0x02, 0], j.n));
    assertCheck(await send(d, TUR, j.n), 2, 0x3a, 0x02);
    let dt = elements(assertGood(await send(j.ch, res(0x14, 0, 10), j.n)));
    assert.deepEqual([dt[0]!.full, dt[0]!.tag, dt[0]!.source], [true, 'beta', 0x401]);
    // ... and an initiator load closes the tray on it again
    assertGood(await send(d, [0x1b, 0, 0, 0, 0x03, 0], j.n));
    assertGood(await send(d, TUR, j.n));
    // move it into the other drive: the first is empty (tray closed), the second reads it
    assertGood(await send(j.ch, move(0x001, 0x002), j.n));
    assertCheck(await send(d, TUR, j.n), 2, 0x3a, 0x01);
    dt = elements(assertGood(await send(j.ch, res(0x14, 0, 10), j.n)));
    assert.deepEqual(dt.map((e) => [e.address, e.full, e.tag]), [[1, false, ''], [2, true, 'beta']]);
    const saved = JSON.parse(await readFile(join(dir, '.jb.library.json'), 'utf8'));
    assert.deepEqual(saved.elements['2'], { barcode: 'beta', source: 0x401 });
  } finally {
    await j.close();
  }
  j = await jukebox(dir);
  try {
    const all = elements(assertGood(await send(j.ch, res(0x10, 0, 100), j.n)));
    assert.deepEqual(all.filter((e) => e.full).map((e) => [e.address, e.tag]), [[2, 'beta'], [0x400, 'alpha']]);
    assertGood(await send(j.ch, move(0x002, 0x401), j.n));
    assertGood(await send(j.ch, move(0x400, 0x001), j.n));
    await clearUa(j.d0, j.n);
    assert.equal(assertGood(await send(j.d0, read10(7, 1), j.n)).toString('ascii', 0, 7), 'alpha:7');
  } finally {
    await j.close();
    await cleanup();
  }
});

test('Library with fake adapters: a drive that refuses a medium makes MOVE fail with 04/53/00 and the medium stays at its source', async () => {
  const { dir, cleanup } = await tempDir();
  for (const f of ['m1', 'm2', 'skip']) await writeFile(join(dir, f), f);
  const calls: string[] = [];
  const catalog: MediaCatalog = { noun: 'thing', tagOf: async (_p, name) => (name.startsWith('m') ? name.toUpperCase() : undefined) };
  const drive = (name: string, refuse: boolean): ChangerDrive => ({
    name,
    identity: Buffer.from(name),
    prevented: false,
    load: async (p) => {
      calls.push(`${name} load ${p.slice(dir.length + 1)}`);
      if (refuse) throw new Error('incompatible');
    },
    unload: async () => void calls.push(`${name} unload`),
    bind: (a) => void calls.push(`${name} at ${a}`),
  });
  const lib = new Library({ name: 'fake', folder: dir, statePath: join(dir, '.state.json'), catalog, drives: [drive('good', false), drive('bad', true)], slots: 3, mailSlots: 0, log: () => undefined });
  try {
    await lib.restore();
    assert.deepEqual([...lib.media.keys()], ['M1', 'M2']);
    assert.deepEqual(calls, ['good at 1', 'bad at 2']);
    await lib.move(lib.element(0x400, 4), lib.element(0x001, 6));
    await assert.rejects(
      lib.move(lib.element(0x001, 4), lib.element(0x002, 6)),
      (e: unknown) => e instanceof CheckCondition && e.key === 4 && e.asc === 0x53 && e.ascq === 0x00,
    );
    assert.deepEqual(calls.slice(2), ['good load m1', 'good unload', 'bad load m1', 'good load m1']);
    assert.equal(lib.element(0x001, 4).tag, 'M1', 'back in the drive it came from');
    assert.equal(lib.element(0x002, 4).tag, undefined);
    assert.deepEqual(JSON.parse(await readFile(join(dir, '.state.json'), 'utf8')).elements, { '1': { barcode: 'M1', source: 0x400 }, '1025': { barcode: 'M2' } });
  } finally {
    await cleanup();
  }
});

test('optical library config: cdrom drives, a changer with media "optical" over the images folder, one target', () => {
  const cfg = parseConfigFile(JSON.stringify({ libraries: [{ name: 'jb', media: 'optical', images: '/isos', drives: 2, slots: 30, mailSlots: 0 }] }), 'c.json', ['cdrom', 'tape', 'changer']);
  assert.deepEqual(cfg.devices.map((d) => [d.name, d.type, d.file]), [['jb-drive0', 'cdrom', '-'], ['jb-drive1', 'cdrom', '-'], ['jb', 'changer', '/isos']]);
  assert.deepEqual(cfg.devices[2]!.options, { media: 'optical', drives: ['jb-drive0', 'jb-drive1'], slots: 30, mailSlots: 0 });
  assert.deepEqual(cfg.targets[0]!.luns.map((l) => [l.lun, l.device]), [[0, 'jb'], [1, 'jb-drive0'], [2, 'jb-drive1']]);
  const bad = (lib: object, re: RegExp) => assert.throws(() => parseConfigFile(JSON.stringify({ libraries: [lib] }), 'c.json', ['cdrom', 'tape', 'changer']), re);
  bad({ name: 'jb', media: 'optical', cartridges: '/x' }, /c\.json: libraries\[0\]\.cartridges: unknown field for a optical library/);
  bad({ name: 'jb', media: 'optical' }, /libraries\[0\]\.images: must be the path of a folder of disc images/);
  bad({ name: 'jb', media: 'optical', images: '/x', generation: 5 }, /libraries\[0\]\.generation: unknown field/);
  bad({ name: 'jb', media: 'floppy', images: '/x' }, /libraries\[0\]\.media: must be "tape" or "optical"/);
  assert.throws(() => parseConfigFile(JSON.stringify({ libraries: [{ name: 'jb', media: 'optical', images: '/x' }] }), 'c.json', ['tape', 'changer']), /needs the "cdrom" and "changer" handler types/);
});
