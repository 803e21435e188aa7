import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginNegotiator, type LoginRequestInput } from '../../src/links/iscsi/negotiation.ts';
import { DEFAULT_OFFER, type TargetOffer } from '../../src/links/iscsi/keys.ts';
import type { KeyValue } from '../../src/links/iscsi/text.ts';

const TARGET = 'iqn.2026-11.test:disk';
const offer: TargetOffer = { ...DEFAULT_OFFER };
function negotiator(o: Partial<TargetOffer> = {}) {
  return new LoginNegotiator({
    offer: { ...offer, ...o },
    portalGroupTag: 1,
    findTarget: (n) => (n.toLowerCase() === TARGET ? { iqn: TARGET, alias: 'disk' } : undefined),
  });
}
function req(keys: KeyValue[], p: Partial<LoginRequestInput> = {}): LoginRequestInput {
  return { transit: true, csg: 0, nsg: 1, versionMax: 0, versionMin: 0, keys, ...p };
}
const answers = (keys: KeyValue[]) => Object.fromEntries(keys);

test('normal login: security -> operational -> full feature', () => {
  const n = negotiator();
  const r1 = n.step(req([['InitiatorName', 'iqn.2026-11.test:Init1'], ['SessionType', 'Normal'], ['TargetName', TARGET], ['AuthMethod', 'CHAP,None']]));
  assert.equal(r1.status, 0);
  assert.equal(r1.transit, true);
  assert.equal(r1.csg, 0);
  assert.equal(r1.nsg, 1);
  assert.equal(r1.complete, false);
  assert.deepEqual(answers(r1.keys), { TargetPortalGroupTag: '1', TargetAlias: 'disk', AuthMethod: 'None' });
  assert.equal(n.initiatorName, 'iqn.2026-11.test:init1');
  const r2 = n.step(
    req(
      [
        ['HeaderDigest', 'None'],
        ['DataDigest', 'None'],
        ['MaxRecvDataSegmentLength', '131072'],
        ['InitialR2T', 'No'],
        ['ImmediateData', 'Yes'],
        ['MaxBurstLength', '262144'],
        ['FirstBurstLength', '1048576'],
        ['X-vendor', '1'],
      ],
      { csg: 1, nsg: 3 },
    ),
  );
  assert.equal(r2.status, 0);
  assert.equal(r2.complete, true);
  assert.equal(r2.nsg, 3);
  const a = answers(r2.keys);
  assert.equal(a.MaxRecvDataSegmentLength, String(DEFAULT_OFFER.maxRecvDataSegmentLength));
  assert.equal(a['X-vendor'], 'NotUnderstood');
  assert.equal(a.InitialR2T, 'No');
  assert.equal(n.params.maxXmitDataSegmentLength, 131072);
  assert.equal(n.params.maxBurstLength, 262144);
  assert.equal(n.params.firstBurstLength, 262144, 'FirstBurstLength clamped to MaxBurstLength');
  assert.equal(n.params.maxRecvDataSegmentLength, DEFAULT_OFFER.maxRecvDataSegmentLength);
});

test('login failures: missing InitiatorName, missing/unknown TargetName, version, stages, auth', () => {
  assert.equal(negotiator().step(req([['TargetName', TARGET]])).status, 0x0207);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.2026-11.test:a']])).status, 0x0207);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.2026-11.test:a'], ['TargetName', 'iqn.nope']])).status, 0x0203);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.2026-11.test:a'], ['TargetName', TARGET]], { versionMin: 1, versionMax: 2 })).status, 0x0205);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.2026-11.test:a'], ['SessionType', 'Weird']])).status, 0x0209);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.2026-11.test:a'], ['TargetName', TARGET], ['AuthMethod', 'CHAP']])).status, 0x0201);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.2026-11.test:a'], ['TargetName', TARGET]], { csg: 3 })).status, 0x0200);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.2026-11.test:a'], ['TargetName', TARGET]], { csg: 1, nsg: 0 })).status, 0x0200);
  const n = negotiator();
  assert.equal(n.step(req([['InitiatorName', 'iqn.2026-11.test:a'], ['TargetName', TARGET]], { csg: 1, nsg: 3, transit: false })).status, 0);
  assert.equal(n.step(req([], { csg: 0, nsg: 1 })).status, 0x0200, 'CSG went back');
});

