// Access control against real libiscsi initiators: CHAP (one-way and mutual, right and wrong
// secrets, wrong user, none), per-initiator LUN maps and discovery, a read-only mapping, the
// slow-down after failed logins, status per session, --list-acls, and the network-portal rule.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runCli, startTarget, type RunningTarget } from '../helpers/target-process.ts';
import { RawSession } from '../helpers/iscsi-raw.ts';

const MiB = 1 << 20;
const STORE = 'iqn.2026-12.org.example:store';
const OTHER = 'iqn.2026-12.org.example:other';
const WEB1 = 'iqn.1993-08.org.debian:01:web1';
const RAW = 'iqn.2026-01.org.fileio-tgt:iscsi-raw'; // the name tools/iscsi-raw logs in with
const STRANGER = 'iqn.1993-08.org.debian:01:stranger';
const SECRETS = ['sixteen-byte-sec', 'another-16-bytes', 'target-secret-16'];

describe('a target with CHAP and two ACL entries, and a second target for one of them', () => {
  let dir: string;
  let target: RunningTarget;
  let portal: string; // host:port
  const withEnv = async <T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> => {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      return await fn();
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  const inq = (initiator: string, cred: string, iqn = STORE, lun = 0) => run('iscsi-inq', ['-i', initiator, `iscsi://${cred}${portal}/${iqn}/${lun}`], 30_000);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-acl-'));
    await writeFile(join(dir, 'os.img'), Buffer.alloc(4 * MiB, 0x11));
    await writeFile(join(dir, 'archive.img'), Buffer.alloc(4 * MiB, 0x22));
    await writeFile(join(dir, 'other.img'), Buffer.alloc(4 * MiB, 0x33));
    await writeFile(
      join(dir, 'cfg.json'),
      JSON.stringify({
        devices: [
          { name: 'os', file: join(dir, 'os.img') },
          { name: 'archive', file: join(dir, 'archive.img') },
          { name: 'other', file: join(dir, 'other.img') },
        ],
        targets: [
          {
            iqn: STORE,
            chap: { user: 'store', secret: 'sixteen-byte-sec' },
            acls: [
              { initiator: WEB1, luns: [{ lun: 0, device: 'os' }] },
              {
                initiator: RAW,
                luns: [
                  { lun: 0, device: 'archive', readOnly: true },
                  { lun: 1, device: 'os' },
                ],
                chap: { user: 'backup', secret: 'another-16-bytes', mutual: { user: 'store', secret: 'target-secret-16' } },
              },
            ],
          },
          { iqn: OTHER, luns: [{ lun: 0, device: 'other' }], acls: [{ initiator: WEB1 }] },
        ],
      }),
    );
    // four serving lines: web1's LUN 0, the raw initiator's LUNs 0 and 1, other's LUN 0
    target = await startTarget(['--config', join(dir, 'cfg.json'), '--threads', '1', '--control', join(dir, 'ctl.sock')], 4);
    portal = new URL(target.served[0]!.url).host;
  });
  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('the served lines name the ACL entry of each LUN map', () => {
    assert.deepEqual(
      target.served.map((s) => `${s.target}/${s.lun}=${s.device}${s.acl ? ` for ${s.acl}` : ''}`),
      [`${STORE}/0=os for ${WEB1}`, `${STORE}/0=archive for ${RAW}`, `${STORE}/1=os for ${RAW}`, `${OTHER}/0=other`],
    );
  });

  test('discovery lists only the targets each initiator may log in to', async () => {
    const list = async (initiator: string) => {
      const r = await run('iscsi-ls', ['-i', initiator, `iscsi://${portal}`], 30_000);
      assert.equal(r.code, 0, r.stderr);
      return [...r.stdout.matchAll(/Target:(\S+)/g)].map((m) => m[1]).sort();
    };
    assert.deepEqual(await list(WEB1), [OTHER, STORE]);
    assert.deepEqual(await list(RAW), [STORE]);
    assert.deepEqual(await list(STRANGER), []);
  });

  test('one-way CHAP: the right secret logs in; a wrong secret, a wrong user or no CHAP does not (02/01)', async () => {
    const ok = await inq(WEB1, 'store%sixteen-byte-sec@');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Peripheral Device Type/i);
    for (const cred of ['store%sixteen-byte-seX@', 'stor%sixteen-byte-sec@', '']) {
      const r = await inq(WEB1, cred);
      assert.notEqual(r.code, 0, `logged in with "${cred}"`);
    }
    const log = target.stderr();
    assert.match(log, new RegExp(`login failed \\(0x0201\\) for ${WEB1}: authentication \\(CHAP\\) failed: wrong CHAP response`));
    assert.match(log, new RegExp(`login failed \\(0x0201\\) for ${WEB1}: authentication \\(CHAP\\) failed: CHAP_N is not the configured user`));
    // libiscsi without credentials goes straight to the operational stage
    assert.match(log, new RegExp(`login failed \\(0x0201\\) for ${WEB1}: operational stage before authentication completed`));
    for (const s of SECRETS) assert.ok(!log.includes(s), 'a secret in the log');
  });

  test('after repeated failures the initiator name is refused for a while, others are not; then it may log in again', async () => {
    // the previous test left three failures for web1: the third started a 1 s wait
    const slowed = await inq(WEB1, 'store%sixteen-byte-sec@');
    assert.notEqual(slowed.code, 0, 'refused while slowed down, even with the right secret');
    assert.match(target.stderr(), new RegExp(`for ${WEB1}: 3 failed authentications from ${WEB1}: refused for another 1 s`));
    const other = await withEnv({ LIBISCSI_CHAP_TARGET_USERNAME: 'store', LIBISCSI_CHAP_TARGET_PASSWORD: 'target-secret-16' }, () => inq(RAW, 'backup%another-16-bytes@'));
    assert.equal(other.code, 0, `another initiator is not slowed down: ${other.stderr}`);
    await new Promise((r) => setTimeout(r, 1100));
    const again = await inq(WEB1, 'store%sixteen-byte-sec@');
    assert.equal(again.code, 0, again.stderr);
  });

  test('mutual CHAP: the target proves itself; a wrong target secret makes the initiator give up', async () => {
    const good = await withEnv({ LIBISCSI_CHAP_TARGET_USERNAME: 'store', LIBISCSI_CHAP_TARGET_PASSWORD: 'target-secret-16' }, () => inq(RAW, 'backup%another-16-bytes@'));
    assert.equal(good.code, 0, good.stderr);
    const bad = await withEnv({ LIBISCSI_CHAP_TARGET_USERNAME: 'store', LIBISCSI_CHAP_TARGET_PASSWORD: 'not-the-target-secret' }, () => inq(RAW, 'backup%another-16-bytes@'));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr + bad.stdout, /CHAP_R|authentic/i);
    // the target-level secret is not this initiator's (its ACL entry overrides it)
    const targetLevel = await inq(RAW, 'store%sixteen-byte-sec@');
    assert.notEqual(targetLevel.code, 0);
  });

  test('a target outside the initiator\'s ACLs refuses the login with 02/02', async () => {
    const r = await inq(RAW, 'backup%another-16-bytes@', OTHER);
    assert.notEqual(r.code, 0);
    assert.match(target.stderr(), new RegExp(`login failed \\(0x0202\\) for ${RAW}: initiator ${RAW} is in no ACL of this target`));
    const stranger = await inq(STRANGER, 'store%sixteen-byte-sec@');
    assert.notEqual(stranger.code, 0);
    assert.match(target.stderr(), new RegExp(`login failed \\(0x0202\\) for ${STRANGER}`));
  });

  test('each initiator sees its own LUN map (iscsi-ls -s: REPORT LUNS)', async () => {
    const luns = async (initiator: string, cred: string) => {
      const r = await run('iscsi-ls', ['-s', '-i', initiator, `iscsi://${cred}${portal}`], 30_000);
      const mine = r.stdout.split(/Target:/).find((b) => b.startsWith(STORE)) ?? '';
      return [...mine.matchAll(/Lun:(\d+)/g)].map((m) => Number(m[1]));
    };
    assert.deepEqual(await luns(WEB1, 'store%sixteen-byte-sec@'), [0]);
    // one-way CHAP is enough for an entry with mutual credentials (the initiator decides whether
    // the target must prove itself; iscsi-ls would ask the open discovery session for it too)
    assert.deepEqual(await luns(RAW, 'backup%another-16-bytes@'), [0, 1]);
  });

  test('a read-only mapping: WRITE fails with 07/27/00 and MODE SENSE shows WP; the writable LUN takes writes', async () => {
    await withEnv({ LIBISCSI_CHAP_TARGET_USERNAME: 'store', LIBISCSI_CHAP_TARGET_PASSWORD: 'target-secret-16' }, async () => {
      const ro = new RawSession(`iscsi://backup%another-16-bytes@${portal}/${STORE}/0`);
      const rw = new RawSession(`iscsi://backup%another-16-bytes@${portal}/${STORE}/1`);
      try {
        await ro.ready();
        await rw.ready();
        const block = Buffer.alloc(512, 0xee);
        const write10 = [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        const refused = await ro.send(write10, { out: block });
        assert.equal(refused.status, 2, refused.line);
        assert.equal(refused.sense, '7/27/00');
        for (const cdb of [
          [0x41, 0, 0, 0, 0, 0, 0, 0, 1, 0], // WRITE SAME(10)
          [0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], // WRITE(16)
          [0x2e, 0, 0, 0, 0, 0, 0, 0, 1, 0], // WRITE AND VERIFY(10)
        ]) {
          const r = await ro.send(cdb, { out: block });
          assert.equal(r.sense, '7/27/00', `${cdb[0]!.toString(16)}: ${r.line}`);
        }
        const mode = await ro.send([0x1a, 0, 0x3f, 0, 255, 0], { in: 255 });
        assert.equal(mode.status, 0);
        assert.equal(mode.data[2]! & 0x80, 0x80, 'WP set in MODE SENSE for the read-only mapping');
        const read = await ro.send([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0], { in: 512 });
        assert.deepEqual(read.data, Buffer.alloc(512, 0x22), 'reads work');
        const ok = await rw.send(write10, { out: block });
        assert.equal(ok.status, 0, ok.line);
        const rwMode = await rw.send([0x1a, 0, 0x3f, 0, 255, 0], { in: 255 });
        assert.equal(rwMode.data[2]! & 0x80, 0, 'no WP on the writable mapping');
      } finally {
        ro.close();
        rw.close();
      }
    });
  });

  test('status names, per session, the initiator, the ACL entry and the auth method', async () => {
    await withEnv({ LIBISCSI_CHAP_TARGET_USERNAME: 'store', LIBISCSI_CHAP_TARGET_PASSWORD: 'target-secret-16' }, async () => {
      const s = new RawSession(`iscsi://backup%another-16-bytes@${portal}/${STORE}/1`);
      try {
        await s.ready();
        const r = await runCli(['status', '--json', '--control', join(dir, 'ctl.sock')]);
        assert.equal(r.code, 0, r.stderr);
        const st = JSON.parse(r.stdout) as { link: { perSession: Array<{ initiator: string; target: string; acl: string; auth: string }> } };
        const mine = st.link.perSession.find((p) => p.initiator === RAW && p.target === STORE);
        assert.ok(mine, r.stdout);
        assert.equal(mine.acl, RAW);
        assert.equal(mine.auth, 'CHAP (MD5, mutual)');
        for (const x of SECRETS) assert.ok(!r.stdout.includes(x));
      } finally {
        s.close();
      }
    });
  });
});

