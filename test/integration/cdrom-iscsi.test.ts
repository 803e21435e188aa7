// The cdrom handler end to end: the real CLI serves ISO images (made here with genisoimage) over the
// embedded iSCSI target; libiscsi's tools and tools/iscsi-raw (raw CDBs over libiscsi, one session
// kept open across media changes) see the drive; `fileio_tgt media` changes the disc at run time.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawSession } from '../helpers/iscsi-raw.ts';
import { run, runCli, startTarget, type RunningTarget } from '../helpers/target-process.ts';

describe('cdrom over the embedded iSCSI target', () => {
  let dir: string;
  let isoA: string;
  let isoB: string;
  let sock: string;
  let target: RunningTarget;
  let url: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-cd-'));
    for (const [name, files] of [
      ['a', { 'hello.txt': 'disc A\n' }],
      ['b', { 'other.txt': 'disc B\n' }],
    ] as const) {
      await mkdir(join(dir, name));
      for (const [f, text] of Object.entries(files)) await writeFile(join(dir, name, f), text);
    }
    isoA = join(dir, 'a.iso');
    isoB = join(dir, 'b.iso');
    let r = await run('genisoimage', ['-quiet', '-R', '-J', '-V', 'DISCA', '-o', isoA, join(dir, 'a')]);
    assert.equal(r.code, 0, r.stderr);
    r = await run('genisoimage', ['-quiet', '-R', '-J', '-V', 'DISCB', '-o', isoB, join(dir, 'b')]);
    assert.equal(r.code, 0, r.stderr);
    sock = join(dir, 'control.sock');
    target = await startTarget(['--control', sock, '--type', 'cdrom', 'dvd1', isoA]);
    url = target.served[0]!.url;
  });

  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('iscsi-inq: MMC device, removable; iscsi-readcapacity16: the ISO size in 2048-byte blocks', async () => {
    const inq = await run('iscsi-inq', [url]);
    assert.equal(inq.code, 0, inq.stderr);
    assert.match(inq.stdout, /^Peripheral Device Type:MMC$/m);
    assert.match(inq.stdout, /^Removable:1$/m);
    const cap = await run('iscsi-readcapacity16', [url]);
    assert.equal(cap.code, 0, cap.stderr);
    const blocks = (await stat(isoA)).size / 2048;
    assert.match(cap.stdout, new RegExp(`^RETURNED LOGICAL BLOCK ADDRESS:${blocks - 1}$`, 'm'));
    assert.match(cap.stdout, /^LOGICAL BLOCK LENGTH IN BYTES:2048$/m);
  });

  test('one session across swap, initiator eject and host load: PVD, 28/00, GESN events, 3A/02', async () => {
    const s = new RawSession(url);
    try {
      const pvdOf = async () => {
        const r = await s.send('28000000001000000100', { in: 2048 });
        assert.equal(r.status, 0, r.line);
        assert.equal(r.data.subarray(1, 6).toString('ascii'), 'CD001');
        return r.data.subarray(40, 72).toString('ascii').trim();
      };
      assert.equal(await pvdOf(), 'DISCA');
      const conf = await s.send('46010000000000000800', { in: 8 });
      assert.equal(conf.data.readUInt16BE(6), 0x0008, 'CD-ROM profile current');
      const w = await s.send('2a000000000000000100');
      assert.equal(w.sense, '5/30/05', 'WRITE(10): CANNOT WRITE MEDIUM - INCOMPATIBLE FORMAT (a read-only disc)');

      const swap = await runCli(['media', 'swap', 'dvd1', isoB, '--control', sock]);
      assert.equal(swap.code, 0, swap.stderr);
      assert.match(swap.stdout, /dvd1: tray closed, CD-ROM .*b\.iso/);
      const ev1 = await s.send('4a010000100000000800', { in: 8 });
      assert.equal(ev1.data[4], 3, 'MediaRemoval');
      const ev2 = await s.send('4a010000100000000800', { in: 8 });
      assert.deepEqual([ev2.data[4], ev2.data[5]], [2, 2], 'NewMedia, media present');
      assert.equal((await s.send('000000000000')).sense, '6/28/00');
      assert.equal(await pvdOf(), 'DISCB');

      // the initiator locks the tray: the operator's eject becomes an eject request
      assert.equal((await s.send('1e0000000100')).status, 0);
      const refused = await runCli(['media', 'eject', 'dvd1', '--control', sock]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /prevented/);
      const req = await s.send('4a010000100000000800', { in: 8 });
      assert.equal(req.data[4], 1, 'EjectRequest');
      assert.equal((await s.send('1b0000000200')).sense, '5/53/02');
      assert.equal((await s.send('1e0000000000')).status, 0);
      assert.equal((await s.send('1b0000000200')).status, 0, 'initiator eject');
      assert.equal((await s.send('000000000000')).sense, '2/3a/02');
      const st = await runCli(['media', 'status', 'dvd1', '--control', sock, '--json']);
      assert.equal(JSON.parse(st.stdout).tray, 'open');
      const load = await runCli(['media', 'load', 'dvd1', '--control', sock]);
      assert.equal(load.code, 0, load.stderr);
      assert.equal((await s.send('000000000000')).sense, '6/28/00');
      assert.equal((await s.send('000000000000')).status, 0);
      assert.equal(await pvdOf(), 'DISCB');
    } finally {
      s.close();
    }
  });

  test('fileio_tgt media reports errors clearly', async () => {
    const r = await runCli(['media', 'load', 'nosuch', isoA, '--control', sock]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no device "nosuch"/);
    const gone = await runCli(['media', 'status', 'dvd1', '--control', join(dir, 'nobody.sock')]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no control socket .*nobody\.sock: no fileio_tgt is running with this path/);
  });
});
