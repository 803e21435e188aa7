import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginNegotiator, type LoginRequestInput } from '../../src/links/iscsi/negotiation.ts';
import { DEFAULT_OFFER, negotiateOperationalKey, rfcDefaults, type TargetOffer } from '../../src/links/iscsi/keys.ts';
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

test('operational key table: each result function', () => {
  const cases: Array<[string, string, string | undefined, Partial<TargetOffer>?]> = [
    ['HeaderDigest', 'CRC32C,None', 'CRC32C'],
    ['HeaderDigest', 'None,CRC32C', 'None'],
    ['DataDigest', 'CRC32C', 'Reject', { dataDigests: ['None'] }],
    ['DataDigest', 'MD5', 'Reject'],
    ['MaxConnections', '8', '1'],
    ['InitialR2T', 'No', 'No'],
    ['InitialR2T', 'Yes', 'Yes'],
    ['InitialR2T', 'No', 'Yes', { initialR2T: true }],
    ['ImmediateData', 'Yes', 'Yes'],
    ['ImmediateData', 'No', 'No'],
    ['ImmediateData', 'Yes', 'No', { immediateData: false }],
    ['ImmediateData', 'Maybe', 'Reject'],
    ['MaxBurstLength', '262144', '262144'],
    ['MaxBurstLength', '16776192', String(DEFAULT_OFFER.maxBurstLength)],
    ['MaxBurstLength', '100', 'Reject'],
    ['MaxBurstLength', '0x40000', '262144'],
    ['FirstBurstLength', '65536', '65536'],
    ['DefaultTime2Wait', '0', String(DEFAULT_OFFER.defaultTime2Wait)],
    ['DefaultTime2Wait', '10', '10'],
    ['DefaultTime2Retain', '20', String(DEFAULT_OFFER.defaultTime2Retain)],
    ['DefaultTime2Retain', '4000', 'Reject'],
    ['MaxOutstandingR2T', '1', '1'],
    ['MaxOutstandingR2T', '64', String(DEFAULT_OFFER.maxOutstandingR2T)],
    ['DataPDUInOrder', 'No', 'Yes'],
    ['DataSequenceInOrder', 'No', 'Yes'],
    ['ErrorRecoveryLevel', '2', '0'],
    ['ErrorRecoveryLevel', '3', 'Reject'],
    ['OFMarker', 'Yes', 'No'],
    ['IFMarker', 'No', 'No'],
    ['OFMarkInt', '2048~8192', 'Irrelevant'],
    ['IFMarkInt', '2048~8192', 'Irrelevant'],
    ['X-com.example.Foo', 'bar', 'NotUnderstood'],
    ['FooBar', '1', 'NotUnderstood'],
    ['MaxRecvDataSegmentLength', '65536', undefined],
    ['MaxRecvDataSegmentLength', '100', 'Reject'],
    ['TargetAlias', 'x', undefined],
    ['InitiatorAlias', 'host', undefined],
    ['TaskReporting', 'ResponseFence,RFC3720', 'RFC3720'],
  ];
  for (const [k, v, want, o] of cases) {
    const p = rfcDefaults();
    const got = negotiateOperationalKey(k, v, { ...offer, ...o }, p, false).answer;
    assert.equal(got, want, `${k}=${v}`);
  }
  const p = rfcDefaults();
  negotiateOperationalKey('MaxRecvDataSegmentLength', '65536', offer, p, false);
  assert.equal(p.maxXmitDataSegmentLength, 65536);
  negotiateOperationalKey('HeaderDigest', 'CRC32C', offer, p, false);
  assert.equal(p.headerDigest, true);
});

test('discovery session: session keys are Irrelevant', () => {
  for (const k of ['MaxBurstLength', 'FirstBurstLength', 'InitialR2T', 'ImmediateData', 'MaxOutstandingR2T', 'MaxConnections', 'DataPDUInOrder', 'DataSequenceInOrder']) {
    assert.equal(negotiateOperationalKey(k, k.includes('Length') || k.startsWith('Max') ? '1024' : 'Yes', offer, rfcDefaults(), true).answer, 'Irrelevant', k);
  }
  assert.equal(negotiateOperationalKey('HeaderDigest', 'None', offer, rfcDefaults(), true).answer, 'None');
});

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
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.a']])).status, 0x0207);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.a'], ['TargetName', 'iqn.nope']])).status, 0x0203);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.a'], ['TargetName', TARGET]], { versionMin: 1, versionMax: 2 })).status, 0x0205);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.a'], ['SessionType', 'Weird']])).status, 0x0209);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.a'], ['TargetName', TARGET], ['AuthMethod', 'CHAP']])).status, 0x0201);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.a'], ['TargetName', TARGET]], { csg: 3 })).status, 0x0200);
  assert.equal(negotiator().step(req([['InitiatorName', 'iqn.a'], ['TargetName', TARGET]], { csg: 1, nsg: 0 })).status, 0x0200);
  const n = negotiator();
  assert.equal(n.step(req([['InitiatorName', 'iqn.a'], ['TargetName', TARGET]], { csg: 1, nsg: 3, transit: false })).status, 0);
  assert.equal(n.step(req([], { csg: 0, nsg: 1 })).status, 0x0200, 'CSG went back');
});

test('discovery login straight from operational stage; T=0 keeps the stage', () => {
  const n = negotiator();
  const r = n.step(req([['InitiatorName', 'iqn.a'], ['SessionType', 'Discovery'], ['MaxBurstLength', '262144']], { csg: 1, nsg: 3, transit: false }));
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
  const r = n.step(req([['InitiatorName', 'iqn.a'], ['TargetName', TARGET], ['AuthMethod', 'None']], { csg: 0, nsg: 3 }));
  assert.equal(r.status, 0);
  assert.equal(r.complete, true);
  assert.equal(n.params.maxXmitDataSegmentLength, 8192);
  assert.equal(n.params.initialR2T, true);
});
