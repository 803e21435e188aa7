import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gather, scatter, totalLength, zeroFrom } from '../../src/ringbuffer/iovec.ts';

function views() {
  const backing = Buffer.alloc(64, 0xaa);
  // three windows with gaps between them: [4,12) [20,24) [40,56)
  return { backing, v: [backing.subarray(4, 12), backing.subarray(20, 24), backing.subarray(40, 56)] };
}

test('gather: one view is returned as-is, several are concatenated', () => {
  const { backing, v } = views();
  assert.equal(gather([v[0]]), v[0]);
  backing.set([1, 2, 3, 4, 5, 6, 7, 8], 4);
  const g = gather(v);
  assert.equal(g.length, 28);
  assert.deepEqual([...g.subarray(0, 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
  const into = Buffer.alloc(40);
  assert.equal(gather(v, into).buffer, into.buffer);
  assert.throws(() => gather(v, Buffer.alloc(10)), RangeError);
});

test('scatter: fills the windows in order from an offset and never writes into the gaps', () => {
  const { backing, v } = views();
  const src = Buffer.from(Array.from({ length: 30 }, (_, i) => i + 1));
  assert.equal(scatter(v, src, 6), 22);
  assert.deepEqual([...v[0]], [0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 1, 2]);
  assert.deepEqual([...v[1]], [3, 4, 5, 6]);
  assert.deepEqual([...v[2]], Array.from({ length: 16 }, (_, i) => i + 7));
  for (const [a, b] of [[0, 4], [12, 20], [24, 40], [56, 64]]) {
    assert.ok(backing.subarray(a, b).every((x) => x === 0xaa), `gap ${a}..${b} untouched`);
  }
  assert.equal(scatter(v, src, 100), 0);
  assert.throws(() => scatter(v, src, -1), RangeError);
});

test('zeroFrom and totalLength', () => {
  const { backing, v } = views();
  assert.equal(totalLength(v), 28);
  assert.equal(zeroFrom(v, 10), 18);
  assert.ok(v[0].every((x) => x === 0xaa));
  assert.deepEqual([...v[1]], [0xaa, 0xaa, 0, 0]);
  assert.ok(v[2].every((x) => x === 0));
  assert.ok(backing.subarray(24, 40).every((x) => x === 0xaa));
});
