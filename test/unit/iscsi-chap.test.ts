// CHAP on bytes (RFC 7143 §12.1.3, RFC 1994): known vectors, the target's exchange and its
// refusals, the login negotiation with an admission hook (no way around the security stage),
// and the per-initiator slow-down with an injected clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHAP_ALGORITHMS, ChapAuthenticator, chapResponse, decodeBinary, encodeBinary, type ChapCredentials } from '../../src/links/iscsi/chap.ts';
import { LoginThrottle, admitLogin, type LoginAccess } from '../../src/links/iscsi/access.ts';
import { LoginNegotiator, type LoginRequestInput } from '../../src/links/iscsi/negotiation.ts';
import { DEFAULT_OFFER } from '../../src/links/iscsi/keys.ts';
import { LoginStatus } from '../../src/links/iscsi/constants.ts';
import type { KeyValue } from '../../src/links/iscsi/text.ts';

const alg = (name: string) => CHAP_ALGORITHMS.find((a) => a.name === name)!;
const CH = Buffer.from([...Array(16).keys()]); // 00 01 .. 0f
/** A "random" source that hands out the given bytes: CHAP_I first, then the challenge. */
const fixed = (...chunks: Buffer[]) => (n: number) => {
  const c = chunks.shift()!;
  assert.equal(c.length, n, 'the authenticator asked for a different length');
  return c;
};
const creds: ChapCredentials = { user: 'store', secret: 'sixteen-byte-sec', mutual: { user: 'tgt', secret: 'target-secret-16' } };

test('CHAP responses: H(id || secret || challenge), vectors computed with Python hashlib', () => {
  const cases: Array<[string, string]> = [
    ['MD5', 'c2a14fa61a68e770eaf23f6b5aa8227d'],
    ['SHA1', 'df5efe87b661cccf2d8a9e570d06bb0e67a90128'],
    ['SHA-256', '0a2c860195a93cb9cdef8cd764ede548b3e17e851f111cae101bcbcc9275286a'],
    ['SHA3-256', '218b1c4db7858d22ab2165b6be15b4a975ecdf0e0e5fa667c1f5a30c4cca40a5'],
  ];
  for (const [name, hex] of cases) assert.equal(chapResponse(alg(name), 1, 'sixteen-byte-sec', CH).toString('hex'), hex, name);
});

test('binary values: hex (odd length padded) and base64; anything else is refused', () => {
  assert.deepEqual(decodeBinary('0x0102'), Buffer.from([1, 2]));
  assert.deepEqual(decodeBinary('0X102'), Buffer.from([1, 2]));
  assert.deepEqual(decodeBinary('0bAQI='), Buffer.from([1, 2]));
  for (const bad of ['0x', '0xZZ', '1234', '0bA', '', '0b!!!!']) assert.equal(decodeBinary(bad), undefined, bad);
  assert.equal(encodeBinary(Buffer.from([0xab, 0x01])), '0xab01');
});

function challenge(a: ChapAuthenticator, offer = '7,5'): KeyValue[] {
  const r = a.step([['CHAP_A', offer]]);
  assert.ok(!('status' in r), JSON.stringify(r));
  return r.answers;
}

test('one-way CHAP: the first acceptable algorithm, a fresh challenge, the right answer passes', () => {
  const a = new ChapAuthenticator(creds, fixed(Buffer.from([1]), Buffer.alloc(32, 0x5a)));
  assert.deepEqual(challenge(a, '8,7,5'), [
    ['CHAP_A', '8'],
    ['CHAP_I', '1'],
    ['CHAP_C', `0x${'5a'.repeat(32)}`],
  ]);
  const r = a.step([['CHAP_N', 'store'], ['CHAP_R', encodeBinary(chapResponse(alg('SHA3-256'), 1, 'sixteen-byte-sec', Buffer.alloc(32, 0x5a)))]]);
  assert.deepEqual(r, { answers: [], authenticated: true });
  assert.equal(a.algorithm, 'SHA3-256');
  assert.equal(a.mutual, false);
});

test('MD5 challenges are 16 bytes, SHA-256 ones 32, from node:crypto by default', () => {
  const md5 = challenge(new ChapAuthenticator(creds), '5');
  assert.equal(decodeBinary(md5[2]![1])!.length, 16);
  const sha = challenge(new ChapAuthenticator(creds), '7');
  assert.equal(decodeBinary(sha[2]![1])!.length, 32);
  assert.notEqual(challenge(new ChapAuthenticator(creds), '7')[2]![1], sha[2]![1]);
});

