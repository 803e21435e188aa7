import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseLink } from '../../src/links/select.ts';

const none = { tcmu: false, scstUser: false };

test('auto uses the embedded iSCSI target when no kernel module is loaded', () => {
  assert.deepEqual(chooseLink('auto', none), { link: 'iscsi' });
  assert.deepEqual(chooseLink('iscsi', { tcmu: true, scstUser: true }), { link: 'iscsi' });
});

test('auto picks tcmu when target_core_user is loaded and we are root', () => {
  assert.deepEqual(chooseLink('auto', { tcmu: true, scstUser: false }), { link: 'tcmu' });
  assert.deepEqual(chooseLink('auto', { tcmu: true, scstUser: false, root: true }), { link: 'tcmu' });
});

test('auto picks scst_user before tcmu when /dev/scst_user exists and we may open it', () => {
  assert.deepEqual(chooseLink('auto', { tcmu: true, scstUser: true }), { link: 'scst_user' });
  assert.deepEqual(chooseLink('auto', { tcmu: false, scstUser: true, scstUserUsable: true, root: false }), { link: 'scst_user' });
  // present but not accessible: say so and fall back
  const t = chooseLink('auto', { tcmu: true, scstUser: true, scstUserUsable: false, root: true });
  assert.equal(t.link, 'tcmu');
  assert.match(t.note ?? '', /\/dev\/scst_user exists but we cannot open it read-write/);
  const i = chooseLink('auto', { tcmu: false, scstUser: true, root: false });
  assert.equal(i.link, 'iscsi');
  assert.match(i.note ?? '', /cannot open it read-write.*using the embedded iSCSI target/);
});

test('auto says why it passes over a kernel link', () => {
  const u = chooseLink('auto', { tcmu: true, scstUser: false, root: false });
  assert.equal(u.link, 'iscsi');
  assert.match(u.note ?? '', /tcmu needs root/);
  // a module that is only loadable is not picked by auto (no surprise modprobe)
  assert.equal(chooseLink('auto', { tcmu: false, tcmuLoadable: true, scstUser: false }).link, 'iscsi');
});

test('kernel links name the missing module or the missing permission', () => {
  assert.throws(() => chooseLink('tcmu', none), /target_core_user kernel module, which is not loaded/);
  assert.deepEqual(chooseLink('tcmu', { tcmu: true, scstUser: false }), { link: 'tcmu' });
  assert.deepEqual(chooseLink('tcmu', { tcmu: false, tcmuLoadable: true, scstUser: false, root: true }), { link: 'tcmu' });
  assert.throws(() => chooseLink('tcmu', { tcmu: true, scstUser: false, root: false }), /--link tcmu needs root/);
  assert.throws(() => chooseLink('scst_user', none), /\/dev\/scst_user does not exist \(modprobe scst_user\)/);
  assert.deepEqual(chooseLink('scst_user', { tcmu: false, scstUser: true }), { link: 'scst_user' });
  assert.throws(() => chooseLink('scst_user', { tcmu: false, scstUser: true, scstUserUsable: false }), /read and write access to \/dev\/scst_user/);
  assert.throws(() => chooseLink('scst_user', { tcmu: false, scstUser: true, root: false }), /read and write access/);
});