describe('start-up rules', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-acl-start-'));
    await writeFile(join(dir, 'd.img'), Buffer.alloc(MiB));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test('a network portal with a target open to anyone without CHAP refuses to start, in one line', async () => {
    const r = await runCli(['--portal', '0.0.0.0:0', 'd1', join(dir, 'd.img')]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /0\.0\.0\.0 is reachable from the network and target iqn\.2026-11\.org\.fileio-tgt:d1 would accept any initiator without CHAP: .*--allow-any-initiator/);
  });

  test('--list-acls prints each initiator\'s LUN map without starting, and no secret', async () => {
    await writeFile(
      join(dir, 'cfg.json'),
      JSON.stringify({
        portal: '0.0.0.0:3260',
        devices: [{ name: 'os', file: join(dir, 'd.img') }],
        targets: [{ iqn: STORE, chap: { user: 'store', secret: 'sixteen-byte-sec' }, acls: [{ initiator: WEB1, luns: [{ lun: 3, device: 'os', readOnly: true }] }] }],
      }),
    );
    const r = await runCli(['--config', join(dir, 'cfg.json'), '--list-acls']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `discovery: no CHAP\n${STORE}: 1 ACL entry, CHAP user store\n  ${WEB1} -> 3=os(ro); target CHAP\n`);
  });

  test('a kernel link refuses a config whose ACLs it would not enforce', async () => {
    const r = await runCli(['--config', join(dir, 'cfg.json'), '--link', 'scst_user', '--portal', '127.0.0.1:0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /have "acls" or "chap", but with --link scst_user SCST's target driver decides who logs in/);
  });
});

