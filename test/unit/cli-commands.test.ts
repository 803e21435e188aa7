// The subcommands that make files: disk create (sparse or preallocated) and tape create (which
// says where its density comes from).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { diskMain } from '../../src/cli/disk.ts';
import { tapeMain } from '../../src/media/cli.ts';
import { tempDir } from '../helpers/scsi-harness.ts';

async function disk(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await diskMain(argv, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

test('disk create makes a sparse image of the size asked, and says how to serve it', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const img = join(dir, 'a.img');
    const r = await disk(['create', '--size', '64M', img]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `${img}: 67108864 bytes, sparse; serve it with: fileio_tgt NAME ${img}\n`);
    const st = await stat(img);
    assert.equal(st.size, 64 << 20);
    assert.ok(st.blocks * 512 < 1 << 20, `sparse: ${st.blocks} blocks allocated`);
  } finally {
    await cleanup();
  }
});

test('disk create --preallocate writes every block and reports progress', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const img = join(dir, 'p.img');
    const r = await disk(['create', '--size', '24M', '--preallocate', '-b', '4096', img]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`${img}: 100% \\(25165824 of 25165824 bytes\\)\\n$`));
    assert.match(r.out, /preallocated; serve it with: fileio_tgt -b 4096 NAME /);
    assert.ok((await stat(img)).blocks * 512 >= 24 << 20, 'allocated');
  } finally {
    await cleanup();
  }
});

test('disk create refuses an existing file, a size typo and a size that is not whole blocks', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const img = join(dir, 'x.img');
    await writeFile(img, 'keep');
    const exists = await disk(['create', '--size', '1M', img]);
    assert.equal(exists.code, 1);
    assert.equal(exists.err, `fileio_tgt disk: cannot create ${img}: already exists (EEXIST)\n`);
    assert.equal((await stat(img)).size, 4, 'left alone');
    const odd = await disk(['create', '--size', '1000', join(dir, 'y.img')]);
    assert.equal(odd.err, 'fileio_tgt disk: --size 1000 is not a multiple of the 512-byte block size\n');
  } finally {
    await cleanup();
  }
});

test('tape create without --generation says which density it chose and why', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    let out = '';
    const collect = (s: string) => void (out += s);
    assert.equal(await tapeMain(['create', '--barcode', 'A00001', '--size', '64M', join(dir, 'a')], collect), 0);
    assert.match(out, /cartridge A00001, 64000000 bytes, LTO-6 \(density 5ah; no --generation: LTO-6 is the default, --generation N picks another\)/);
    out = '';
    assert.equal(await tapeMain(['create', '--barcode', 'A00002L3', '--size', '64M', join(dir, 'b')], collect), 0);
    assert.match(out, /LTO-3 \(density 44h, from the barcode's L3\)/);
  } finally {
    await cleanup();
  }
});