test('mutual CHAP: the target answers the initiator challenge with its own secret', () => {
  const a = new ChapAuthenticator(creds, fixed(Buffer.from([9]), Buffer.alloc(32, 1)));
  challenge(a, '7');
  const theirs = Buffer.from('ffeeddccbbaa99887766554433221100', 'hex');
  const r = a.step([
    ['CHAP_N', 'store'],
    ['CHAP_R', encodeBinary(chapResponse(alg('SHA-256'), 9, 'sixteen-byte-sec', Buffer.alloc(32, 1)))],
    ['CHAP_I', '200'],
    ['CHAP_C', encodeBinary(theirs)],
  ]);
  assert.deepEqual(r, {
    answers: [
      ['CHAP_N', 'tgt'],
      ['CHAP_R', '0x832fef74a8fe258af123ec113ae4974a0fc3cf139053f20d152edf1a49ed8414'],
    ],
    authenticated: true,
  });
  assert.equal(a.mutual, true);
});

test('CHAP refusals: wrong secret, wrong user, reflection, no mutual credentials, bad order, bad lengths', () => {
  const run = (c: ChapCredentials, keys: (ch: Buffer) => KeyValue[], offer = '5'): string => {
    const ch = Buffer.alloc(16, 7);
    const a = new ChapAuthenticator(c, fixed(Buffer.from([3]), ch));
    challenge(a, offer);
    const r = a.step(keys(ch));
    assert.ok('status' in r, 'must fail');
    assert.equal(r.status, LoginStatus.AuthFailure);
    assert.doesNotMatch(r.reason, /sixteen-byte-sec|target-secret-16/, 'a reason never names a secret');
    return r.reason;
  };
  const md5 = alg('MD5');
  const good = (ch: Buffer): KeyValue[] => [['CHAP_N', 'store'], ['CHAP_R', encodeBinary(chapResponse(md5, 3, 'sixteen-byte-sec', ch))]];
  assert.match(run(creds, (ch) => [['CHAP_N', 'store'], ['CHAP_R', encodeBinary(chapResponse(md5, 3, 'sixteen-byte-seX', ch))]]), /wrong CHAP response/);
  assert.match(run(creds, (ch) => [['CHAP_N', 'other'], good(ch)[1]!]), /CHAP_N is not the configured user/);
  assert.match(run(creds, (ch) => [...good(ch), ['CHAP_I', '3'], ['CHAP_C', encodeBinary(ch)]]), /reflects ours/);
  assert.match(run({ user: 'store', secret: 'sixteen-byte-sec' }, (ch) => [...good(ch), ['CHAP_I', '3'], ['CHAP_C', '0x0102030405']]), /no mutual credentials/);
  assert.match(run({ ...creds, mutual: { user: 't', secret: 'sixteen-byte-sec' } }, (ch) => [...good(ch), ['CHAP_I', '3'], ['CHAP_C', '0x0102030405']]), /secrets are the same/);
  assert.match(run(creds, (ch) => [...good(ch), ['CHAP_I', '3']]), /both CHAP_I and CHAP_C/);
  assert.match(run(creds, (ch) => [...good(ch), ['CHAP_I', '300'], ['CHAP_C', '0x01']]), /0-255/);
  assert.match(run(creds, (ch) => [...good(ch), ['CHAP_I', '1'], ['CHAP_C', `0x${'00'.repeat(1025)}`]]), /1-1024 bytes/);
  assert.match(run(creds, () => [['CHAP_N', 'store'], ['CHAP_R', '0x00']]), /16-byte MD5 digest/);
  assert.match(run(creds, () => [['CHAP_N', 'store']]), /required/);
  assert.match(run(creds, (ch) => [...good(ch), ['CHAP_A', '5']]), /unexpected CHAP_A/);
  // the algorithm list first; nothing acceptable; an algorithm the config does not allow
  const a = new ChapAuthenticator(creds);
  const early = a.step([['CHAP_N', 'store'], ['CHAP_R', '0x00']]);
  assert.ok('status' in early && /expected CHAP_A first/.test(early.reason));
  const none = new ChapAuthenticator(creds).step([['CHAP_A', '1,2,99']]);
  assert.ok('status' in none && /no acceptable CHAP algorithm/.test(none.reason));
  const noMd5 = new ChapAuthenticator({ ...creds, algorithms: ['SHA-256'] }).step([['CHAP_A', '5']]);
  assert.ok('status' in noMd5, 'MD5 refused when the config allows SHA-256 only');
  // after a success, more CHAP keys are an error (no second try on the same login)
  const done = new ChapAuthenticator(creds, fixed(Buffer.from([3]), Buffer.alloc(16, 7)));
  challenge(done, '5');
  done.step(good(Buffer.alloc(16, 7)));
  const again = done.step(good(Buffer.alloc(16, 7)));
  assert.ok('status' in again && /after the exchange completed/.test(again.reason));
});

