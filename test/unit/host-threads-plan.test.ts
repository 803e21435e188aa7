// Which thread serves which targets: devices shared between targets, or named by another device
// (a changer's drives), keep targets together; groups are balanced by LUN count; order is kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planThreads } from '../../src/host/threads/plan.ts';
import type { ServeConfig } from '../../src/host/config.ts';
import { deviceDefaults } from '../../src/host/config.ts';

function cfg(targets: Array<[string, string[]]>, extra: ServeConfig['devices'] = []): ServeConfig {
  const names = [...new Set(targets.flatMap(([, d]) => d))];
  return {
    portal: { host: '127.0.0.1', port: 3260 },
    iqnPrefix: 'iqn.2026-11.t',
    link: 'auto',
    devices: [...names.map((n) => extra.find((e) => e.name === n) ?? { ...deviceDefaults(n, 'disk'), file: `/x/${n}` })],
    targets: targets.map(([iqn, devs]) => ({ iqn, luns: devs.map((device, lun) => ({ lun, device })) })),
  };
}
const shape = (plan: ServeConfig[]) => plan.map((p) => ({ targets: p.targets.map((t) => t.iqn), devices: p.devices.map((d) => d.name) }));

test('one target per thread when there are enough threads; never more threads than targets', () => {
  const c = cfg([['a', ['d1']], ['b', ['d2']], ['c', ['d3']]]);
  assert.deepEqual(shape(planThreads(c, 8)), [
    { targets: ['a'], devices: ['d1'] },
    { targets: ['b'], devices: ['d2'] },
    { targets: ['c'], devices: ['d3'] },
  ]);
  assert.equal(planThreads(c, 1).length, 1);
  assert.deepEqual(shape(planThreads(c, 1))[0], { targets: ['a', 'b', 'c'], devices: ['d1', 'd2', 'd3'] });
});

test('targets sharing a device stay in one thread', () => {
  const c = cfg([['a', ['d1']], ['b', ['d2', 'd1']], ['c', ['d3']]]);
  assert.deepEqual(shape(planThreads(c, 3)), [
    { targets: ['a', 'b'], devices: ['d1', 'd2'] },
    { targets: ['c'], devices: ['d3'] },
  ]);
});

test('a changer and the drives it names stay together even when the drives are mapped elsewhere', () => {
  const changer = { ...deviceDefaults('lib', 'changer'), file: '/vtl', options: { drives: ['t0'], slots: 4 } };
  const c = cfg([['libt', ['lib']], ['drives', ['t0']], ['other', ['d9']]], [changer, { ...deviceDefaults('t0', 'tape'), file: '-' }]);
  const plan = shape(planThreads(c, 3));
  assert.equal(plan.length, 2);
  assert.deepEqual(plan.find((p) => p.targets.includes('libt')), { targets: ['libt', 'drives'], devices: ['lib', 't0'] });
});

test('groups are dealt largest first to the thread with the fewest LUNs', () => {
  const c = cfg([['small1', ['a']], ['big', ['b1', 'b2', 'b3']], ['small2', ['c']], ['mid', ['m1', 'm2']]]);
  // big (3) and mid (2) first, then each small one to the lighter thread: 4 and 3 LUNs
  assert.deepEqual(shape(planThreads(c, 2)).map((p) => p.targets), [['big', 'small2'], ['small1', 'mid']]);
});
