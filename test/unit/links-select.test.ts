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
  const both = chooseLink('auto', { tcmu: true, scstUser: true });
  assert.equal(both.link, 'tcmu');
  assert.match(both.note ?? '', /scst_user detected but not available in this version yet/);
});

test('auto says why it passes over a kernel link', () => {
  const c = chooseLink('auto', { tcmu: false, scstUser: true });
  assert.equal(c.link, 'iscsi');
  assert.match(c.note ?? '', /scst_user detected but not available in this version yet/);
  const u = chooseLink('auto', { tcmu: true, scstUser: false, root: false });
  assert.equal(u.link, 'iscsi');
  assert.match(u.note ?? '', /tcmu needs root/);
  // a module that is only loadable is not picked by auto (no surprise modprobe)
  assert.equal(chooseLink('auto', { tcmu: false, tcmuLoadable: true, scstUser: false }).link, 'iscsi');
});

test('kernel links name the missing module, need root, or say they are not available yet', () => {
  assert.throws(() => chooseLink('tcmu', none), /target_core_user kernel module, which is not loaded/);
  assert.deepEqual(chooseLink('tcmu', { tcmu: true, scstUser: false }), { link: 'tcmu' });
  assert.deepEqual(chooseLink('tcmu', { tcmu: false, tcmuLoadable: true, scstUser: false, root: true }), { link: 'tcmu' });
  assert.throws(() => chooseLink('tcmu', { tcmu: true, scstUser: false, root: false }), /--link tcmu needs root/);
  assert.throws(() => chooseLink('scst_user', none), /\/dev\/scst_user does not exist/);
  assert.throws(() => chooseLink('scst_user', { tcmu: false, scstUser: true }), /--link scst_user is not available in this version yet/);
});