test('a failed response ends the exchange: a second guess on the same login is refused', () => {
  const ch = Buffer.alloc(16, 7);
  const a = new ChapAuthenticator(creds, fixed(Buffer.from([3]), ch));
  challenge(a, '5');
  assert.ok('status' in a.step([['CHAP_N', 'store'], ['CHAP_R', `0x${'00'.repeat(16)}`]]));
  const second = a.step([['CHAP_N', 'store'], ['CHAP_R', encodeBinary(chapResponse(alg('MD5'), 3, 'sixteen-byte-sec', ch))]]);
  assert.ok('status' in second);
});

// ---- the login negotiation with CHAP required ------------------------------------------------

const TARGET = 'iqn.2026-11.test:disk';
const INITIATOR = 'iqn.1993-08.org.debian:01:web1';
function login(chapCreds: ChapCredentials | undefined, throttle = new LoginThrottle(), acls: 'any' | Array<{ initiator: string }> = 'any') {
  const seen: LoginAccess[] = [];
  const n = new LoginNegotiator({
    offer: { ...DEFAULT_OFFER },
    portalGroupTag: 1,
    findTarget: (name) => (name === TARGET ? { iqn: TARGET } : undefined),
    admit: (initiator, type) => admitLogin(initiator, type, { acls, chap: chapCreds }, undefined, throttle, (a) => seen.push(a)),
  });
  return { n, seen };
}
const req = (keys: KeyValue[], p: Partial<LoginRequestInput> = {}): LoginRequestInput => ({ transit: false, csg: 0, nsg: 0, versionMax: 0, versionMin: 0, keys, ...p });
const leading: KeyValue[] = [['InitiatorName', INITIATOR], ['TargetName', TARGET]];

test('login: CHAP required; skipping or short-cutting the security stage fails with 02/01', () => {
  const c = { user: 'store', secret: 'sixteen-byte-sec' };
  // straight to the operational stage
  let r = login(c).n.step(req(leading, { csg: 1, nsg: 3, transit: true }));
  assert.equal(r.status, LoginStatus.AuthFailure);
  // security stage without AuthMethod, then operational
  let l = login(c).n;
  assert.equal(l.step(req(leading)).status, 0);
  assert.equal(l.step(req([], { csg: 1, nsg: 3, transit: true })).status, LoginStatus.AuthFailure);
  // security stage T=1 to full feature without any authentication
  assert.equal(login(c).n.step(req(leading, { transit: true, nsg: 3 })).status, LoginStatus.AuthFailure);
  // AuthMethod=None only
  r = login(c).n.step(req([...leading, ['AuthMethod', 'None']]));
  assert.equal(r.status, LoginStatus.AuthFailure);
  // CHAP chosen, challenge sent, then a jump to the operational stage
  l = login(c).n;
  assert.deepEqual(l.step(req([...leading, ['AuthMethod', 'CHAP,None']])).keys.find((k) => k[0] === 'AuthMethod'), ['AuthMethod', 'CHAP']);
  assert.equal(l.step(req([['CHAP_A', '5']])).status, 0);
  assert.equal(l.step(req([], { csg: 1, nsg: 3, transit: true })).status, LoginStatus.AuthFailure);
});

test('login: a full CHAP exchange completes and reports its method; an initiator outside the ACL gets 02/02', () => {
  const c = { user: 'store', secret: 'sixteen-byte-sec' };
  const { n, seen } = login(c, new LoginThrottle(), [{ initiator: INITIATOR }]);
  n.step(req([...leading, ['AuthMethod', 'CHAP']]));
  const ch = n.step(req([['CHAP_A', '7']]));
  const got = Object.fromEntries(ch.keys);
  const resp = chapResponse(alg('SHA-256'), Number(got.CHAP_I), c.secret, decodeBinary(got.CHAP_C!)!);
  const done = n.step(req([['CHAP_N', 'store'], ['CHAP_R', encodeBinary(resp)]], { transit: true, nsg: 1 }));
  assert.equal(done.status, 0);
  assert.equal(done.transit, true);
  assert.equal(n.step(req([], { csg: 1, nsg: 3, transit: true })).complete, true);
  assert.equal(seen[0]!.acl, INITIATOR);
  assert.equal(seen[0]!.chap!.algorithm, 'SHA-256');

  const other = login(c, new LoginThrottle(), [{ initiator: INITIATOR }]).n.step(req([['InitiatorName', 'iqn.1993-08.org.debian:01:evil'], ['TargetName', TARGET]]));
  assert.equal(other.status, LoginStatus.AuthorizationFailure);
});