describe('SIGHUP reloads ACLs and CHAP: new rules for new logins, sessions they no longer admit are closed', () => {
  let dir: string;
  let target: RunningTarget;
  let portal: string;
  const cfgFile = () => join(dir, 'cfg.json');
  const writeCfg = (acls: unknown[], devices?: unknown[]) =>
    writeFile(
      cfgFile(),
      JSON.stringify({
        devices: devices ?? [{ name: 'os', file: join(dir, 'os.img') }],
        targets: [{ iqn: STORE, chap: { user: 'store', secret: 'sixteen-byte-sec' }, acls }],
      }),
    );
  const both = [
    { initiator: WEB1, luns: [{ lun: 0, device: 'os' }] },
    { initiator: RAW, luns: [{ lun: 0, device: 'os' }] },
  ];
  const inq = (initiator: string) => run('iscsi-inq', ['-i', initiator, `iscsi://store%sixteen-byte-sec@${portal}/${STORE}/0`], 30_000);
  const sessions = async () => {
    const r = await runCli(['status', '--json', '--control', join(dir, 'ctl.sock')]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { link: { perSession: Array<{ initiator: string; type: string }> } }).link.perSession.filter((p) => p.type === 'Normal').map((p) => p.initiator);
  };
  const waitLog = async (re: RegExp) => {
    for (let i = 0; i < 100 && !re.test(target.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(target.stderr(), re);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-acl-reload-'));
    await writeFile(join(dir, 'os.img'), Buffer.alloc(4 * MiB));
    await writeCfg(both);
    target = await startTarget(['--config', cfgFile(), '--threads', '1', '--control', join(dir, 'ctl.sock')], 2);
    portal = new URL(target.served[0]!.url).host;
  });
  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('removing an initiator closes its session and refuses its next login; the other keeps its session', async () => {
    const raw = new RawSession(`iscsi://store%sixteen-byte-sec@${portal}/${STORE}/0`);
    try {
      await raw.ready();
      assert.deepEqual(await sessions(), [RAW]);
      await writeCfg([both[0]]);
      target.proc.kill('SIGHUP');
      await waitLog(new RegExp(`closing session \\d+ of ${RAW} to ${STORE}: its access to the target was removed`));
      for (let i = 0; i < 50 && (await sessions()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await sessions(), []);
      assert.notEqual((await inq(RAW)).code, 0, 'refused after the reload');
      await waitLog(new RegExp(`login failed \\(0x0202\\) for ${RAW}`));
      assert.equal((await inq(WEB1)).code, 0);
    } finally {
      raw.close();
    }
  });

  test('a reload that changes devices is refused and the rules in force stay', async () => {
    await writeCfg(both, [{ name: 'os', file: join(dir, 'os.img'), blockSize: 4096 }]);
    target.proc.kill('SIGHUP');
    await waitLog(/SIGHUP: the devices changed: restart to serve other devices; the access control in force stays/);
    assert.notEqual((await inq(RAW)).code, 0, 'RAW is still out');
    await writeCfg(both);
    target.proc.kill('SIGHUP');
    // the reload is asynchronous (the "reloaded" line goes to stdout): RAW gets in once it is applied
    let code = -1;
    for (let i = 0; i < 20 && code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      code = (await inq(RAW)).code;
    }
    assert.equal(code, 0, 'RAW is back in');
  });
});

describe('ACLs with targets on two threads', () => {
  let dir: string;
  let target: RunningTarget;
  let portal: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-acl-threads-'));
    await writeFile(join(dir, 'a.img'), Buffer.alloc(MiB));
    await writeFile(join(dir, 'b.img'), Buffer.alloc(MiB));
    await writeFile(
      join(dir, 'cfg.json'),
      JSON.stringify({
        devices: [
          { name: 'a', file: join(dir, 'a.img') },
          { name: 'b', file: join(dir, 'b.img') },
        ],
        targets: [
          { iqn: STORE, luns: [{ lun: 0, device: 'a' }], chap: { user: 'store', secret: 'sixteen-byte-sec' }, acls: [{ initiator: WEB1 }] },
          { iqn: OTHER, luns: [{ lun: 0, device: 'b' }], acls: [{ initiator: RAW }] },
        ],
      }),
    );
    target = await startTarget(['--config', join(dir, 'cfg.json'), '--threads', '2'], 2);
    portal = new URL(target.served[0]!.url).host;
  });
  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('discovery on the listening thread filters the other thread\'s targets too; logins are checked where they are served', async () => {
    const list = async (initiator: string) => [...(await run('iscsi-ls', ['-i', initiator, `iscsi://${portal}`], 30_000)).stdout.matchAll(/Target:(\S+)/g)].map((m) => m[1]);
    assert.deepEqual(await list(WEB1), [STORE]);
    assert.deepEqual(await list(RAW), [OTHER]);
    const inq = (initiator: string, cred: string, iqn: string) => run('iscsi-inq', ['-i', initiator, `iscsi://${cred}${portal}/${iqn}/0`], 30_000);
    assert.equal((await inq(WEB1, 'store%sixteen-byte-sec@', STORE)).code, 0);
    assert.notEqual((await inq(WEB1, '', STORE)).code, 0, 'CHAP required');
    assert.notEqual((await inq(RAW, 'store%sixteen-byte-sec@', STORE)).code, 0, 'not in the ACL');
    assert.equal((await inq(RAW, '', OTHER)).code, 0);
    assert.notEqual((await inq(WEB1, 'store%sixteen-byte-sec@', OTHER)).code, 0, 'not in the ACL');
  });
});

