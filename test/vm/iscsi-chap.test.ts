// The embedded iSCSI target behind CHAP and an ACL, against the Linux kernel initiator: one VM
// boot (kernel/vm) runs test/vm/guest-iscsi-chap.sh, which drives open-iscsi through one-way and
// mutual CHAP with SHA-256 and MD5, wrong secrets on either side, no CHAP, and an initiator name
// outside the ACL; then the same config shape on LIO's iSCSI target (--link tcmu --export
// iscsi) as node ACLs. Each guest step is one test here.
import { describe, test } from 'node:test';
import { guestSuite } from '../helpers/vm-guest.ts';

describe('open-iscsi against CHAP and an ACL on the embedded target', () => {
  const { step } = guestSuite({ label: 'iscsi-chap', script: 'test/vm/guest-iscsi-chap.sh', timeoutMs: 10 * 60_000 });

  test('the target starts with the ACL config; discovery lists the target to the ACL\'s initiator', () => {
    step('modules');
    step('target');
    step('discovery');
  });
  for (const alg of ['SHA256', 'MD5']) {
    test(`${alg}: one-way CHAP logs in and the LU appears`, () => step(`chap-${alg}-oneway`));
    test(`${alg}: mutual CHAP logs in (the target proves itself)`, () => step(`chap-${alg}-mutual`));
    test(`${alg}: a wrong initiator secret is refused (02/01)`, () => step(`chap-${alg}-wrong-secret`));
    test(`${alg}: a wrong target secret makes the initiator refuse the target`, () => step(`chap-${alg}-wrong-target-secret`));
  }
  test('no CHAP at all is refused', () => {
    step('chap-no-chap');
    step('chap-none-refused');
  });
  test('another initiator name: not listed by discovery, its login refused (02/02)', () => {
    step('intruder-discovery');
    step('intruder-refused');
  });
  test('no secret in the target\'s output', () => step('no-secret-logged'));

  test('LIO export: the ACLs become node ACLs (generate_node_acls 0, authentication 1, write_protect per mapping)', () => step('lio-configfs'));
  test('LIO export: the initiator in the ACL logs in with CHAP', () => step('lio-acl-login'));
  test('LIO export: a wrong secret, no CHAP, or another initiator name is refused by LIO', () => {
    step('lio-wrong-secret');
    step('lio-no-chap');
    step('lio-other-initiator');
  });
  test('LIO export: an ACL entry with its own LUN map sees only those LUNs', () => step('lio-own-luns'));
  test('LIO export: mutual CHAP with an ACL entry\'s own credentials; a wrong target secret makes the initiator give up', () => {
    step('lio-mutual');
    step('lio-wrong-target-secret');
  });
  test('LIO export: SIGTERM removes the target with its ACLs and exits 0', () => step('lio-teardown'));
});