test('discovery login straight from operational stage; T=0 keeps the stage', () => {
  const n = negotiator();
  const r = n.step(req([['InitiatorName', 'iqn.2026-11.test:a'], ['SessionType', 'Discovery'], ['MaxBurstLength', '262144']], { csg: 1, nsg: 3, transit: false }));
  assert.equal(r.status, 0);
  assert.equal(r.transit, false);
  assert.equal(r.complete, false);
  assert.equal(answers(r.keys).MaxBurstLength, 'Irrelevant');
  assert.equal(answers(r.keys).TargetPortalGroupTag, undefined);
  const r2 = n.step(req([], { csg: 1, nsg: 3 }));
  assert.equal(r2.complete, true);
  assert.equal(n.sessionType, 'Discovery');
  assert.equal(n.target, undefined);
});

test('security stage straight to full feature phase keeps defaults', () => {
  const n = negotiator();
  const r = n.step(req([['InitiatorName', 'iqn.2026-11.test:a'], ['TargetName', TARGET], ['AuthMethod', 'None']], { csg: 0, nsg: 3 }));
  assert.equal(r.status, 0);
  assert.equal(r.complete, true);
  assert.equal(n.params.maxXmitDataSegmentLength, 8192);
  assert.equal(n.params.initialR2T, true);
});

const INIT = 'iqn.2026-11.test:init1';
const LEADING: KeyValue[] = [
  ['InitiatorName', INIT],
  ['TargetName', TARGET],
];

test('item 2: a key sent twice in one Login Request is a login reject 02/00 (RFC 7143 §6.3)', () => {
  const twice: KeyValue[] = [
    ['HeaderDigest', 'None'],
    ['DataDigest', 'None'],
    ['TargetName', TARGET],
    ['InitiatorName', INIT],
    ['ImmediateData', 'Yes'],
    ['MaxOutstandingR2T', '1'],
    ['ErrorRecoveryLevel', '0'],
    ['DataPDUInOrder', 'Yes'],
    ['DataSequenceInOrder', 'Yes'],
    ['MaxRecvDataSegmentLength', '8192'],
    ['InitiatorAlias', 'host'],
    ['X-vendor', '1'],
  ];
  for (const kv of twice) {
    for (const second of [kv[1], kv[0] === 'TargetName' || kv[0] === 'InitiatorName' ? 'iqn.2026-11.test:other' : 'No']) {
      const keys: KeyValue[] = [...LEADING.filter(([k]) => k !== kv[0]), kv, [kv[0], second]];
      const r = negotiator().step(req(keys, { csg: 1, nsg: 3 }));
      assert.equal(r.status, 0x0200, `${kv[0]}=${kv[1]} then ${second}`);
      assert.equal(r.complete, false);
      assert.match(r.reason ?? '', new RegExp(`${kv[0]} sent twice`));
    }
  }
  assert.equal(negotiator().step(req([...LEADING, ['HeaderDigest', 'None']], { csg: 1, nsg: 3 })).status, 0, 'once is fine');
});

test('item 2: a key sent again in a later Login Request of the login is a login reject 02/00', () => {
  for (const [k, v] of [['HeaderDigest', 'None'], ['MaxRecvDataSegmentLength', '8192'], ['ErrorRecoveryLevel', '0'], ['AuthMethod', 'None']] as KeyValue[]) {
    const n = negotiator();
    const csg = k === 'AuthMethod' ? 0 : 1;
    assert.equal(n.step(req([...LEADING, [k, v]], { csg, nsg: csg === 0 ? 1 : 3, transit: false })).status, 0, k);
    const r = n.step(req([[k, v]], { csg, nsg: csg === 0 ? 1 : 3 }));
    assert.equal(r.status, 0x0200, `${k} again`);
    assert.match(r.reason ?? '', /sent again/);
  }
});

test('item 2: leading-login keys restated unchanged in a later request are taken (libiscsi), changed ones are not', () => {
  // libiscsi sends InitiatorName, InitiatorAlias, TargetName and SessionType in its first
  // security-stage request and again in its first operational-stage request.
  const first: KeyValue[] = [...LEADING, ['InitiatorAlias', 'host'], ['SessionType', 'Normal'], ['AuthMethod', 'None']];
  const n = negotiator();
  assert.equal(n.step(req(first)).status, 0);
  const again = n.step(req([...LEADING, ['InitiatorAlias', 'host'], ['SessionType', 'Normal'], ['HeaderDigest', 'None']], { csg: 1, nsg: 3 }));
  assert.equal(again.status, 0, again.reason);
  assert.equal(again.complete, true);
  assert.deepEqual(answers(again.keys).HeaderDigest, 'None');
  assert.equal(answers(again.keys).InitiatorAlias, undefined, 'a restatement is not answered');

  for (const [k, v] of [['InitiatorName', 'iqn.2026-11.test:init2'], ['TargetName', 'iqn.2026-11.test:other'], ['SessionType', 'Discovery'], ['InitiatorAlias', 'other']] as KeyValue[]) {
    const m = negotiator();
    assert.equal(m.step(req(first)).status, 0);
    const r = m.step(req([[k, v]], { csg: 1, nsg: 3 }));
    assert.equal(r.status, 0x0200, `${k} changed to ${v}`);
  }
  // Leading keys the first request did not carry cannot come later.
  const d = negotiator();
  assert.equal(d.step(req([['InitiatorName', INIT], ['SessionType', 'Discovery']], { csg: 1, nsg: 3, transit: false })).status, 0);
  const late = d.step(req([['TargetName', TARGET]], { csg: 1, nsg: 3 }));
  assert.equal(late.status, 0x0200);
  assert.match(late.reason ?? '', /only valid in the first/);
});

