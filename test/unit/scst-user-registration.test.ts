// REGISTER_DEVICE: the version string from installed headers, the running SCST or the releases we
// know (the kernel refuses any other with EINVAL and logs the one it expects); a taken name; and
// re-registration when the fd fails, with the LUN mappings put back through sysfs and the
// relative target port read from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KNOWN_SCST_RELEASES, SCST_ABI_DEV_USER_INTF_VER, devUserVersion } from '../../src/ffi/scst-user-abi.ts';
import { chooseVersion } from '../../src/links/scst_user/version-source.ts';
import { diskConfig, openDisk, tempDir, tempImage } from '../helpers/scsi-harness.ts';
import { cdb10, clearUa, good, serve, session, until } from '../helpers/scst-user-harness.ts';

const release = (tag: string) => {
  const r = KNOWN_SCST_RELEASES.find((x) => x.tag === tag)!;
  return devUserVersion(r.versionName, r.devUserIntfVer, r.constIntfVer);
};

test('version string: option, then installed headers, then the running SCST, then every known release', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    assert.deepEqual(await chooseVersion({ override: 'X' }), { candidates: ['X'], origin: 'the --scst-version option' });
    const inc = join(dir, 'include');
    await mkdir(inc);
    await writeFile(join(inc, 'scst_const.h'), '#define SCST_VERSION_NAME\t"3.10.0"\n');
    await writeFile(join(inc, 'scst_itf_ver.h'), `#define SCST_CONST_INTF_VER "${'85aa8654196eb07e34d2b0762f5607fb4b70af8b'}"\n#define DEV_USER_INTF_VER "${SCST_ABI_DEV_USER_INTF_VER}"\n`);
    const h = await chooseVersion({ includeDirs: ['/nonexistent', inc], sysfsRoot: '/nonexistent' });
    assert.deepEqual(h, { candidates: [release('v3.10')], origin: inc });
    // headers of a different scst_user.h: refused, the layouts may differ
    await writeFile(join(inc, 'scst_itf_ver.h'), `#define SCST_CONST_INTF_VER "${'1'.repeat(40)}"\n#define DEV_USER_INTF_VER "${'2'.repeat(40)}"\n`);
    await assert.rejects(chooseVersion({ includeDirs: [inc] }), /scst_user\.h of this SCST .* is not the one fileio_tgt's ABI follows/);
    // sysfs: the running SCST's version name picks the release first
    const sys = join(dir, 'sys');
    await mkdir(sys);
    await writeFile(join(sys, 'version'), 'SCST version: 3.9.0\nSCST build date: x\n');
    const v = await chooseVersion({ includeDirs: [], sysfsRoot: sys });
    assert.equal(v.candidates[0], release('v3.9'));
    assert.equal(v.candidates.length, KNOWN_SCST_RELEASES.length);
    const none = await chooseVersion({ includeDirs: [], sysfsRoot: '/nonexistent' });
    assert.deepEqual(none.candidates, [...KNOWN_SCST_RELEASES].reverse().map((r) => release(r.tag)));
  } finally {
    await cleanup();
  }
});

test('the link tries the known versions until the kernel accepts one; an unknown one fails clearly', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = await tempImage(dir, 1 << 20);
    const srv = await serve([await openDisk(diskConfig({ file }))], { model: { version: release('v3.9') } });
    try {
      assert.equal(srv.link.server('disk1')!.version, release('v3.9'));
      assert.equal(srv.model.kernelLog.filter((l) => l.startsWith('Incorrect version of user device disk1')).length, 2, 'master and 3.10 refused first');
    } finally {
      await srv.close();
    }
    await assert.rejects(
      serve([await openDisk(diskConfig({ file }))], { model: { version: '3.12.0' + 'a'.repeat(80) } }),
      /refused device "disk1": module\/ABI version mismatch \(EINVAL\): we presented the versions of SCST 3\.11\.0-pre, 3\.10\.0, 3\.9\.0, 3\.8\.0 .*the scst_user module expects "3\.12\.0a{80}" \(SCST 3\.12\.0\)/,
    );
  } finally {
    await cleanup();
  }
});

