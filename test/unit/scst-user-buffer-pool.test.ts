// The scst_user link's pool of pinned data buffers: page-aligned anonymous mappings marked
// MADV_DONTFORK (checked in /proc/self/smaps), lent until the kernel gives them back, reused by
// size, unmapped beyond the idle budget, and never handed out twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BufferPool, PAGE_SIZE, roundToPages } from '../../src/links/scst_user/buffer-pool.ts';

function vmFlags(addr: bigint): string[] {
  const lines = readFileSync('/proc/self/smaps', 'utf8').split('\n');
  let inside = false;
  for (const l of lines) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(l);
    if (m) inside = BigInt(`0x${m[1]}`) <= addr && addr < BigInt(`0x${m[2]}`);
    else if (inside && l.startsWith('VmFlags:')) return l.slice(8).trim().split(/\s+/);
  }
  return [];
}

test('buffers are page-aligned, whole pages, zero-copy views, and not inherited by a fork (MADV_DONTFORK)', () => {
  const pool = new BufferPool();
  try {
    const b = pool.lend(10_000)!;
    assert.equal(b.length, 3 * PAGE_SIZE);
    assert.equal(b.address % BigInt(PAGE_SIZE), 0n);
    assert.ok(vmFlags(b.address).includes('dc'), `VmFlags has dc (do not copy on fork): ${vmFlags(b.address).join(' ')}`);
    b.bytes.fill(0x5a);
    assert.equal(pool.lentAt(b.address)!.bytes[9999], 0x5a, 'the same memory, by address');
    assert.equal(roundToPages(1), PAGE_SIZE);
    assert.equal(roundToPages(0), PAGE_SIZE);
  } finally {
    pool.dispose();
  }
});

test('lend / release: reuse by size, refuse unknown or double releases, idle budget', () => {
  const pool = new BufferPool({ maxIdleBytes: 2 * 65536 });
  try {
    const a = pool.lend(65536)!;
    const b = pool.lend(65536)!;
    const c = pool.lend(65536)!;
    assert.notEqual(a.address, b.address);
    assert.equal(pool.lentAt(0x1000n), undefined);
    assert.equal(pool.release(0x1000n), false, 'not ours');
    assert.equal(pool.release(a.address), true);
    assert.equal(pool.release(a.address), false, 'not lent any more');
    assert.equal(pool.lentAt(a.address), undefined, 'an idle buffer is not usable by address');
    assert.ok(pool.owns(a.address));
    pool.release(b.address);
    pool.release(c.address); // over the idle budget: unmapped
    let st = pool.stats();
    assert.deepEqual([st.lent, st.idle, st.idleBytes, st.unmapped], [0, 2, 131072, 1]);
    assert.equal(pool.owns(c.address), false);
    const d = pool.lend(65536)!;
    assert.ok(d.address === a.address || d.address === b.address, 'an idle mapping came back');
    const e = pool.lend(4096)!;
    st = pool.stats();
    assert.deepEqual([st.created, st.reused, st.lent, st.lentBytes], [4, 1, 2, 65536 + 4096]);
    assert.equal(e.length, 4096);
  } finally {
    pool.dispose();
  }
});

test('a mapping failure lends nothing (the kernel fails that command BUSY)', () => {
  const pool = new BufferPool({ map: () => { throw new Error('ENOMEM'); } });
  assert.equal(pool.lend(4096), undefined);
  assert.equal(pool.stats().lent, 0);
});
