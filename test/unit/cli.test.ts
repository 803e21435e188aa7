import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildProgram, buildServeConfig, type CliOptions } from '../../src/cli/main.ts';
import { tempDir } from '../helpers/scsi-harness.ts';

const TYPES = ['disk', 'nullio'];

function parse(argv: string[]): { args: string[]; opts: CliOptions } {
  const p = buildProgram().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  p.parse(argv, { from: 'user' });
  return { args: p.args, opts: p.opts<CliOptions>() };
}

test('SCST fileio_tgt options map onto the device config', async () => {
  const { args, opts } = parse(['-b', '4096', '-r', '-t', '-o', '-c', 'disk1', '/images/disk.img', 'disk2', '/images/b.img']);
  const cfg = await buildServeConfig(args, opts, TYPES);
  assert.deepEqual(cfg.portal, { host: '127.0.0.1', port: 3260 });
  assert.equal(cfg.link, 'auto');
  assert.equal(cfg.devices.length, 2);
  assert.deepEqual(
    { ...cfg.devices[0] },
    { name: 'disk1', type: 'disk', file: '/images/disk.img', blockSize: 4096, readOnly: true, writeThrough: true, direct: true, nullio: false, nvCache: true, removable: false, thin: false },
  );
  assert.deepEqual(cfg.targets.map((t) => t.iqn), ['iqn.2026-11.org.fileio-tgt:disk1', 'iqn.2026-11.org.fileio-tgt:disk2']);
});

test('portal, prefix and link options; nullio takes a size', async () => {
  const { args, opts } = parse(['--portal', '0.0.0.0:3300', '--iqn-prefix', 'iqn.2026-01.com.example', '--link', 'iscsi', '--type', 'nullio', 'null1', '2T']);
  const cfg = await buildServeConfig(args, opts, TYPES);
  assert.deepEqual(cfg.portal, { host: '0.0.0.0', port: 3300 });
  assert.equal(cfg.link, 'iscsi');
  assert.equal(cfg.devices[0].sizeBytes, 2 * 2 ** 40);
  assert.equal(cfg.devices[0].file, undefined);
  assert.equal(cfg.targets[0].iqn, 'iqn.2026-01.com.example:null1');
});

test('--link scst_user with --scst-version', async () => {
  const { args, opts } = parse(['--link', 'scst_user', '--scst-version', '3.10.0abc', 'disk1', '/images/a.img']);
  const cfg = await buildServeConfig(args, opts, TYPES);
  assert.equal(cfg.link, 'scst_user');
  assert.equal(opts.scstVersion, '3.10.0abc');
});

test('bad command lines get one clear message', async () => {
  assert.throws(() => parse(['-b', '1000', 'd', 'f']), /block size 1000 must be a power of two/);
  assert.throws(() => parse(['--link', 'fc', 'd', 'f']), /Allowed choices are auto, iscsi, tcmu, scst_user/);
  const p = parse(['d1', 'f1', 'd2']);
  await assert.rejects(buildServeConfig(p.args, p.opts, TYPES), /command line: devices are given as NAME FILE pairs; "d2" has no FILE/);
  const q = parse(['--type', 'tape', 'd1', 'f1']);
  await assert.rejects(buildServeConfig(q.args, q.opts, TYPES), /command line: --type: unknown handler type "tape" \(known: disk, nullio\)/);
  const r = parse(['--iqn-prefix', 'Bad Prefix', 'd1', 'f1']);
  await assert.rejects(buildServeConfig(r.args, r.opts, TYPES), /command line: --iqn-prefix: "Bad Prefix" is not an iSCSI name/);
  assert.throws(() => parse(['--cache-size', '1000', 'd', 'f']), /a page cache of 1000 bytes is too small/);
  assert.throws(() => parse(['--cache-size', 'lots', 'd', 'f']), /"lots" is not a size/);
  const s = parse(['--config', '/nonexistent/x.json']);
  await assert.rejects(buildServeConfig(s.args, s.opts, TYPES), /\/nonexistent\/x\.json: cannot read: no such file or directory \(ENOENT\)/);
});

test('--cache-size gives every command-line device a page cache of that size', async () => {
  const { args, opts } = parse(['--cache-size', '64M', '-o', 'd1', '/x/a.img', 'd2', '/x/b.img']);
  const cfg = await buildServeConfig(args, opts, TYPES);
  assert.deepEqual(
    cfg.devices.map((d) => [d.cacheSize, d.direct]),
    [
      [64 << 20, true],
      [64 << 20, true],
    ],
  );
  const none = parse(['d1', '/x/a.img']);
  assert.equal((await buildServeConfig(none.args, none.opts, TYPES)).devices[0]!.cacheSize, undefined, 'absent: the default for the mode');
});

test('a device option with --config and no NAME FILE devices is an error, not silently ignored', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const cfgFile = join(dir, 'cfg.json');
    await writeFile(cfgFile, JSON.stringify({ devices: [{ name: 'os', file: '/images/os.img' }] }));
    const b = parse(['-b', '4096', '--config', cfgFile]);
    await assert.rejects(buildServeConfig(b.args, b.opts, TYPES), (e: Error) => {
      assert.equal(e.message, `command line: --block: applies to NAME FILE devices on the command line, not to those of ${cfgFile}: set "blockSize" on its devices instead`);
      return true;
    });
    const r = parse(['-r', '--config', cfgFile]);
    await assert.rejects(buildServeConfig(r.args, r.opts, TYPES), /--read_only: applies to NAME FILE devices .* set "readOnly"/);
    // with NAME FILE devices too, the option applies to those and the file's devices keep theirs
    const both = parse(['-b', '4096', '--config', cfgFile, 'd1', '/images/d1.img']);
    const cfg = await buildServeConfig(both.args, both.opts, TYPES);
    assert.deepEqual(cfg.devices.map((d) => [d.name, d.blockSize]), [['os', 512], ['d1', 4096]]);
  } finally {
    await cleanup();
  }
});
