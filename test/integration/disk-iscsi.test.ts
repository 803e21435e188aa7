// The main job end to end: the real CLI serves disk images over its embedded iSCSI target and
// real initiators (libiscsi's tools, qemu's iSCSI block driver) discover, read and write them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawSession } from '../helpers/iscsi-raw.ts';
import { CLI, run, startTarget, type RunningTarget } from '../helpers/target-process.ts';

const MiB = 1 << 20;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const portalOf = (url: string) => url.slice(0, url.indexOf('/', 'iscsi://'.length));

describe('disk image over the embedded iSCSI target', () => {
  let dir: string;
  let img: string;
  let target: RunningTarget;
  let url: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-it-'));
    img = join(dir, 'disk.img');
    await writeFile(img, '');
    await truncate(img, 64 * MiB);
    target = await startTarget(['disk1', img]);
    url = target.served[0].url;
  });

  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('prints one status line naming the device, file and iSCSI URL', () => {
    assert.equal(target.served.length, 1);
    const s = target.served[0];
    assert.equal(s.device, 'disk1');
    assert.equal(s.file, img);
    assert.match(s.url, /^iscsi:\/\/127\.0\.0\.1:\d+\/iqn\.2026-11\.org\.fileio-tgt:disk1\/0$/);
  });

  test('iscsi-ls discovers the target with SendTargets and lists LUN 0', async () => {
    const r = await run('iscsi-ls', ['-s', portalOf(url)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Target:iqn\.2026-11\.org\.fileio-tgt:disk1 Portal:127\.0\.0\.1:\d+,1/);
    // iscsi-ls sizes a LUN as last LBA x block length, so 64 MiB shows as 63M.
    assert.match(r.stdout, /Lun:0\s+Type:DIRECT_ACCESS \(Size:63M\)/);
  });

  test('iscsi-inq shows the identity: standard INQUIRY and VPD pages', async () => {
    const std = await run('iscsi-inq', [url]);
    assert.equal(std.code, 0, std.stderr);
    assert.match(std.stdout, /^Peripheral Device Type:DIRECT_ACCESS$/m);
    assert.match(std.stdout, /^Product:disk1\s*$/m);
    assert.match(std.stdout, /^Version Descriptor:0460 SPC-4$/m);
    const pages = await run('iscsi-inq', ['-e', '1', '-c', '0', url]);
    assert.equal(pages.code, 0, pages.stderr);
    for (const page of ['0x00 SUPPORTED_VPD_PAGES', '0x80 UNIT_SERIAL_NUMBER', '0x83 DEVICE_IDENTIFICATION', '0xb0 BLOCK_LIMITS', '0xb1 BLOCK_DEVICE_CHARACTERISTICS']) {
      assert.match(pages.stdout, new RegExp(`^Page:${page}$`, 'm'));
    }
    const serial = await run('iscsi-inq', ['-e', '1', '-c', '128', url]);
    assert.equal(serial.code, 0, serial.stderr);
    assert.match(serial.stdout, /^Unit Serial Number:\[[0-9a-f]{16}\]$/m);
    const ids = await run('iscsi-inq', ['-e', '1', '-c', '131', url]);
    assert.equal(ids.code, 0, ids.stderr);
    assert.match(ids.stdout, /^Designator:\[iqn\.2026-11\.org\.fileio-tgt:disk1,t,0x0001\]$/m);
    assert.match(ids.stdout, /^Designator Type:\(3\) NAA$/m);
  });

  test('iscsi-readcapacity16 reports the size and 512-byte blocks', async () => {
    const r = await run('iscsi-readcapacity16', [url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^RETURNED LOGICAL BLOCK ADDRESS:${64 * 2048 - 1}$`, 'm'));
    assert.match(r.stdout, /^LOGICAL BLOCK LENGTH IN BYTES:512$/m);
    assert.match(r.stdout, /LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT:3$/m);
    assert.match(r.stdout, new RegExp(`^Total size:${64 * MiB}$`, 'm'));
  });

  test('data written through the target reads back identical and is in the file', async () => {
    const src = join(dir, 'src.img');
    const data = randomBytes(4 * MiB);
    await writeFile(src, data);
    const w = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, url], 120_000);
    assert.equal(w.code, 0, w.stderr);
    const cmp = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, url], 120_000);
    assert.equal(cmp.code, 0, cmp.stdout + cmp.stderr);
    // A second pattern at an unaligned-to-MiB offset, verified by qemu-io's own read check.
    const io = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0xa5 5242880 1536000', '-c', 'read -P 0xa5 5242880 1536000', url]);
    assert.equal(io.code, 0, io.stderr);
    assert.doesNotMatch(io.stdout, /Pattern verification failed/);
    const fh = await open(img, 'r');
    try {
      const head = Buffer.alloc(4 * MiB);
      await fh.read(head, 0, head.length, 0);
      assert.equal(sha256(head), sha256(data));
      const mid = Buffer.alloc(1536000);
      await fh.read(mid, 0, mid.length, 5242880);
      assert.ok(mid.every((b) => b === 0xa5), 'pattern not in the backing file');
    } finally {
      await fh.close();
    }
  });

  test('several sessions at once read consistently', async () => {
    const results = await Promise.all([
      run('qemu-io', ['-f', 'raw', '-c', 'read -P 0xa5 5242880 65536', url]),
      run('qemu-io', ['-f', 'raw', '-c', 'read -P 0xa5 5308416 65536', url]),
      run('iscsi-inq', [url]),
      run('iscsi-readcapacity16', [url]),
    ]);
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /Pattern verification failed/);
    }
  });
});

describe('durability and shutdown', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-it-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  for (const [how, opts] of [
    ['', []],
    [' with the page cache (write-back)', ['--cache-size', '64M']],
  ] as const) {
    test(`a FUA write acknowledged by the target survives kill -9${how}`, async () => {
      const img = join(dir, `fua${opts.length}.img`);
      await writeFile(img, Buffer.alloc(8 * MiB));
      const t = await startTarget([...opts, 'fua1', img]);
      const r = await run('qemu-io', ['-f', 'raw', '-c', 'write -f -P 0x3c 1048576 131072', t.served[0].url]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await t.stop('SIGKILL'), 'SIGKILL');
      const file = await readFile(img);
      assert.ok(file.subarray(MiB, MiB + 131072).every((b) => b === 0x3c));
      assert.ok(file.subarray(0, MiB).every((b) => b === 0));
    });
  }

  test('with the page cache (write-back): FUA writes and SYNCHRONIZE CACHE survive kill -9; the cache is reported', async () => {
    const img = join(dir, 'wb.img');
    await writeFile(img, Buffer.alloc(8 * MiB));
    const control = join(dir, 'wb.sock');
    const t = await startTarget(['--cache-size', '64M', '--control', control, 'wb1', img]);
    const s = new RawSession(t.served[0].url);
    try {
      await s.ready();
      const write10 = (lba: number, blocks: number, fua: boolean) => [0x2a, fua ? 0x08 : 0, 0, 0, lba >> 8, lba & 0xff, 0, 0, blocks, 0];
      // WRITE FUA (8 blocks at LBA 2048), WRITE + SYNCHRONIZE CACHE(10) of its range (LBA 4096), WRITE + SYNCHRONIZE CACHE(16) of everything (LBA 6144)
      assert.equal((await s.send(write10(2048, 8, true), { out: Buffer.alloc(4096, 0xa1) })).status, 0);
      assert.equal((await s.send(write10(4096, 8, false), { out: Buffer.alloc(4096, 0xb2) })).status, 0);
      assert.equal((await s.send([0x35, 0, 0, 0, 0x10, 0, 0, 0, 8, 0])).status, 0);
      assert.equal((await s.send(write10(6144, 8, false), { out: Buffer.alloc(4096, 0xc3) })).status, 0);
      assert.equal((await s.send([0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])).status, 0);
      const st = await run(process.execPath, [CLI, 'status', '--json', '--control', control]);
      assert.equal(st.code, 0, st.stderr);
      const status = JSON.parse(st.stdout) as Record<string, unknown>;
      const dev = (status.devices as Array<{ name: string; cache?: Record<string, number> }>).find((d) => d.name === 'wb1');
      assert.equal(dev?.cache?.budget, 64 * MiB, JSON.stringify(status));
      assert.ok((dev?.cache?.pagesWritten ?? 0) >= 2, 'the flushed pages were written back');
    } catch (e) {
      await t.stop('SIGKILL');
      throw e;
    } finally {
      s.close();
    }
    assert.equal(await t.stop('SIGKILL'), 'SIGKILL');
    const file = await readFile(img);
    assert.ok(file.subarray(2048 * 512, 2048 * 512 + 4096).every((b) => b === 0xa1), 'FUA');
    assert.ok(file.subarray(4096 * 512, 4096 * 512 + 4096).every((b) => b === 0xb2), 'SYNCHRONIZE CACHE(10) of the range');
    assert.ok(file.subarray(6144 * 512, 6144 * 512 + 4096).every((b) => b === 0xc3), 'SYNCHRONIZE CACHE(16)');
  });

  test('SIGTERM closes sessions, flushes and exits 0', async () => {
    const img = join(dir, 'term.img');
    await writeFile(img, Buffer.alloc(MiB));
    const t = await startTarget(['term1', img]);
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 0 65536', t.served[0].url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await t.stop('SIGTERM'), 0);
    assert.ok((await readFile(img)).subarray(0, 65536).every((b) => b === 0x11));
  });
});