describe('discovery CHAP', () => {
  let dir: string;
  let target: RunningTarget;
  let portal: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-acl-disc-'));
    await writeFile(join(dir, 'a.img'), Buffer.alloc(MiB));
    await writeFile(join(dir, 'disc.secret'), 'discovery-secret-1\n', { mode: 0o600 });
    await writeFile(
      join(dir, 'cfg.json'),
      JSON.stringify({
        discovery: { chap: { user: 'disc', secretFile: 'disc.secret' } },
        devices: [{ name: 'a', file: join(dir, 'a.img') }],
        targets: [{ iqn: STORE, luns: [{ lun: 0, device: 'a' }], acls: 'any', chap: { user: 'disc', secret: 'discovery-secret-1' } }],
      }),
    );
    target = await startTarget(['--config', join(dir, 'cfg.json')], 1);
    portal = new URL(target.served[0]!.url).host;
  });
  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('SendTargets needs the discovery secret (read from a mode-600 file)', async () => {
    const ls = (cred: string) => run('iscsi-ls', ['-i', WEB1, `iscsi://${cred}${portal}`], 30_000);
    const ok = await ls('disc%discovery-secret-1@');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`Target:${STORE.replaceAll('.', '\\.')}`));
    for (const cred of ['', 'disc%discovery-secret-X@']) {
      const r = await ls(cred);
      assert.notEqual(r.code, 0, `listed with "${cred}"`);
      assert.doesNotMatch(r.stdout, /Target:/);
    }
    assert.match(target.stderr(), new RegExp(`login failed \\(0x0201\\) for ${WEB1}`));
  });
});
