// The access-control config: ACL entries and their LUN maps, CHAP (inline and from a file with
// ssh-like permission checks), which entry an initiator gets, the network-portal rule and the
// --list-acls view. Every mistake names the file and the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { completeTargets, parseConfigFile } from '../../src/host/config.ts';
import { ConfigError } from '../../src/host/errors.ts';
import { accessProblem, describeAccess, exposureProblem, isLoopback, matchAcl, patternMatches, targetDevices, type AclEntry } from '../../src/host/acl.ts';
import { planThreads } from '../../src/host/threads/plan.ts';

const TYPES = ['disk', 'nullio'];
const devices = [
  { name: 'os', file: '/images/os.img' },
  { name: 'archive', file: '/images/archive.img' },
];
const EXAMPLE = {
  portal: '0.0.0.0:3260',
  devices,
  targets: [
    {
      iqn: 'iqn.2026-12.org.example:store',
      chap: { user: 'store', secret: 'sixteen-byte-sec' },
      acls: [
        { initiator: 'iqn.1993-08.org.debian:01:web1', luns: [{ lun: 0, device: 'os' }] },
        {
          initiator: 'iqn.1993-08.org.debian:01:backup',
          luns: [
            { lun: 0, device: 'archive', readOnly: true },
            { lun: 1, device: 'os' },
          ],
          chap: { user: 'backup', secret: 'another-16-bytes', mutual: { user: 'store', secret: 'target-secret-16' } },
        },
      ],
    },
  ],
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a ConfigError');
}
const parse = (doc: unknown, where = 'c.json') => parseConfigFile(JSON.stringify(doc), where, TYPES);

test('the example config of the README parses: per-initiator LUN maps, read-only mapping, CHAP overrides', () => {
  const cfg = parse(EXAMPLE);
  const t = cfg.targets[0]!;
  assert.deepEqual(t.luns, []);
  assert.ok(Array.isArray(t.acls));
  const [web1, backup] = t.acls as AclEntry[];
  assert.deepEqual(web1!.luns, [{ lun: 0, device: 'os' }]);
  assert.deepEqual(backup!.luns, [{ lun: 0, device: 'archive', readOnly: true }, { lun: 1, device: 'os' }]);
  assert.deepEqual(backup!.chap, { user: 'backup', secret: 'another-16-bytes', mutual: { user: 'store', secret: 'target-secret-16' } });
  assert.deepEqual(targetDevices(t).sort(), ['archive', 'os']);
  // devices mapped only through ACLs get no default (open) target of their own
  assert.equal(completeTargets(cfg.devices, cfg.targets, 'iqn.2026-11.x', 'c.json').length, 1);
});

