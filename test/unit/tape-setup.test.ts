// The setup traps a new user falls into, each a test that failed before: an empty cartridge file
// is a blank cartridge (formatted on first load, barcode from the file name), a missing one is an
// error that names the `tape create` command, a changer from the command line is a whole library
// (drives, a slot per cartridge plus free ones, a mail slot) equal to its "libraries" config, and
// the start-up line / tape info say generation, capacity, WORM and partitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { Cartridge } from '../../src/media/cartridge.ts';
import { formatBlank, generationFromLabel, labelFromFileName } from '../../src/media/blank.ts';
import { createTape, tapeDrives } from '../../src/handlers/tape/index.ts';
import { createChanger } from '../../src/handlers/changer/index.ts';
import { deviceDefaults, parseConfigFile } from '../../src/host/config.ts';
import { buildProgram, buildServeConfig, type CliOptions } from '../../src/cli/main.ts';
import { tapeMain } from '../../src/media/cli.ts';
import type { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import { assertGood, clearUa, nexus, send, tempDir } from '../helpers/scsi-harness.ts';

const TYPES = ['disk', 'tape', 'changer', 'cdrom'];
const res = (b1: number, start: number, count: number) => [0xb8, b1, start >> 8, start & 0xff, count >> 8, count & 0xff, 0, 0, 0xff, 0xff, 0, 0];

test('labels: the file name when it is a valid label, else FT + hash + Ln; generation from an LTO label', () => {
  assert.equal(labelFromFileName('/vtl/A00001L6', 9), 'A00001L6');
  assert.equal(labelFromFileName('/vtl/A00001L6.tape', 9), 'A00001L6');
  assert.equal(labelFromFileName('/vtl/new.tape', 9), 'new');
  assert.match(labelFromFileName('/vtl/my backup.tape', 8), /^FT[0-9A-F]{4}L8$/);
  assert.equal(labelFromFileName('/vtl/my backup.tape', 8), labelFromFileName('/other/my backup.tape', 8), 'depends on the name only');
  assert.equal(generationFromLabel('A00001L6'), 6);
  assert.equal(generationFromLabel('A00001LA'), 10);
  assert.equal(generationFromLabel('new'), undefined);
});

test('an empty file is formatted as a blank cartridge; a non-empty one is left alone', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const f = join(dir, 'A00002L5.tape');
    await writeFile(f, '');
    const r = await formatBlank(f);
    assert.ok(r);
    assert.match(r.message, /was empty: formatted as blank cartridge A00002L5, LTO-5, 1\.5 TB/);
    const h = await Cartridge.peek(f);
    assert.equal(h?.barcode, 'A00002L5');
    assert.equal(h?.density, 0x58, 'LTO-5 from the label');
    assert.equal(h?.capacity, 1.5e12);
    assert.equal(await formatBlank(f), undefined, 'not empty any more');
    assert.deepEqual((await readdir(dir)).sort(), ['A00002L5.tape'], 'no temporary file left');
    const g = join(dir, 'junk');
    await writeFile(g, 'x');
    assert.equal(await formatBlank(g), undefined);
    assert.equal((await stat(g)).size, 1);
    const e = join(dir, 'e.tape');
    await writeFile(e, '');
    assert.equal((await formatBlank(e, 7))?.density.code, 0x5c, 'an explicit generation wins');
  } finally {
    await cleanup();
  }
});

test('--type tape on an empty file: the drive formats it, loads it and says so; a missing file names tape create', async () => {
  const { dir, cleanup } = await tempDir();
  const logs: string[] = [];
  try {
    const f = join(dir, 'new.tape');
    await writeFile(f, '');
    const lu = (await createTape({ ...deviceDefaults('tapeA', 'tape'), file: f, options: { generation: 8 } }, { log: (_l, m) => logs.push(m) })) as ScsiLogicalUnit;
    try {
      const a = nexus(1);
      await clearUa(lu, a);
      assert.equal(logs.filter((m) => /formatted as blank cartridge new, LTO-8, 12 TB/.test(m)).length, 1, logs.join('\n'));
      assertGood(await send(lu, [0x0a, 0, 0, 0x02, 0x00, 0], a, { dataOut: Buffer.alloc(512, 7) }));
      const summary = String(lu.describe().summary);
      assert.match(summary, /LTO-8 drive, cartridge new: LTO-8, 12 TB, rewritable, 1 partition/);
    } finally {
      await lu.close();
    }
    await assert.rejects(
      createTape({ ...deviceDefaults('tapeB', 'tape'), file: join(dir, 'missing.tape') }, { log: () => undefined }),
      /missing\.tape does not exist; create a cartridge with: fileio_tgt tape create --barcode missing --generation 9 .*missing\.tape/,
    );
    assert.equal(tapeDrives.has('tapeB'), false);
  } finally {
    await cleanup();
  }
});

