// `fileio_tgt --link scst_user NAME FILE` through the host for each handler type (disk, nullio,
// cdrom, tape), with the kernel model where /dev/scst_user would be; a grown image re-read on
// resize (SIGUSR2) reaches the kernel as DEVICE_CAPACITY_CHANGED; without the device the
// start-up error names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, rename, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildProgram, buildServeConfig, type CliOptions } from '../../src/cli/main.ts';
import { Host } from '../../src/host/host.ts';
import { HandlerRegistry } from '../../src/host/registry.ts';
import { Cartridge } from '../../src/media/cartridge.ts';
import { tempDir } from '../helpers/scsi-harness.ts';
import { ScstUserModel } from '../helpers/scst-user-model.ts';
import { cdb10, check, clearUa, good, senseKey, session } from '../helpers/scst-user-harness.ts';

async function start(argv: string[], model: ScstUserModel, scstVersion?: string): Promise<Host> {
  const p = buildProgram().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  p.parse(argv, { from: 'user' });
  const opts = p.opts<CliOptions>();
  const registry = await HandlerRegistry.open();
  const cfg = await buildServeConfig(p.args, opts, registry.types());
  assert.equal(cfg.link, 'scst_user');
  return Host.start(cfg, registry, () => undefined, {
    probe: { tcmu: false, scstUser: true, scstUserUsable: true },
    control: false,
    scstVersion: scstVersion ?? opts.scstVersion,
    scstUserPort: model.open,
  });
}

test('every handler type registers with SCST and answers through the link', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const img = join(dir, 'disk.img');
    await writeFile(img, Buffer.alloc(1 << 20));
    const src = join(dir, 'iso');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'hello');
    const iso = join(dir, 'a.iso');
    execFileSync('genisoimage', ['-quiet', '-o', iso, src]);
    const cart = join(dir, 'T00001L6');
    await Cartridge.create(cart, { barcode: 'T00001L6', capacity: 10e6 });
    const model = new ScstUserModel();
    const cases: [string[], string, number][] = [
      [['disk1', img], 'disk1', 0],
      [['--type', 'nullio', 'null1', '1G'], 'null1', 0],
      [['--type', 'cdrom', 'dvd1', iso], 'dvd1', 5],
      [['--type', 'tape', 'tape0', cart], 'tape0', 1],
    ];
    for (const [args, name, type] of cases) {
      const host = await start(['--link', 'scst_user', ...args], model);
      try {
        assert.equal(host.served.length, 1);
        assert.equal(host.served[0]!.via, 'scst_user');
        assert.equal(host.served[0]!.url, `/sys/kernel/scst_tgt/devices/${name}`);
        const dev = model.device(name);
        assert.equal(dev.type, type);
        const s = await session(dev);
        const inq = good(await dev.submit(s, { cdb: [0x12, 0, 0, 0, 96, 0] }));
        assert.equal(inq[0]! & 0x1f, type, `${name}: INQUIRY peripheral type`);
        await clearUa(dev, s);
      } finally {
        await host.close();
      }
      assert.equal(model.devices.has(name), false, `${name}: closing the fd unregistered the device`);
    }
  } finally {
    await cleanup();
  }
});

test('libraries too: a tape library and an optical jukebox register their changers and drives, and the changers answer', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const isos = join(dir, 'isos');
    const carts = join(dir, 'carts');
    await mkdir(isos);
    await mkdir(carts);
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'hello');
    execFileSync('genisoimage', ['-quiet', '-o', join(isos, 'DISC1.iso'), src]);
    await Cartridge.create(join(carts, 'T00001L6'), { barcode: 'T00001L6', capacity: 10e6 });
    const cfg = join(dir, 'cfg.json');
    await writeFile(
      cfg,
      JSON.stringify({
        libraries: [
          { name: 'vtl', cartridges: carts, drives: 1, slots: 4, mailSlots: 0 },
          { name: 'jb', media: 'optical', images: isos, drives: 1, slots: 4, mailSlots: 0 },
        ],
      }),
    );
    const model = new ScstUserModel();
    const host = await start(['--link', 'scst_user', '--config', cfg], model);
    try {
      assert.deepEqual(host.served.map((x) => x.device).sort(), ['jb', 'jb-drive0', 'vtl', 'vtl-drive0']);
      for (const [name, type] of [['vtl', 8], ['vtl-drive0', 1], ['jb', 8], ['jb-drive0', 5]] as const) {
        const dev = model.device(name);
        assert.equal(dev.type, type, name);
        const s = await session(dev);
        assert.equal(good(await dev.submit(s, { cdb: [0x12, 0, 0, 0, 96, 0] }))[0]! & 0x1f, type, `${name}: INQUIRY`);
        // the unit attentions of a new nexus, until TEST UNIT READY answers something else (empty drives: NOT READY)
        for (let i = 0; i < 10; i++) {
          const r = await dev.submit(s, { cdb: [0, 0, 0, 0, 0, 0], expected: { dir: 'none', length: 0 } });
          if (r.status === 0 || !senseKey(r.sense!).startsWith('06/')) break;
        }
        if (type !== 8) continue;
        // READ ELEMENT STATUS, storage elements with volume tags: the cartridge's barcode, the disc's name
        const res = good(await dev.submit(s, { cdb: [0xb8, 0x12, 0, 0, 0, 16, 0, 0, 0x10, 0, 0, 0] }));
        assert.match(res.toString('latin1'), name === 'vtl' ? /T00001L6/ : /DISC1/, `${name}: volume tags`);
      }
    } finally {
      await host.close();
    }
  } finally {
    await cleanup();
  }
});

