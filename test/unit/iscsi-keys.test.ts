// Every operational key of RFC 7143 §13 (and RFC 7144/7145) on its legal range and its value
// format: decimal, 0x hex, boolean, list, and the malformed forms an adversarial initiator sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_OFFER, isIscsiName, negotiateOperationalKey, parseNumber, rfcDefaults, type TargetOffer } from '../../src/links/iscsi/keys.ts';
import { parseTextKeys, TextFormatError } from '../../src/links/iscsi/text.ts';

/** What the target does with key=value: answers it, takes it without answer (null), or ends the login ('ERROR'). */
type Outcome = string | null;
const ERROR = 'ERROR';
const MAX_BURST = String(DEFAULT_OFFER.maxBurstLength);

const CASES: Array<[key: string, value: string, outcome: Outcome, offer?: Partial<TargetOffer>]> = [
  // numerical values (§6.1): decimal-constant, hex-constant, below 2^64; MaxBurstLength 512..2^24-1, Minimum
  ['MaxBurstLength', '262144', '262144'],
  ['MaxBurstLength', '0x40000', '262144'],
  ['MaxBurstLength', '0X40000', '262144'],
  ['MaxBurstLength', '0x0000040000', '262144'],
  ['MaxBurstLength', '512', '512'],
  ['MaxBurstLength', '511', 'Reject'],
  ['MaxBurstLength', '16777215', MAX_BURST],
  ['MaxBurstLength', '16777216', 'Reject'],
  ['MaxBurstLength', '18446744073709551615', 'Reject'],
  ['MaxBurstLength', '0xFFFFFFFFFFFFFFFF', 'Reject'],
  ['MaxBurstLength', '18446744073709551616', ERROR],
  ['MaxBurstLength', '0x10000000000000000', ERROR],
  ['MaxBurstLength', '999999999999999999999999', ERROR],
  ['MaxBurstLength', '0b101', ERROR],
  ['MaxBurstLength', ' 512', ERROR],
  ['MaxBurstLength', '512 ', ERROR],
  ['MaxBurstLength', '+512', ERROR],
  ['MaxBurstLength', '-1', ERROR],
  ['MaxBurstLength', '0512', ERROR],
  ['MaxBurstLength', '', ERROR],
  ['MaxBurstLength', '1e6', ERROR],
  ['MaxBurstLength', '512.0', ERROR],
  ['MaxBurstLength', '0x', ERROR],
  ['MaxBurstLength', '0xg0', ERROR],
  ['MaxBurstLength', '\uff15\uff11\uff12', ERROR],
  ['FirstBurstLength', '65536', '65536'],
  ['FirstBurstLength', '511', 'Reject'],
  ['FirstBurstLength', '16777216', 'Reject'],
  ['MaxOutstandingR2T', '1', '1'],
  ['MaxOutstandingR2T', '65535', String(DEFAULT_OFFER.maxOutstandingR2T)],
  ['MaxOutstandingR2T', '0', 'Reject'],
  ['MaxOutstandingR2T', '65536', 'Reject'],
  ['DefaultTime2Wait', '0', String(DEFAULT_OFFER.defaultTime2Wait)],
  ['DefaultTime2Wait', '3600', '3600'],
  ['DefaultTime2Wait', '3601', 'Reject'],
  ['DefaultTime2Retain', '0', '0'],
  ['DefaultTime2Retain', '3600', String(DEFAULT_OFFER.defaultTime2Retain)],
  ['DefaultTime2Retain', '3601', 'Reject'],
  ['ErrorRecoveryLevel', '0', '0'],
  ['ErrorRecoveryLevel', '2', '0'],
  ['ErrorRecoveryLevel', '3', 'Reject'],
  ['ErrorRecoveryLevel', 'zero', ERROR],
  ['MaxConnections', '1', '1'],
  ['MaxConnections', '65535', '1'],
  ['MaxConnections', '0', 'Reject'],
  ['MaxConnections', '65536', 'Reject'],
  ['iSCSIProtocolLevel', '0', '0'],
  ['iSCSIProtocolLevel', '1', '1'],
  ['iSCSIProtocolLevel', '31', '1'],
  ['iSCSIProtocolLevel', '32', 'Reject'],
  ['iSCSIProtocolLevel', 'one', ERROR],
  // boolean values: exactly Yes or No; Or / And result functions
  ['InitialR2T', 'Yes', 'Yes'],
  ['InitialR2T', 'No', 'No'],
  ['InitialR2T', 'No', 'Yes', { initialR2T: true }],
  ['InitialR2T', 'yes', ERROR],
  ['InitialR2T', 'YES', ERROR],
  ['InitialR2T', 'No ', ERROR],
  ['InitialR2T', '', ERROR],
  ['ImmediateData', 'Yes', 'Yes'],
  ['ImmediateData', 'No', 'No'],
  ['ImmediateData', 'Yes', 'No', { immediateData: false }],
  ['ImmediateData', 'Maybe', ERROR],
  ['DataPDUInOrder', 'No', 'Yes'],
  ['DataPDUInOrder', 'Yes', 'Yes'],
  ['DataPDUInOrder', '1', ERROR],
  ['DataSequenceInOrder', 'No', 'Yes'],
  ['DataSequenceInOrder', 'True', ERROR],
  // §13.25: obsoleted marker keys; RFC 7145: iSER is not for TCP
  ['OFMarker', 'Yes', 'No'],
  ['IFMarker', 'No', 'No'],
  ['IFMarker', 'x', ERROR],
  ['OFMarkInt', '2048~8192', 'Reject'],
  ['IFMarkInt', '2048~8192', 'Reject'],
  ['RDMAExtensions', 'Yes', 'No'],
  ['RDMAExtensions', 'Si', ERROR],
  // list values: the first of the initiator's list we support (§6.2.1), unknown values ignored
  ['HeaderDigest', 'CRC32C,None', 'CRC32C'],
  ['HeaderDigest', 'None,CRC32C', 'None'],
  ['HeaderDigest', 'MD5,None', 'None'],
  ['HeaderDigest', 'MD5', 'Reject'],
  ['HeaderDigest', 'None,,CRC32C', ERROR],
  ['HeaderDigest', 'CRC32C,', ERROR],
  ['HeaderDigest', '', ERROR],
  ['DataDigest', 'CRC32C', 'Reject', { dataDigests: ['None'] }],
  ['DataDigest', 'CRC32C,None', 'CRC32C'],
  ['TaskReporting', 'ResponseFence,RFC3720', 'RFC3720'],
  ['TaskReporting', 'FastAbort', 'Reject'],
  ['TaskReporting', ',RFC3720', ERROR],
  // declarations: taken without an answer, or the login ends (there is no answer to refuse one)
  ['MaxRecvDataSegmentLength', '512', null],
  ['MaxRecvDataSegmentLength', '0x200', null],
  ['MaxRecvDataSegmentLength', '16777215', null],
  ['MaxRecvDataSegmentLength', '511', ERROR],
  ['MaxRecvDataSegmentLength', '16777216', ERROR],
  ['MaxRecvDataSegmentLength', '0', ERROR],
  ['MaxRecvDataSegmentLength', '0b101', ERROR],
  ['MaxRecvDataSegmentLength', '999999999999999999999999', ERROR],
  ['MaxRecvDataSegmentLength', ' 512', ERROR],
  ['InitiatorAlias', 'host', null],
  ['InitiatorAlias', 'a'.repeat(255), null],
  ['InitiatorAlias', 'a'.repeat(256), ERROR],
  ['HeaderDigest', `None${',CRC32C'.repeat(42)}`, ERROR],
  // keys only targets send (§13.6, §13.8, §13.9)
  ['TargetAlias', 'x', ERROR],
  ['TargetAddress', '127.0.0.1:3260,1', ERROR],
  ['TargetPortalGroupTag', '1', ERROR],
  // answer constants offered as values (§6.2)
  ['MaxBurstLength', 'Reject', ERROR],
  ['HeaderDigest', 'NotUnderstood', ERROR],
  ['InitialR2T', 'Irrelevant', ERROR],
  // keys we do not know; SendTargets belongs to the full feature phase (§13.3)
  ['X-com.example.Foo', 'bar', 'NotUnderstood'],
  ['X#NodeArchitecture', 'x', 'NotUnderstood'],
  ['FooBar', '1', 'NotUnderstood'],
  ['SendTargets', 'All', 'Irrelevant'],
];

