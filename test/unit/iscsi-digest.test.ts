import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, crc32cJs, dataDigest, digestBytes, headerDigest } from '../../src/links/iscsi/digest.ts';

test('CRC32C check value', () => {
  assert.equal(crc32cJs(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test('CRC32C vectors of RFC 3720 appendix B.4', () => {
  assert.equal(crc32cJs(Buffer.alloc(32, 0)), 0x8a9136aa);
  assert.equal(crc32cJs(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  assert.equal(crc32cJs(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  assert.equal(crc32cJs(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
  // The on-wire bytes are little-endian: aa 36 91 8a for 32 zero bytes.
  assert.deepEqual([...digestBytes(0x8a9136aa)], [0xaa, 0x36, 0x91, 0x8a]);
});

test('JS and native agree, incrementally and on large buffers', () => {
  const big = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 31) & 0xff));
  assert.equal(crc32c(big), crc32cJs(big));
  const a = big.subarray(0, 1000);
  const b = big.subarray(1000, 3001);
  assert.equal(crc32cJs(b, crc32cJs(a)), crc32cJs(big.subarray(0, 3001)));
});

test('header digest covers BHS + AHS; data digest covers padding', () => {
  const bhs = Buffer.alloc(48, 0);
  bhs[0] = 0x01;
  assert.equal(headerDigest(bhs), crc32cJs(bhs));
  const ahs = Buffer.from([0, 5, 2, 0, 0, 0, 1, 0]);
  assert.equal(headerDigest(bhs, ahs), crc32cJs(Buffer.concat([bhs, ahs])));
  const data = Buffer.from('abcde');
  assert.equal(dataDigest(data), crc32cJs(Buffer.concat([data, Buffer.alloc(3)])));
  assert.equal(dataDigest(Buffer.from('abcd')), crc32cJs(Buffer.from('abcd')));
});
