import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeTextKeys, parseTextKeys, TextAccumulator, TextFormatError, TextSender } from '../../src/links/iscsi/text.ts';

test('parse key=value pairs', () => {
  const d = Buffer.from('InitiatorName=iqn.1993-08.org.debian:01:abc\0SessionType=Normal\0Empty=\0A=b=c\0');
  assert.deepEqual(parseTextKeys(d), [
    ['InitiatorName', 'iqn.1993-08.org.debian:01:abc'],
    ['SessionType', 'Normal'],
    ['Empty', ''],
    ['A', 'b=c'],
  ]);
  assert.deepEqual(parseTextKeys(Buffer.from('X=1\0\0\0')), [['X', '1']], 'padding NULs');
  assert.deepEqual(parseTextKeys(Buffer.from('X=1')), [['X', '1']], 'missing final NUL');
  assert.throws(() => parseTextKeys(Buffer.from('novalue\0')), TextFormatError);
  assert.throws(() => parseTextKeys(Buffer.from('=v\0')), TextFormatError);
  assert.throws(() => parseTextKeys(Buffer.from('K'.repeat(64) + '=v\0')), TextFormatError);
});

test('encode', () => {
  assert.deepEqual(encodeTextKeys([['A', '1'], ['B', 'x']]), Buffer.from('A=1\0B=x\0'));
  assert.equal(encodeTextKeys([]).length, 0);
});

test('continuation: a key split across PDUs (C bit)', () => {
  const acc = new TextAccumulator();
  assert.equal(acc.add(Buffer.from('Initiator'), true), undefined);
  assert.equal(acc.pending, true);
  assert.equal(acc.add(Buffer.from('Name=iqn.a\0Sess'), true), undefined);
  const all = acc.add(Buffer.from('ionType=Normal\0'), false)!;
  assert.deepEqual(parseTextKeys(all), [['InitiatorName', 'iqn.a'], ['SessionType', 'Normal']]);
  assert.equal(acc.pending, false);
  const small = new TextAccumulator(10);
  assert.throws(() => small.add(Buffer.alloc(11, 0x41), true), TextFormatError);
});

test('sender splits long answers into C=1 pieces', () => {
  const s = new TextSender(Buffer.from('0123456789'));
  assert.deepEqual(s.nextPiece(4), { data: Buffer.from('0123'), cont: true });
  assert.deepEqual(s.nextPiece(4), { data: Buffer.from('4567'), cont: true });
  assert.deepEqual(s.nextPiece(4), { data: Buffer.from('89'), cont: false });
  assert.equal(s.done, true);
});