test('a device name another process still has is refused with ENOMEM, as SCST does, and a clear message', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = await tempImage(dir, 1 << 20);
    const first = await serve([await openDisk(diskConfig({ file }))]);
    try {
      const second = await openDisk(diskConfig({ file }));
      const { ScstUserLink } = await import('../../src/links/scst_user/index.ts');
      const link = new ScstUserLink({
        targets: [{ iqn: 'x', luns: new Map([[0, second]]) }],
        portal: { host: '127.0.0.1', port: 3260 },
        log: () => undefined,
        openPort: first.model.open,
        includeDirs: [],
        sysfsRoot: '/nonexistent',
      });
      await assert.rejects(link.start(), /SCST refused disk1: the name is registered by another process \(ENOMEM\)/);
      await second.close();
    } finally {
      await first.close();
    }
  } finally {
    await cleanup();
  }
});

test('without /var/lib/scst/pr SCST refuses every device with ENOENT: the error names the directory and the fix', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const lu = await openDisk(diskConfig({ file: await tempImage(dir, 1 << 20) }));
    try {
      await assert.rejects(
        serve([lu], { model: { prDirectory: false } }),
        /SCST refused disk1 \(ENOENT\): \/var\/lib\/scst\/pr does not exist; .*mkdir -p \/var\/lib\/scst\/pr$/,
      );
    } finally {
      await lu.close();
    }
  } finally {
    await cleanup();
  }
});

test('the fd fails: the link registers again, puts the LUN mapping back and serves; rel_tgt_id from sysfs', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = await tempImage(dir, 1 << 20);
    // A fake /sys/kernel/scst_tgt: disk1 exported as LUN 3 of an iSCSI target (read-only), rel_tgt_id 7.
    const sys = join(dir, 'scst_tgt');
    const tgt = join(sys, 'targets', 'iscsi', 'iqn.2026-11.test:t');
    await mkdir(join(tgt, 'luns', '3'), { recursive: true });
    await writeFile(join(tgt, 'luns', 'mgmt'), '');
    await writeFile(join(tgt, 'luns', '3', 'read_only'), '1\n');
    await writeFile(join(tgt, 'rel_tgt_id'), '7\n');
    await mkdir(join(sys, 'devices', 'disk1', 'exported'), { recursive: true });
    await symlink('../../../targets/iscsi/iqn.2026-11.test:t/luns/3', join(sys, 'devices', 'disk1', 'exported', 'export0'));
    const srv = await serve([await openDisk(diskConfig({ file }))], { link: { sysfsRoot: sys, restart: { attempts: 3, delayMs: 10 } } });
    try {
      let dev = srv.model.device('disk1');
      const s = await session(dev);
      await clearUa(dev, s);
      const vpd83 = good(await dev.submit(s, { cdb: [0x12, 1, 0x83, 0, 255, 0] }));
      assert.ok(hasRelativePort(vpd83, 7), 'VPD 83h carries the relative target port from sysfs');
      good(await dev.submit(s, { cdb: cdb10(0x2a, 0, 1), dataOut: Buffer.alloc(512, 9) }));
      const server = srv.link.server('disk1')!;
      srv.model.fileOf('disk1').break(19); // ENODEV
      await until(() => server.describe().restarts === 1, 're-registration');
      assert.equal(server.state, 'serving');
      assert.equal(srv.model.files.filter((f) => f.closed).length, 1, 'the broken fd was closed');
      await until(async () => (await readFile(join(tgt, 'luns', 'mgmt'), 'utf8')) !== '', 'mapping restored');
      assert.equal(await readFile(join(tgt, 'luns', 'mgmt'), 'utf8'), 'add disk1 3 read_only=1\n');
      assert.equal(s.state, 'gone', 'the old session went with the old registration');
      dev = srv.model.device('disk1');
      const s2 = await session(dev);
      await clearUa(dev, s2);
      assert.ok(good(await dev.submit(s2, { cdb: cdb10(0x28, 0, 1) })).equals(Buffer.alloc(512, 9)));
      assert.ok(srv.logs.some((l) => l.includes('re-registering')));
    } finally {
      await srv.close();
    }
  } finally {
    await cleanup();
  }
});

/** A relative target port designator (association 1, type 4) with this id in VPD 83h. */
function hasRelativePort(vpd: Buffer, id: number): boolean {
  for (let off = 4; off + 4 <= vpd.length; ) {
    const len = vpd[off + 3]!;
    if ((vpd[off + 1]! & 0x3f) === 0x14 && len === 4 && vpd.readUInt16BE(off + 6) === id) return true;
    off += 4 + len;
  }
  return false;
}
