import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseLink } from '../../src/links/select.ts';

const none = { tcmu: false, scstUser: false };

test('auto uses the embedded iSCSI target when no kernel module is loaded', () => {
  assert.deepEqual(chooseLink('auto', none), { link: 'iscsi' });
  assert.deepEqual(chooseLink('iscsi', { tcmu: true, scstUser: true }), { link: 'iscsi' });
});

test('auto says why it passes over a loaded kernel link', () => {
  const c = chooseLink('auto', { tcmu: true, scstUser: false });
  assert.equal(c.link, 'iscsi');
  assert.match(c.note ?? '', /tcmu detected but not available in this version yet/);
});

test('kernel links name the missing module, or say they are not available yet', () => {
  assert.throws(() => chooseLink('tcmu', none), /target_core_user kernel module, which is not loaded/);
  assert.throws(() => chooseLink('tcmu', { tcmu: true, scstUser: false }), /--link tcmu is not available in this version yet/);
  assert.throws(() => chooseLink('scst_user', none), /\/dev\/scst_user does not exist/);
  assert.throws(() => chooseLink('scst_user', { tcmu: false, scstUser: true }), /--link scst_user is not available in this version yet/);
});
