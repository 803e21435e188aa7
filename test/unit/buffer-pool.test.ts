// The I/O buffer pool: size classes, reuse after release, page alignment, the idle bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../src/backing/buffer-pool.ts';
import { addressOf } from '../../src/ffi/memory.ts';

test('buffers come in power-of-two classes from 4 KiB, page-aligned, and are reused once given back', () => {
  const pool = new BufferPool(1 << 20);
  assert.deepEqual([1, 4096, 4097, 12288, 65536, 65537, 1 << 20, (1 << 20) + 1].map((n) => pool.take(n).length), [4096, 4096, 8192, 16384, 65536, 131072, 1 << 20, 2 << 20]);
  const a = pool.take(4096);
  const b = pool.take(4096);
  assert.notEqual(a.byteOffset === b.byteOffset && a.buffer === b.buffer, true, 'two buffers taken are different memory');
  for (const x of [a, b, pool.take(300_000)]) assert.equal(addressOf(x) % 4096n, 0n);
  const allocated = pool.stats.allocated;
  pool.give(a);
  const again = pool.take(512);
  assert.equal(again.buffer, a.buffer);
  assert.equal(again.byteOffset, a.byteOffset, 'the given-back buffer is handed out again');
  assert.equal(pool.stats.allocated, allocated);
  assert.equal(pool.stats.reused, 1);
});

test('the pool keeps at most maxIdleBytes of idle buffers; the rest are left to the GC', () => {
  const pool = new BufferPool(64 << 10);
  const bufs = Array.from({ length: 20 }, () => pool.take(4096));
  for (const b of bufs) pool.give(b);
  assert.equal(pool.idle, 64 << 10);
  assert.equal(pool.stats.dropped, 4);
  pool.give(pool.take(128 << 10)); // larger than the whole bound
  assert.equal(pool.idle, 64 << 10);
});