function cliOpts(args: string[]): { args: string[]; opts: CliOptions } {
  const p = buildProgram().exitOverride();
  p.parse(args, { from: 'user' });
  return { args: p.args, opts: p.opts<CliOptions>() };
}

test('--type changer NAME FOLDER is a library with drives, the same as the "libraries" entry', async () => {
  const { args, opts } = cliOpts(['--type', 'changer', '--drives', '2', '--generation', '7', 'lib1', '/vtl']);
  const cli = await buildServeConfig(args, opts, TYPES);
  const file = parseConfigFile(JSON.stringify({ libraries: [{ name: 'lib1', cartridges: '/vtl', drives: 2, generation: 7 }] }), 'c.json', TYPES);
  assert.deepEqual(cli.devices, file.devices);
  assert.deepEqual(cli.targets, file.targets);
  assert.deepEqual(
    cli.devices.map((d) => [d.name, d.type]),
    [['lib1-drive0', 'tape'], ['lib1-drive1', 'tape'], ['lib1', 'changer']],
  );
  assert.deepEqual(cli.targets[0]!.luns, [{ lun: 0, device: 'lib1' }, { lun: 1, device: 'lib1-drive0' }, { lun: 2, device: 'lib1-drive1' }]);
  const one = await buildServeConfig(...(Object.values(cliOpts(['--type', 'changer', 'lib2', '/vtl'])) as [string[], CliOptions]), TYPES);
  assert.equal(one.devices.filter((d) => d.type === 'tape').length, 1, 'one drive by default');
  let help = '';
  buildProgram().configureOutput({ writeOut: (s) => (help += s) }).outputHelp();
  assert.match(help, /--drives <n>/);
  assert.match(help, /"libraries"\s+entry in --config/);
});

test('a library from the command line: blank files formatted, a slot for each cartridge plus free ones, a mail slot, the drives', async () => {
  const { dir, cleanup } = await tempDir();
  const logs: string[] = [];
  const host = { log: (_l: string, m: string) => logs.push(m) };
  const { args, opts } = cliOpts(['--type', 'changer', '--drives', '2', 'vtlc', join(dir, 'vtl')]);
  const cfg = await buildServeConfig(args, opts, TYPES);
  const lus: ScsiLogicalUnit[] = [];
  try {
    await mkdir(join(dir, 'vtl'));
    await Cartridge.create(join(dir, 'vtl', 'C00001L9'), { barcode: 'C00001L9', capacity: 64e6 });
    await writeFile(join(dir, 'vtl', 'C00002L6'), '');
    await writeFile(join(dir, 'vtl', 'scratch.tape'), '');
    for (const d of cfg.devices) lus.push((await (d.type === 'tape' ? createTape : createChanger)(d, host)) as ScsiLogicalUnit);
    const changer = lus[lus.length - 1]!;
    const a = nexus(1);
    await clearUa(changer, a);
    const d = assertGood(await send(changer, res(0x10, 0, 100), a));
    const text = d.toString('latin1');
    for (const tag of ['C00001L9', 'C00002L6', 'scratch']) assert.match(text, new RegExp(tag));
    // element status: 2 drives, 1 mail slot, 3 + 10 slots
    const counts = new Map<number, number>();
    let off = 8;
    while (off < d.length) {
      const type = d[off]!;
      const bytes = d.readUIntBE(off + 5, 3);
      counts.set(type, bytes / d.readUInt16BE(off + 2));
      off += 8 + bytes;
    }
    assert.deepEqual([counts.get(4), counts.get(3), counts.get(2)], [2, 1, 13], 'drives, mail slots, slots');
    assert.equal((await Cartridge.peek(join(dir, 'vtl', 'C00002L6')))?.density, 0x5a, 'blank formatted as LTO-6 from its label');
    assert.equal(logs.filter((m) => /was empty: formatted/.test(m)).length, 2, logs.join('\n'));
    assert.match(String(changer.describe().summary), /tape library: 2 drives, 13 slots, 1 mail slot\(s\), 3 cartridges/);
  } finally {
    for (const lu of lus.reverse()) await lu.close();
    await cleanup();
  }
});

test('tape info says generation, capacity, WORM and partitions', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const f = join(dir, 'W00001L8');
    let out = '';
    assert.equal(await tapeMain(['create', '--barcode', 'W00001L8', '--generation', '8', '--worm', f], () => undefined), 0);
    assert.equal(await tapeMain(['info', '--json', f], (s) => (out += s)), 0);
    const j = JSON.parse(out);
    assert.equal(j.generation, 'LTO-8');
    assert.equal(j.capacityText, '12 TB');
    assert.equal(j.worm, true);
    assert.equal(j.partitions, 1);
    assert.match(j.summary, /W00001L8: LTO-8, 12 TB, WORM, 1 partition/);
  } finally {
    await cleanup();
  }
});