test('a grown image: SIGUSR2 resize -> new READ CAPACITY and the kernel raises 2A/09', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const img = join(dir, 'disk.img');
    await writeFile(img, Buffer.alloc(1 << 20));
    const model = new ScstUserModel();
    const host = await start(['--link', 'scst_user', '--scst-version', model.version, 'disk1', img], model);
    try {
      const dev = model.device('disk1');
      const s = await session(dev);
      await clearUa(dev, s);
      const cap = async () => good(await dev.submit(s, { cdb: [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0] })).readUInt32BE(0) + 1;
      assert.equal(await cap(), 2048);
      assert.deepEqual(await host.resize(), [], 'nothing changed yet');
      await truncate(img, 2 << 20);
      assert.deepEqual(await host.resize(), ['disk1']);
      assert.equal(dev.stats.capacityChanged, 1, 'DEVICE_CAPACITY_CHANGED reached the kernel');
      check(await dev.submit(s, { cdb: [0, 0, 0, 0, 0, 0], expected: { dir: 'none', length: 0 } }), '06/2a/09');
      // The LU leaves 2A/09 to the core here (the other links get the LU's own): reported once.
      assert.equal(await cap(), 4096);
      good(await dev.submit(s, { cdb: cdb10(0x2a, 4000, 1), dataOut: Buffer.alloc(512, 7) }));
      await truncate(img, (2 << 20) + 100);
      assert.deepEqual(await host.resize(), [], 'a size that is not a whole number of blocks is refused; the old one stays');
      assert.equal(await cap(), 4096);
    } finally {
      await host.close();
    }
  } finally {
    await cleanup();
  }
});

test('without /dev/scst_user the start-up error names it', async () => {
  const registry = await HandlerRegistry.open();
  const p = buildProgram().exitOverride();
  p.parse(['--link', 'scst_user', '--type', 'nullio', 'n1', '1M'], { from: 'user' });
  const cfg = await buildServeConfig(p.args, p.opts<CliOptions>(), registry.types());
  await assert.rejects(Host.start(cfg, registry, () => undefined, { probe: { tcmu: false, scstUser: true, scstUserUsable: true }, control: false }), /--link scst_user: open \/dev\/scst_user: ENOENT/);
  await assert.rejects(Host.start(cfg, registry, () => undefined, { probe: { tcmu: false, scstUser: false }, control: false }), /\/dev\/scst_user does not exist/);
});

test('a folder of ISOs: an image copied in while running registers one more SCST user device', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const folder = join(dir, 'isos');
    await mkdir(folder);
    const makeIso = async (name: string, text: string) => {
      const src = join(dir, `${name}.src`);
      await mkdir(src);
      await writeFile(join(src, 'f.txt'), text);
      execFileSync('genisoimage', ['-quiet', '-o', join(dir, `${name}.iso`), src]);
    };
    await makeIso('alpha', 'disc alpha');
    await makeIso('beta', 'disc beta');
    await rename(join(dir, 'alpha.iso'), join(folder, 'alpha.iso'));
    await utimes(join(folder, 'alpha.iso'), 1, 1); // long settled
    const cfg = join(dir, 'cfg.json');
    await writeFile(cfg, JSON.stringify({ devices: [{ name: 'dvds', type: 'cdrom', file: folder, options: { settleMs: 100, rescanMs: 100 } }] }));
    const model = new ScstUserModel();
    const host = await start(['--link', 'scst_user', '--scst-version', model.version, '--config', cfg], model);
    try {
      assert.deepEqual(host.served.map((s) => s.device), ['dvds-alpha']);
      await rename(join(dir, 'beta.iso'), join(folder, 'beta.iso'));
      for (let i = 0; i < 100 && !model.devices.has('dvds-beta'); i++) await new Promise((r) => setTimeout(r, 50));
      const dev = model.device('dvds-beta');
      assert.equal(dev.type, 5);
      const s = await session(dev);
      await clearUa(dev, s);
      const cap = good(await dev.submit(s, { cdb: [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0] }));
      assert.equal(cap.readUInt32BE(4), 2048, 'a 2048-byte-block disc');
      assert.ok(host.served.some((s) => s.device === 'dvds-beta' && s.via === 'scst_user'), 'the host lists the new device');
    } finally {
      await host.close();
    }
    assert.equal(model.devices.size, 0, 'closing unregistered both devices');
  } finally {
    await cleanup();
  }
});
