// The embedded iSCSI target behind CHAP and an ACL, against the Linux kernel initiator: one VM
// boot (kernel/vm) runs test/vm/guest-iscsi-chap.sh, which drives open-iscsi through one-way and
// mutual CHAP with SHA-256 and MD5, wrong secrets on either side, no CHAP, and an initiator name
// outside the ACL. Each guest step is one test here.
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
});