test('RFC 7143 §13 key table: every key on its range and format, malformed forms refused', () => {
  for (const [k, v, want, o] of CASES) {
    const out = negotiateOperationalKey(k, v, { ...DEFAULT_OFFER, ...o }, rfcDefaults(), false);
    const got = out.error !== undefined ? ERROR : (out.answer ?? null);
    assert.equal(got, want, `${k}=${JSON.stringify(v)}: ${out.error ?? ''}`);
    if (out.error !== undefined) assert.equal(out.answer, undefined, 'an error is never also answered');
  }
});

test('negotiated values land in the session parameters; refused ones leave the defaults', () => {
  const p = rfcDefaults();
  negotiateOperationalKey('MaxRecvDataSegmentLength', '0x200', DEFAULT_OFFER, p, false);
  assert.equal(p.maxXmitDataSegmentLength, 512);
  for (const bad of ['0b101', '999999999999999999999999', ' 512', '511']) {
    const q = rfcDefaults();
    negotiateOperationalKey('MaxRecvDataSegmentLength', bad, DEFAULT_OFFER, q, false);
    assert.equal(q.maxXmitDataSegmentLength, 8192, bad);
  }
  negotiateOperationalKey('HeaderDigest', 'CRC32C', DEFAULT_OFFER, p, false);
  assert.equal(p.headerDigest, true);
  negotiateOperationalKey('MaxBurstLength', '100', DEFAULT_OFFER, p, false);
  assert.equal(p.maxBurstLength, 262144, 'Reject keeps the default (§6.2)');
  negotiateOperationalKey('MaxBurstLength', '0x10000', DEFAULT_OFFER, p, false);
  assert.equal(p.maxBurstLength, 65536);
});

