import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completeTargets, deviceDefaults, parseConfigFile, parsePortal, parseSize } from '../../src/host/config.ts';
import { ConfigError } from '../../src/host/errors.ts';

const TYPES = ['disk', 'nullio'];

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a ConfigError');
}

test('portal: host:port, bare host, IPv6 in brackets, bad port', () => {
  assert.deepEqual(parsePortal('127.0.0.1:3261', 'f', 'portal'), { host: '127.0.0.1', port: 3261 });
  assert.deepEqual(parsePortal('localhost', 'f', 'portal'), { host: 'localhost', port: 3260 });
  assert.deepEqual(parsePortal('[::1]:0', 'f', 'portal'), { host: '::1', port: 0 });
  assert.match(configError(() => parsePortal('1.2.3.4:70000', 'f', 'portal')).message, /^f: portal: port 70000 is out of range/);
  assert.match(configError(() => parsePortal('a:b:c', 'f', 'portal')).message, /not HOST:PORT/);
});

test('sizes use binary multiples', () => {
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('10G'), 10 * 2 ** 30);
  assert.equal(parseSize('1TiB'), 2 ** 40);
  assert.equal(parseSize('disk.img'), undefined);
});

test('a full config file parses, and unmapped devices get their own target at LUN 0', () => {
  const cfg = parseConfigFile(
    JSON.stringify({
      portal: '127.0.0.1:3300',
      devices: [
        { name: 'a', file: '/x/a.img', blockSize: 4096, readOnly: true },
        { name: 'b', type: 'nullio', sizeBytes: 1048576 },
        { name: 'c_d', file: '/x/c.img' },
      ],
      targets: [{ iqn: 'iqn.2026-11.org.example:store', luns: [{ lun: 0, device: 'a' }, { lun: 5, device: 'b' }] }],
    }),
    'lib.json',
    TYPES,
  );
  assert.deepEqual(cfg.portal, { host: '127.0.0.1', port: 3300 });
  assert.equal(cfg.devices[0].blockSize, 4096);
  assert.equal(cfg.devices[0].readOnly, true);
  assert.equal(cfg.devices[1].type, 'nullio');
  assert.deepEqual(cfg.devices[2], { ...deviceDefaults('c_d', 'disk'), file: '/x/c.img' });
  const targets = completeTargets(cfg.devices, cfg.targets, 'iqn.2026-11.org.fileio-tgt', 'lib.json');
  assert.deepEqual(
    targets.map((t) => [t.iqn, t.luns]),
    [
      ['iqn.2026-11.org.example:store', [{ lun: 0, device: 'a' }, { lun: 5, device: 'b' }]],
      ['iqn.2026-11.org.fileio-tgt:c-d', [{ lun: 0, device: 'c_d' }]],
    ],
  );
});

test('config errors name the file and the field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ devices: [] }, /^c\.json: devices: must be a non-empty array$/],
    [{ devices: [{ name: 'a', file: 'x', blockSize: 1000 }] }, /^c\.json: devices\[0\]\.blockSize: block size 1000 must be a power of two/],
    [{ devices: [{ name: 'a', file: 'x', readonly: true }] }, /^c\.json: devices\[0\]\.readonly: unknown field/],
    [{ devices: [{ name: 'a', file: 7 }] }, /^c\.json: devices\[0\]\.file: must be a string, not number$/],
    [{ devices: [{ name: 'a' }] }, /^c\.json: devices\[0\]\.file: is required/],
    [{ devices: [{ name: 'a', file: 'x', type: 'tape9' }] }, /^c\.json: devices\[0\]\.type: unknown handler type "tape9"/],
    [{ devices: [{ name: 'a', file: 'x' }, { name: 'a', file: 'y' }] }, /^c\.json: devices\[1\]\.name: device name "a" is used twice$/],
    [{ devices: [{ name: 'a b', file: 'x' }] }, /^c\.json: devices\[0\]\.name: device name "a b" must be/],
    [{ devices: [{ name: 'a', file: 'x' }], targets: [{ iqn: 'IQN.bad', luns: [{ lun: 0, device: 'a' }] }] }, /^c\.json: targets\[0\]\.iqn: "IQN\.bad" is not an iSCSI name/],
    [{ devices: [{ name: 'a', file: 'x' }], targets: [{ iqn: 'iqn.2026-11.org.x:t', luns: [{ lun: 0, device: 'zz' }] }] }, /^c\.json: targets\[0\]\.luns\[0\]\.device: names no device/],
    [{ devices: [{ name: 'a', file: 'x' }], targets: [{ iqn: 'iqn.2026-11.org.x:t', luns: [{ lun: 16384, device: 'a' }] }] }, /^c\.json: targets\[0\]\.luns\[0\]\.lun: must be a whole number from 0 to 16383$/],
    [{ devices: [{ name: 'a', file: 'x' }], link: 'fc' }, /^c\.json: link: must be one of auto, iscsi, tcmu, scst_user$/],
    [{ devices: [{ name: 'a', file: 'x' }], extra: 1 }, /^c\.json: extra: unknown field/],
    [{ devices: [{ name: 'a', file: 'x', cacheSize: '12Q' }] }, /^c\.json: devices\[0\]\.cacheSize: "12Q" is not a size/],
    [{ devices: [{ name: 'a', file: 'x', cacheSize: 4096 }] }, /^c\.json: devices\[0\]\.cacheSize: a page cache of 4096 bytes is too small/],
    [{ devices: [{ name: 'a', file: 'x', cacheSize: 100000 }] }, /^c\.json: devices\[0\]\.cacheSize: 100000 bytes is not a whole number of 4096-byte pages/],
    [{ devices: [{ name: 'a', file: 'x', cacheSize: true }] }, /^c\.json: devices\[0\]\.cacheSize: must be a size \(bytes or "256M"\), not boolean$/],
  ];
  for (const [doc, re] of cases) assert.match(configError(() => parseConfigFile(JSON.stringify(doc), 'c.json', TYPES)).message, re);
  assert.match(configError(() => parseConfigFile('{"devices": [', 'c.json', TYPES)).message, /^c\.json: not valid JSON/);
});

test('cacheSize: bytes or a size string; 0 turns the cache off', () => {
  const cfg = parseConfigFile(
    JSON.stringify({ devices: [{ name: 'a', file: 'x', cacheSize: '64M' }, { name: 'b', file: 'y', cacheSize: 1048576 }, { name: 'c', file: 'z', cacheSize: 0 }, { name: 'd', file: 'w' }] }),
    'c.json',
    TYPES,
  );
  assert.deepEqual(
    cfg.devices.map((d) => d.cacheSize),
    [64 << 20, 1 << 20, 0, undefined],
  );
});