test('item 3: malformed or out-of-range MaxRecvDataSegmentLength ends the login with 02/00', () => {
  for (const v of ['0b101', '999999999999999999999999', ' 512', '511', '16777216', '0x1000000', '']) {
    const r = negotiator().step(req([...LEADING, ['MaxRecvDataSegmentLength', v]], { csg: 1, nsg: 3 }));
    assert.equal(r.status, 0x0200, JSON.stringify(v));
    assert.match(r.reason ?? '', /MaxRecvDataSegmentLength/);
  }
  for (const [v, n] of [['512', 512], ['0x200', 512], ['16777215', 16777215]] as Array<[string, number]>) {
    const g = negotiator();
    const r = g.step(req([...LEADING, ['MaxRecvDataSegmentLength', v]], { csg: 1, nsg: 3 }));
    assert.equal(r.status, 0, v);
    assert.equal(g.params.maxXmitDataSegmentLength, n);
  }
  // a malformed negotiated number ends the login too; a well-formed one out of range is answered Reject
  assert.equal(negotiator().step(req([...LEADING, ['MaxBurstLength', '0b101']], { csg: 1, nsg: 3 })).status, 0x0200);
  const r = negotiator().step(req([...LEADING, ['MaxBurstLength', '100']], { csg: 1, nsg: 3 }));
  assert.equal(r.status, 0);
  assert.equal(answers(r.keys).MaxBurstLength, 'Reject');
});

test('item 6: an InitiatorName that is not an iqn., eui. or naa. name is a login reject 02/00', () => {
  for (const name of ['initiator1', 'iqn.x', 'iqn.2026-13.test:a', 'eui.123', 'naa.xyz', 'iqn.2026-11.test:a b', 'Reject']) {
    const r = negotiator().step(req([['InitiatorName', name], ['TargetName', TARGET]], { csg: 1, nsg: 3 }));
    assert.equal(r.status, 0x0200, name);
    assert.match(r.reason ?? '', /InitiatorName/);
  }
  for (const name of ['iqn.2026-11.test:a', 'eui.02004567A425678D', 'naa.52004567BA64678D']) {
    const n = negotiator();
    assert.equal(n.step(req([['InitiatorName', name], ['TargetName', TARGET]], { csg: 1, nsg: 3 })).status, 0, name);
    assert.equal(n.initiatorName, name.toLowerCase());
  }
});

test('target-only keys, answer constants as values and unknown keys in a login', () => {
  assert.equal(negotiator().step(req([...LEADING, ['TargetAlias', 'x']], { csg: 1, nsg: 3 })).status, 0x0200);
  assert.equal(negotiator().step(req([...LEADING, ['ImmediateData', 'Irrelevant']], { csg: 1, nsg: 3 })).status, 0x0200);
  const r = negotiator().step(req([...LEADING, ['X-com.example.k', 'v'], ['Unknown', 'v'], ['IFMarkInt', '1~2']], { csg: 1, nsg: 3 }));
  assert.equal(r.status, 0);
  assert.deepEqual(answers(r.keys)['X-com.example.k'], 'NotUnderstood');
  assert.deepEqual(answers(r.keys).Unknown, 'NotUnderstood');
  assert.deepEqual(answers(r.keys).IFMarkInt, 'Reject');
});

test('Version-max and Version-min stay the same through a login (RFC 7143 §11.12.4)', () => {
  const n = negotiator();
  assert.equal(n.step(req([...LEADING], { csg: 1, nsg: 3, transit: false })).status, 0);
  assert.equal(n.step(req([], { csg: 1, nsg: 3, versionMax: 1 })).status, 0x0200);
  const m = negotiator();
  assert.equal(m.step(req([...LEADING], { csg: 1, nsg: 3, transit: false })).status, 0);
  assert.equal(m.step(req([], { csg: 1, nsg: 3 })).complete, true);
});