test('slow-down: free failures, then doubling waits up to the bound, per name, cleared by success', () => {
  let now = 1_000_000;
  const t = new LoginThrottle({ now: () => now, free: 2, baseMs: 1000, maxMs: 8000 });
  const a = 'iqn.2026-01.x:attacker';
  const b = 'iqn.2026-01.x:victim';
  t.failed(a);
  t.failed(a);
  assert.equal(t.wait(a), 0, 'two mistakes cost nothing');
  const waits: number[] = [];
  for (let i = 0; i < 6; i++) {
    t.failed(a);
    waits.push(t.wait(a));
  }
  assert.deepEqual(waits, [1000, 2000, 4000, 8000, 8000, 8000]);
  assert.equal(t.wait(b), 0, 'another initiator is not slowed down');
  now += 8000;
  assert.equal(t.wait(a), 0, 'the wait ends');
  // while waiting, a login with that name is refused before any CHAP is evaluated
  t.failed(a);
  const refused = admitLogin(a, 'Normal', { acls: 'any', chap: creds }, undefined, t, () => assert.fail('not admitted'));
  assert.ok('status' in refused && refused.status === LoginStatus.AuthFailure && /refused for another 8 s/.test(refused.reason));
  t.succeeded(a);
  assert.equal(t.wait(a), 0);
  // a flood of names is bounded in memory
  const small = new LoginThrottle({ now: () => now, maxNames: 3, free: 0 });
  for (let i = 0; i < 10; i++) small.failed(`iqn.2026-01.x:n${i}`);
  assert.equal(small.failures('iqn.2026-01.x:n0'), 0);
  assert.equal(small.failures('iqn.2026-01.x:n9'), 1);
});

test('a target without CHAP is never slowed down (there is no secret to guess)', () => {
  const t = new LoginThrottle({ free: 0, now: () => 0 });
  t.failed(INITIATOR);
  const open = admitLogin(INITIATOR, 'Normal', { acls: 'any' }, undefined, t, () => {});
  assert.deepEqual(open, { authenticators: [] });
});

test('logins admitted before a slow-down began get no guess once it has (the gate at response time)', () => {
  let now = 0;
  const t = new LoginThrottle({ now: () => now, free: 0, baseMs: 1000 });
  const name = 'iqn.2026-01.x:parallel';
  const rules = { acls: 'any' as const, chap: { user: 'store', secret: 'sixteen-byte-sec' } };
  const admitted: LoginAccess[] = [];
  for (let i = 0; i < 2; i++) admitLogin(name, 'Normal', rules, undefined, t, (a) => admitted.push(a));
  const [first, second] = admitted.map((a) => a.chap!);
  const ch1 = Object.fromEntries(challenge(first!, '5'));
  const ch2 = Object.fromEntries(challenge(second!, '5'));
  assert.ok('status' in first!.step([['CHAP_N', 'store'], ['CHAP_R', `0x${'00'.repeat(16)}`]]));
  t.failed(name); // what LoginPhase records for that failure: the slow-down starts
  const right = chapResponse(alg('MD5'), Number(ch2.CHAP_I), 'sixteen-byte-sec', decodeBinary(ch2.CHAP_C!)!);
  const r = second!.step([['CHAP_N', 'store'], ['CHAP_R', encodeBinary(right)]]);
  assert.ok('status' in r && /refused for another 1 s/.test(r.reason), 'even the right answer is not checked now');
  assert.ok(ch1.CHAP_C !== ch2.CHAP_C, 'each login has its own challenge');
  now += 1000;
  const third: LoginAccess[] = [];
  admitLogin(name, 'Normal', rules, undefined, t, (a) => third.push(a));
  const ch3 = Object.fromEntries(challenge(third[0]!.chap!, '5'));
  const ok = third[0]!.chap!.step([['CHAP_N', 'store'], ['CHAP_R', encodeBinary(chapResponse(alg('MD5'), Number(ch3.CHAP_I), 'sixteen-byte-sec', decodeBinary(ch3.CHAP_C!)!))]]);
  assert.deepEqual(ok, { answers: [], authenticated: true });
});
