// The embedded iSCSI target on several threads, driven by libiscsi and qemu through the real CLI:
// every target reachable on the one portal (logins handed to the thread serving the target),
// data landing in the right files, status and media changes reaching every thread, a clean stop,
// and a device that fails to open in another thread reported like any start-up error.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, truncate } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeIso } from '../helpers/iso.ts';
import { run, runCli, startTarget, type RunningTarget } from '../helpers/target-process.ts';

const MiB = 1 << 20;
const T = (n: string) => `iqn.2026-11.org.fileio-tgt.test:${n}`;

describe('three targets on three threads', () => {
  let dir: string;
  let target: RunningTarget;
  const url = (device: string) => target.served.find((s) => s.device === device)!.url;
  const control = () => join(dir, 'ctl.sock');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-threads-'));
    for (const f of ['d1.img', 'd2.img']) {
      await writeFile(join(dir, f), '');
      await truncate(join(dir, f), 8 * MiB);
    }
    const iso = await makeIso(dir, 'disc.iso', 'THREADS', { 'hello.txt': 'hello from a thread\n' });
    await writeFile(
      join(dir, 'cfg.json'),
      JSON.stringify({
        devices: [
          { name: 'd1', file: join(dir, 'd1.img') },
          { name: 'n1', type: 'nullio', sizeBytes: 1 << 30 },
          { name: 'd2', file: join(dir, 'd2.img') },
          { name: 'cd', type: 'cdrom', file: iso },
        ],
        targets: [
          { iqn: T('one'), luns: [{ lun: 0, device: 'd1' }, { lun: 1, device: 'n1' }] },
          { iqn: T('two'), luns: [{ lun: 0, device: 'd2' }] },
          { iqn: T('three'), luns: [{ lun: 0, device: 'cd' }] },
        ],
      }),
    );
    target = await startTarget(['--config', join(dir, 'cfg.json'), '--threads', '3', '--control', control()], 4);
  });
  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('the targets are spread over three threads and all of them are discovered on the one portal', async () => {
    assert.match(target.stderr(), new RegExp(`iscsi targets on 3 threads: ${T('one')} \\| ${T('two')} \\| ${T('three')}`));
    assert.deepEqual(target.served.map((s) => `${s.device} ${s.target}/${s.lun}`), [`d1 ${T('one')}/0`, `n1 ${T('one')}/1`, `d2 ${T('two')}/0`, `cd ${T('three')}/0`]);
    const ls = await run('iscsi-ls', ['-s', url('d1').replace(/\/iqn.*$/, '')]);
    assert.equal(ls.code, 0, ls.stderr);
    for (const t of ['one', 'two', 'three']) assert.match(ls.stdout, new RegExp(`Target:${T(t)} `));
    assert.match(ls.stdout, /Lun:0\s+Type:MMC/);
  });

  test('writes through each thread land in their own files', async () => {
    const a = randomBytes(MiB);
    const b = randomBytes(MiB);
    await writeFile(join(dir, 'a.bin'), a);
    await writeFile(join(dir, 'b.bin'), b);
    for (const [file, dev] of [['a.bin', 'd1'], ['b.bin', 'd2']] as const) {
      const w = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', join(dir, file), url(dev)]);
      assert.equal(w.code, 0, w.stderr);
      const c = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', join(dir, file), url(dev)]);
      assert.match(c.stdout, /Images are identical/, c.stderr);
    }
    assert.ok((await readFile(join(dir, 'd1.img'))).subarray(0, MiB).equals(a), 'd1.img');
    assert.ok((await readFile(join(dir, 'd2.img'))).subarray(0, MiB).equals(b), 'd2.img');
  });

  test('status shows every thread and every device; a media change reaches the thread with the drive', async () => {
    const st = await runCli(['status', '--json', '--control', control()]);
    assert.equal(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout) as { link: { threads: Array<{ targets: string[] }> }; devices: Array<{ name: string }> };
    assert.deepEqual(s.link.threads.map((t) => t.targets), [[T('one')], [T('two')], [T('three')]]);
    assert.deepEqual(s.devices.map((d) => d.name).sort(), ['cd', 'd1', 'd2', 'n1']);
    const ej = await runCli(['media', 'eject', 'cd', '--control', control(), '--json']);
    assert.equal(ej.code, 0, ej.stderr);
    assert.equal((JSON.parse(ej.stdout) as { tray: string }).tray, 'open');
    const tur = await run('iscsi-inq', [url('cd')]);
    assert.equal(tur.code, 0, tur.stderr);
    const none = await runCli(['media', 'eject', 'nosuch', '--control', control()]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no device "nosuch" \(devices: d1, n1, d2, cd\)/);
  });

  test('SIGUSR2 reaches the other threads: a grown image is served at its new size', async () => {
    await truncate(join(dir, 'd2.img'), 16 * MiB);
    target.proc.kill('SIGUSR2');
    let last = '';
    for (let i = 0; i < 50; i++) {
      const r = await run('iscsi-readcapacity16', [url('d2')]);
      last = r.stdout;
      if (/^RETURNED LOGICAL BLOCK ADDRESS:32767$/m.test(last)) return;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.fail(`d2 still reports ${last}`);
  });

  test('SIGTERM stops every thread and exits 0', async () => {
    assert.equal(await target.stop('SIGTERM'), 0);
    assert.equal((target.stderr().match(/iscsi target stopped/g) ?? []).length, 3);
  });
});

test('a device that cannot be opened in another thread is one clear line and a non-zero exit', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fileio-threads-'));
  try {
    await writeFile(join(dir, 'ok.img'), Buffer.alloc(MiB));
    const missing = join(dir, 'missing.img');
    const r = await runCli(['--portal', '127.0.0.1:0', '--threads', '2', 'ok', join(dir, 'ok.img'), 'gone', missing]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `fileio_tgt: gone: cannot open ${missing}: no such file or directory (ENOENT)`);
    assert.doesNotMatch(r.stdout, /->/, 'nothing reported as served');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