test('config mistakes name the file and the field', () => {
  const target = (t: Record<string, unknown>) => ({ devices, targets: [{ iqn: 'iqn.2026-12.org.example:store', luns: [{ lun: 0, device: 'os' }], ...t }] });
  const cases: Array<[unknown, RegExp]> = [
    [target({ acls: 'all' }), /^c\.json: targets\[0\]\.acls: must be "any" or a non-empty array/],
    [target({ acls: [] }), /targets\[0\]\.acls: must be "any"/],
    [target({ acls: [{ initiator: 'web1' }] }), /targets\[0\]\.acls\[0\]\.initiator: "web1" is not an iSCSI name/],
    [target({ acls: [{ initiator: 'iqn.1993-08.org.debian:01:a' }, { initiator: 'IQN.1993-08.org.debian:01:A' }] }), /acls\[1\]\.initiator: .* has two ACL entries/],
    [target({ acls: [{ initiator: 'iqn.1993-08.org.debian:01:a', luns: [{ lun: 0, device: 'nope' }] }] }), /acls\[0\]\.luns\[0\]\.device: names no device/],
    [target({ acls: [{ initiator: 'iqn.1993-08.org.debian:01:a', luns: [{ lun: 0, device: 'os', readOnly: 'yes' }] }] }), /acls\[0\]\.luns\[0\]\.readOnly: must be true or false/],
    [target({ acls: [{ initiator: 'iqn.1993-08.org.debian:01:a', lun: 0 }] }), /acls\[0\]\.lun: unknown field/],
    [target({ chap: { user: 'u', secret: 'short' } }), /targets\[0\]\.chap\.secret: a CHAP secret needs at least 12 bytes \(this one has 5\)/],
    [target({ chap: { user: 'u' } }), /targets\[0\]\.chap: needs exactly one of "secret" and "secretFile"/],
    [target({ chap: { user: 'u', secret: 'sixteen-byte-sec', secretFile: 'x' } }), /needs exactly one/],
    [target({ chap: { user: 'has space', secret: 'sixteen-byte-sec' } }), /chap\.user: must be 1-255 printable/],
    [target({ chap: { user: 'u', secret: 'sixteen-byte-sec', mutual: { user: 't', secret: 'sixteen-byte-sec' } } }), /chap\.mutual\.secret: must differ from the initiator's secret/],
    [target({ chap: { user: 'u', secret: 'sixteen-byte-sec', mutual: { user: 't', secret: 'short' } } }), /chap\.mutual\.secret: a CHAP secret needs at least 12/],
    [target({ chap: { user: 'u', secret: 'sixteen-byte-sec', algorithms: ['MD4'] } }), /chap\.algorithms: must be a non-empty list of MD5, SHA1, SHA-256, SHA3-256/],
    [target({ acls: [{ initiator: 'iqn.1993-08.org.debian:01:a', chap: { user: 'u', secret: 'x' } }] }), /acls\[0\]\.chap\.secret: a CHAP secret needs at least 12/],
    [{ devices, targets: [{ iqn: 'iqn.2026-12.org.example:s', acls: [{ initiator: 'iqn.1993-08.org.debian:01:a' }] }] }, /targets\[0\]\.luns: must be a non-empty array/],
    [{ devices, discovery: { chap: { user: 'd', secret: 'tiny' } } }, /discovery\.chap\.secret: a CHAP secret needs at least 12/],
    [{ devices, discovery: { acls: 'any' } }, /discovery\.acls: unknown field/],
  ];
  for (const [doc, re] of cases) assert.match(configError(() => parse(doc)).message, re);
});

test('secretFile: relative to the config, mode 600 only, one trailing newline dropped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'acl-'));
  try {
    const file = join(dir, 'store.secret');
    writeFileSync(file, 'file-secret-0123\n');
    chmodSync(file, 0o600);
    const doc = { devices, targets: [{ iqn: 'iqn.2026-12.org.example:s', luns: [{ lun: 0, device: 'os' }], chap: { user: 'u', secretFile: 'store.secret' } }] };
    const where = join(dir, 'c.json');
    assert.equal(parse(doc, where).targets[0]!.chap!.secret, 'file-secret-0123');
    for (const mode of [0o640, 0o604, 0o644]) {
      chmodSync(file, mode);
      assert.match(configError(() => parse(doc, where)).message, new RegExp(`chap\\.secretFile: .*store\\.secret is accessible by group or others \\(mode ${mode.toString(8)}\\): chmod 600`));
    }
    chmodSync(file, 0o600);
    writeFileSync(file, 'short\n');
    assert.match(configError(() => parse(doc, where)).message, /chap\.secretFile: a CHAP secret needs at least 12 bytes/);
    const missing = { ...doc, targets: [{ ...doc.targets[0], chap: { user: 'u', secretFile: 'nope' } }] };
    assert.match(configError(() => parse(missing, where)).message, /chap\.secretFile: cannot read .*nope: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('matching: exact name first, then the most specific pattern; case-insensitive', () => {
  const acls: AclEntry[] = [
    { initiator: '*' },
    { initiator: 'iqn.1993-08.org.debian:*' },
    { initiator: 'iqn.1993-08.org.debian:01:*web*' },
    { initiator: 'iqn.1993-08.org.debian:01:web1' },
  ];
  assert.equal(matchAcl(acls, 'IQN.1993-08.org.debian:01:WEB1')!.initiator, 'iqn.1993-08.org.debian:01:web1');
  assert.equal(matchAcl(acls, 'iqn.1993-08.org.debian:01:myweb2')!.initiator, 'iqn.1993-08.org.debian:01:*web*');
  assert.equal(matchAcl(acls, 'iqn.1993-08.org.debian:01:db')!.initiator, 'iqn.1993-08.org.debian:*');
  assert.equal(matchAcl(acls, 'iqn.2000-01.com.other:x')!.initiator, '*');
  assert.equal(matchAcl(acls.slice(1), 'iqn.2000-01.com.other:x'), undefined);
  assert.equal(patternMatches('iqn.a*b*c', 'iqn.abc'), true);
  assert.equal(patternMatches('iqn.a*bc*c', 'iqn.abc'), false, 'pieces may not overlap');
  assert.equal(patternMatches('iqn.a*', 'iqn.b'), false);
});

test('a network portal refuses open targets without CHAP, in one line that says how to allow it', () => {
  assert.equal(isLoopback('127.0.0.1'), true);
  assert.equal(isLoopback('127.1.2.3'), true);
  assert.equal(isLoopback('::1'), true);
  assert.equal(isLoopback('localhost'), true);
  assert.equal(isLoopback('0.0.0.0'), false);
  assert.equal(isLoopback('::'), false);
  assert.equal(isLoopback('192.168.1.5'), false);
  const open = { iqn: 'iqn.2026-12.x:open', luns: [{ lun: 0, device: 'os' }] };
  const any = { ...open, iqn: 'iqn.2026-12.x:any', acls: 'any' as const };
  const anyChap = { ...any, iqn: 'iqn.2026-12.x:anychap', chap: { user: 'u', secret: 'sixteen-byte-sec' } };
  const star = { ...open, iqn: 'iqn.2026-12.x:star', acls: [{ initiator: '*' }] };
  const named = { ...open, iqn: 'iqn.2026-12.x:named', acls: [{ initiator: 'iqn.1993-08.org.debian:01:a' }] };
  const msg = exposureProblem('0.0.0.0', [open, any, anyChap, star, named], false)!;
  assert.doesNotMatch(msg, /\n/);
  assert.match(msg, /targets iqn\.2026-12\.x:open, iqn\.2026-12\.x:any, iqn\.2026-12\.x:star would accept any initiator without CHAP: .*--allow-any-initiator/);
  assert.equal(exposureProblem('0.0.0.0', [anyChap, named], false), undefined);
  assert.equal(exposureProblem('0.0.0.0', [open], true), undefined, 'allowed on purpose');
  assert.equal(exposureProblem('127.0.0.1', [open, any], false), undefined, 'loopback stays as easy as before');
  // kernel links do not enforce ACLs: refusing beats serving them open
  assert.match(accessProblem({ portal: { host: '127.0.0.1' }, targets: [named] }, 'tcmu', 'local')!, /--link tcmu --export local serves no network/);
  // LIO's node ACLs: exact names, LUNs of the target, CHAP on or off per target, no discovery CHAP
  assert.equal(accessProblem({ portal: { host: '0.0.0.0' }, targets: [named, anyChap] }, 'tcmu', 'iscsi'), undefined);
  const lio = (t: object, extra: object = {}) => accessProblem({ portal: { host: '127.0.0.1' }, targets: [{ ...open, ...t }], ...extra }, 'tcmu', 'iscsi');
  assert.match(lio({ acls: [{ initiator: 'iqn.1993-08.org.debian:*' }] })!, /LIO's ACLs name exact initiators/);
  assert.match(lio({ acls: [{ initiator: 'iqn.1993-08.org.debian:01:a', luns: [{ lun: 0, device: 'other' }] }] })!, /may map only devices of the target's "luns" \(other/);
  assert.match(lio({ acls: [{ initiator: 'iqn.1993-08.org.debian:01:a', chap: { user: 'u', secret: 'sixteen-byte-sec' } }, { initiator: 'iqn.1993-08.org.debian:01:b' }] })!, /CHAP is on or off per target/);
  assert.match(lio({ chap: { user: 'u', secret: 'sixteen-byte-sec', algorithms: ['SHA-256'] } })!, /drop "algorithms"/);
  assert.match(lio({ luns: [{ lun: 0, device: 'os', readOnly: true }] })!, /demo mode cannot write-protect one LUN/);
  assert.match(lio({ acls: 'any' }, { discoveryChap: { user: 'd', secret: 'sixteen-byte-sec' } })!, /machine-wide/);
  assert.match(accessProblem({ portal: { host: '127.0.0.1' }, targets: [named] }, 'scst_user', undefined)!, /ini_groups/);
  assert.match(accessProblem({ portal: { host: '0.0.0.0' }, targets: [open] }, 'tcmu', 'iscsi')!, /--allow-any-initiator/);
  assert.equal(accessProblem({ portal: { host: '0.0.0.0' }, targets: [open] }, 'tcmu', 'local'), undefined);
  assert.equal(accessProblem({ portal: { host: '0.0.0.0' }, targets: [named] }, 'iscsi', undefined), undefined);
});

test('--list-acls view: each initiator\'s LUN map and auth, never a secret', () => {
  const cfg = parse({ ...EXAMPLE, discovery: { chap: { user: 'disc', secret: 'discovery-secret' } } });
  const lines = describeAccess(cfg.targets, cfg.discoveryChap, '0.0.0.0');
  assert.deepEqual(lines, [
    'discovery: CHAP user disc',
    'iqn.2026-12.org.example:store: 2 ACL entries, CHAP user store',
    '  iqn.1993-08.org.debian:01:web1 -> 0=os; target CHAP',
    '  iqn.1993-08.org.debian:01:backup -> 0=archive(ro) 1=os; CHAP user backup, mutual as store',
  ]);
  assert.doesNotMatch(lines.join('\n'), /sixteen-byte-sec|another-16-bytes|target-secret-16|discovery-secret/);
});

test('threads: a target and the devices of its ACL maps stay together', () => {
  const cfg = parse({
    devices: [...devices, { name: 'other', file: '/images/other.img' }],
    targets: [
      { iqn: 'iqn.2026-12.x:a', acls: [{ initiator: 'iqn.1993-08.org.debian:01:a', luns: [{ lun: 0, device: 'os' }] }] },
      { iqn: 'iqn.2026-12.x:b', luns: [{ lun: 0, device: 'os' }] },
      { iqn: 'iqn.2026-12.x:c', luns: [{ lun: 0, device: 'other' }] },
    ],
  });
  const plan = planThreads({ portal: { host: '127.0.0.1', port: 0 }, iqnPrefix: 'iqn.2026-11.x', link: 'iscsi', devices: cfg.devices, targets: cfg.targets }, 2);
  const withA = plan.find((p) => p.targets.some((t) => t.iqn === 'iqn.2026-12.x:a'))!;
  assert.deepEqual(withA.targets.map((t) => t.iqn).sort(), ['iqn.2026-12.x:a', 'iqn.2026-12.x:b']);
  assert.deepEqual(withA.devices.map((d) => d.name), ['os']);
});
