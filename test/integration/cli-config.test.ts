// Variants and mistakes: a JSON config with several LUNs, block sizes, read-only and nullio
// devices; and the one-line errors a user sees for a bad file, size, port or link.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runCli, startTarget, type RunningTarget } from '../helpers/target-process.ts';

const MiB = 1 << 20;

describe('a --config file with one target of three LUNs', () => {
  let dir: string;
  let target: RunningTarget;
  const url = (device: string) => target.served.find((s) => s.device === device)!.url;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-cfg-'));
    await writeFile(join(dir, 'ro.img'), Buffer.alloc(2 * MiB, 0x77));
    await writeFile(join(dir, 'big.img'), '');
    await truncate(join(dir, 'big.img'), 16 * MiB);
    await writeFile(
      join(dir, 'cfg.json'),
      JSON.stringify({
        devices: [
          { name: 'ro', file: join(dir, 'ro.img'), readOnly: true },
          { name: 'big', file: join(dir, 'big.img'), blockSize: 4096 },
          { name: 'null0', type: 'nullio', sizeBytes: 1 << 30 },
        ],
        targets: [{ iqn: 'iqn.2026-11.org.fileio-tgt.test:lib', luns: [{ lun: 0, device: 'ro' }, { lun: 1, device: 'big' }, { lun: 7, device: 'null0' }] }],
      }),
    );
    target = await startTarget(['--config', join(dir, 'cfg.json')], 3);
  });
  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('every LUN is listed with its own URL', async () => {
    assert.deepEqual(target.served.map((s) => s.url.replace(/:\d+\//, ':P/')), [
      'iscsi://127.0.0.1:P/iqn.2026-11.org.fileio-tgt.test:lib/0',
      'iscsi://127.0.0.1:P/iqn.2026-11.org.fileio-tgt.test:lib/1',
      'iscsi://127.0.0.1:P/iqn.2026-11.org.fileio-tgt.test:lib/7',
    ]);
    const ls = await run('iscsi-ls', ['-s', url('ro').replace(/\/iqn.*$/, '')]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /Lun:0\s+Type:DIRECT_ACCESS/);
    assert.match(ls.stdout, /Lun:1\s+Type:DIRECT_ACCESS/);
    assert.match(ls.stdout, /Lun:7\s+Type:DIRECT_ACCESS/);
  });

  test('a 4096-byte-block LUN reports 4096-byte blocks', async () => {
    const r = await run('iscsi-readcapacity16', [url('big')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^LOGICAL BLOCK LENGTH IN BYTES:4096$/m);
    assert.match(r.stdout, new RegExp(`^RETURNED LOGICAL BLOCK ADDRESS:${16 * 256 - 1}$`, 'm'));
  });

  test('a read-only LUN refuses writes and keeps its data', async () => {
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x00 0 4096', url('ro')]);
    // qemu sees WP in MODE SENSE's device-specific parameter and refuses to open for writing.
    assert.notEqual(w.code, 0);
    assert.match(w.stderr, /LUN is write protected/);
    const r = await run('qemu-io', ['-f', 'raw', '-r', '-c', 'read -P 0x77 0 65536', url('ro')]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /Pattern verification failed/);
    assert.ok((await readFile(join(dir, 'ro.img'))).every((b) => b === 0x77));
  });

  test('a nullio LUN reads zeros', async () => {
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x99 0 65536', '-c', 'read -P 0x00 0 65536', url('null0')]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /Pattern verification failed/);
  });
});

describe('start-up mistakes get one clear line and a non-zero exit', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-err-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const oneLine = (stderr: string) => {
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
    return lines[0];
  };

  test('a missing file', async () => {
    const r = await runCli(['--portal', '127.0.0.1:0', 'd1', join(dir, 'nope.img')]);
    assert.notEqual(r.code, 0);
    assert.match(oneLine(r.stderr), /d1: .*nope\.img.*(ENOENT|no such file|does not exist)/i);
  });

  test('a size that is not a multiple of the block size', async () => {
    await writeFile(join(dir, 'odd.img'), Buffer.alloc(1000));
    const r = await runCli(['--portal', '127.0.0.1:0', 'd1', join(dir, 'odd.img')]);
    assert.notEqual(r.code, 0);
    assert.match(oneLine(r.stderr), /odd\.img.*1000.*512/);
  });

  test('a port in use', async () => {
    const blocker = createServer();
    await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', res));
    const port = (blocker.address() as { port: number }).port;
    await writeFile(join(dir, 'ok.img'), Buffer.alloc(MiB));
    try {
      const r = await runCli(['--portal', `127.0.0.1:${port}`, 'd1', join(dir, 'ok.img')]);
      assert.notEqual(r.code, 0);
      assert.match(oneLine(r.stderr), new RegExp(`127\\.0\\.0\\.1:${port}.*(in use|EADDRINUSE)`));
    } finally {
      blocker.close();
    }
  });

  test('a kernel link whose module is not loaded', async () => {
    await writeFile(join(dir, 'ok.img'), Buffer.alloc(MiB));
    const r = await runCli(['--link', 'scst_user', 'd1', join(dir, 'ok.img')]);
    assert.notEqual(r.code, 0);
    assert.match(oneLine(r.stderr), /scst_user/);
  });

  test('a bad config field is named with its file', async () => {
    const cfg = join(dir, 'bad.json');
    await writeFile(cfg, JSON.stringify({ devices: [{ name: 'a', file: 'x', blockSize: 3 }] }));
    const r = await runCli(['--config', cfg]);
    assert.notEqual(r.code, 0);
    assert.equal(oneLine(r.stderr), `fileio_tgt: ${cfg}: devices[0].blockSize: block size 3 must be a power of two from 512 to 65536`);
  });
});