test('discovery session: session-wide keys of a normal session are Irrelevant', () => {
  const keys = ['MaxBurstLength', 'FirstBurstLength', 'MaxOutstandingR2T', 'MaxConnections', 'InitialR2T', 'ImmediateData', 'DataPDUInOrder', 'DataSequenceInOrder', 'TaskReporting'];
  for (const k of keys) {
    const v = k === 'TaskReporting' ? 'RFC3720' : /Length|Max/.test(k) ? '1024' : 'Yes';
    assert.equal(negotiateOperationalKey(k, v, DEFAULT_OFFER, rfcDefaults(), true).answer, 'Irrelevant', k);
  }
  assert.equal(negotiateOperationalKey('HeaderDigest', 'None', DEFAULT_OFFER, rfcDefaults(), true).answer, 'None');
  assert.equal(negotiateOperationalKey('MaxRecvDataSegmentLength', '0b1', DEFAULT_OFFER, rfcDefaults(), true).answer, undefined);
  assert.ok(negotiateOperationalKey('MaxRecvDataSegmentLength', '0b1', DEFAULT_OFFER, rfcDefaults(), true).error);
});

test('parseNumber: decimal and hex constants below 2^64, nothing else', () => {
  const ok: Array<[string, number]> = [['0', 0], ['7', 7], ['512', 512], ['0x0', 0], ['0Xff', 255], ['0x00000200', 512], ['16777215', 0xffffff]];
  for (const [s, n] of ok) assert.equal(parseNumber(s), n, s);
  for (const s of ['', ' 1', '1 ', '01', '+1', '-1', '0b101', '0x', 'x1', '1_000', '1,000', '18446744073709551616', '0x1' + '0'.repeat(16), 'NaN', 'Infinity']) {
    assert.equal(parseNumber(s), undefined, JSON.stringify(s));
  }
  assert.ok(parseNumber('18446744073709551615')! > 0xffffff, '2^64-1 parses, for range checks to refuse');
});

test('isIscsiName: iqn., eui. and naa. names of RFC 7143 §4.2.7', () => {
  const valid = [
    'iqn.2026-11.test:disk',
    'iqn.1993-08.org.debian:01:abc',
    'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-inq',
    'iqn.2001-04.com.example',
    'iqn.2001-04.com.example:storage.disk2.sys1.xyz',
    'IQN.2001-04.COM.EXAMPLE:Storage',
    'eui.02004567A425678D',
    'naa.52004567BA64678D',
    'naa.62004567BA64678D0123456789ABCDEF',
    `iqn.2001-04.com.example:${'a'.repeat(223 - 'iqn.2001-04.com.example:'.length)}`,
  ];
  const invalid = [
    '',
    'host1',
    'Reject',
    'iqn.a',
    'iqn.x',
    'iqn.2001-13.com.example',
    'iqn.01-04.com.example',
    'iqn.2001-04',
    'iqn.2001-04.',
    'iqn.2001-04.com..example',
    'iqn.2001-04.-com',
    'iqn.2001-04.com.example:',
    'iqn.2001-04.com.example:has space',
    'iqn.2001-04.com.example:under_score',
    'iqn.2001-04.com.example:nul\u0000',
    `iqn.2001-04.com.example:${'a'.repeat(224 - 'iqn.2001-04.com.example:'.length)}`,
    'eui.02004567A425678',
    'eui.02004567A425678DX',
    'naa.1234',
    'naa.52004567BA64678D0',
  ];
  for (const n of valid) assert.equal(isIscsiName(n), true, n);
  for (const n of invalid) assert.equal(isIscsiName(n), false, JSON.stringify(n));
});

test('text keys: key names of §6.1 only', () => {
  assert.deepEqual(parseTextKeys(Buffer.from('iSCSIProtocolLevel=1\0X#NodeArchitecture=a\0X-com.example.v1_2+x@y=1\0')), [
    ['iSCSIProtocolLevel', '1'],
    ['X#NodeArchitecture', 'a'],
    ['X-com.example.v1_2+x@y', '1'],
  ]);
  for (const bad of ['Max Burst=1\0', '1Key=1\0', 'Key\u0001=1\0', 'Key#=1\0', '-Key=1\0', 'Ünïcode=1\0']) {
    assert.throws(() => parseTextKeys(Buffer.from(bad)), TextFormatError, JSON.stringify(bad));
  }
});
