// The page cache's memory and index on their own: budget, LRU order, dirty and pinned pages
// never evicted, copy on write, waiting for room, counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLEAN, DETACHED, DIRTY, LOADING, NONE, PAGE_SIZE, PageCache } from '../../src/backing/page-cache.ts';
import { addressOf } from '../../src/ffi/memory.ts';
import { runsOf, pageBuffers } from '../../src/backing/page-writeback.ts';
import { prng } from '../helpers/prng.ts';

function put(c: PageCache, page: number, fill = page & 0xff): number {
  const f = c.allocate();
  assert.notEqual(f, NONE, `a frame for page ${page}`);
  c.view(f).fill(fill);
  c.insertClean(page, f);
  return f;
}

const bytesOf = (c: PageCache, f: number) => Buffer.from(c.view(f));

test('the budget is a whole number of pages; frames are page-aligned slab memory', () => {
  const c = new PageCache(10 * PAGE_SIZE + 100, 4 * PAGE_SIZE);
  assert.equal(c.capacity, 10);
  assert.equal(c.budget, 10 * PAGE_SIZE);
  const frames: number[] = [];
  for (let i = 0; i < 10; i++) frames.push(put(c, i));
  for (const f of frames) assert.equal(addressOf(c.view(f)) % BigInt(PAGE_SIZE), 0n, 'aligned for O_DIRECT');
  // slabs of 4 pages: frames 0..3 lie next to each other and make one segment; 3 and 4 do not
  assert.equal(c.segments(frames.slice(0, 4), 0, PAGE_SIZE).length, 1);
  assert.equal(c.segments(frames.slice(2, 6), 0, PAGE_SIZE).length, 2);
  const seg = c.segments(frames.slice(0, 3), 100, 200);
  assert.equal(seg[0]!.length, 2 * PAGE_SIZE - 100 + 200, 'head and tail cut');
  assert.equal(c.allocatedBytes, 10 * PAGE_SIZE);
  assert.throws(() => new PageCache(100), /smaller than one/);
  c.check();
});

test('clean pages are evicted least recently used first; get() refreshes, peek() does not', () => {
  const c = new PageCache(4 * PAGE_SIZE);
  for (let p = 0; p < 4; p++) put(c, p);
  c.get(0); // 0 is now the most recent: 1 goes first
  c.peek(1);
  put(c, 10);
  assert.equal(c.peek(1), NONE, 'page 1 evicted');
  assert.notEqual(c.peek(0), NONE);
  put(c, 11);
  assert.equal(c.peek(2), NONE, 'then page 2');
  assert.equal(c.stats.evictions, 2);
  c.check();
});

test('dirty pages are never evicted: with every page dirty there is no frame until one is cleaned', async () => {
  const c = new PageCache(3 * PAGE_SIZE);
  const frames = [0, 1, 2].map((p) => put(c, p));
  for (const f of frames) c.markDirty(f);
  assert.equal(c.dirtyCount, 3);
  assert.equal(c.allocate(), NONE);
  assert.equal(c.allocateUnused(), NONE);
  let pressure = 0;
  c.onPressure = () => pressure++;
  let got = NONE;
  const waiting = c.allocateWaiting().then((f) => (got = f));
  await new Promise((r) => setImmediate(r));
  assert.equal(got, NONE, 'the writer waits');
  assert.equal(c.stats.stalls, 1);
  assert.ok(pressure >= 1, 'and asks for write-back');
  c.markClean(frames[1]!);
  await waiting;
  assert.notEqual(got, NONE);
  assert.equal(c.peek(1), NONE, 'the cleaned page made room');
  assert.ok(c.peek(0) !== NONE && c.peek(2) !== NONE, 'the dirty ones stayed');
  c.insertClean(7, got);
  // a failed write-back fails the waiters instead of leaving them waiting
  c.markDirty(got);
  const failing = c.allocateWaiting();
  c.failRoomWaiters(new Error('disk full'));
  await assert.rejects(failing, /disk full/);
  c.check();
});

test('a writer does not wait for frames pinned by sends: with nothing dirty, allocateWaiting answers NONE at once', async () => {
  const c = new PageCache(2 * PAGE_SIZE);
  const frames = [0, 1].map((p) => put(c, p));
  for (const f of frames) c.pin(f);
  assert.equal(await c.allocateWaiting(), NONE);
  assert.equal(c.stats.stalls, 0);
  c.unpin(frames[0]!);
  assert.notEqual(await c.allocateWaiting(), NONE, 'an unpinned clean page is evicted for it');
});

test('eviction detaches a pinned LRU page and takes the next one; its frame comes back after unpin', () => {
  const c = new PageCache(2 * PAGE_SIZE);
  const a = put(c, 0, 0xaa);
  const b = put(c, 1, 0xbb);
  c.pin(a);
  const g = c.allocate();
  assert.equal(g, b, 'the unpinned page 1 was evicted');
  assert.equal(c.peek(0), NONE, 'pinned page 0 detached from the index');
  assert.equal(c.state(a), DETACHED);
  assert.ok(bytesOf(c, a).every((x) => x === 0xaa), 'its bytes are untouched');
  c.insertClean(5, g);
  c.markDirty(g);
  assert.equal(c.allocate(), NONE, 'the detached frame is not free yet');
  c.unpin(a);
  const h = c.allocate();
  assert.equal(h, a, 'reused after unpin');
  c.insertClean(6, h);
  c.check();
});

test('copy on write: the pinned page keeps its bytes, the index and the dirty order move to the copy', () => {
  const c = new PageCache(4 * PAGE_SIZE);
  const a = put(c, 3, 0x11);
  const b = put(c, 4, 0x22);
  c.markDirty(a);
  c.markDirty(b);
  const since = c.dirtySince(a);
  c.pin(a);
  const g = c.allocate();
  c.replace(a, g);
  c.copyIn(g, 0, Buffer.alloc(512, 0x99));
  assert.ok(bytesOf(c, a).every((x) => x === 0x11), 'what is being sent did not change');
  assert.deepEqual(bytesOf(c, g).subarray(510, 514), Buffer.from([0x99, 0x99, 0x11, 0x11]));
  assert.equal(c.peek(3), g);
  assert.equal(c.state(g), DIRTY);
  assert.equal(c.dirtySince(g), since);
  assert.deepEqual([...c.dirtyFrames()].map((f) => c.page(f)), [3, 4], 'still the oldest dirty page');
  assert.equal(c.stats.copies, 1);
  c.unpin(a);
  c.check();
  assert.equal(c.usedBytes, 2 * PAGE_SIZE, 'the old frame was freed');
});

test('loading pages: waiters are released when the page settles or is abandoned', async () => {
  const c = new PageCache(4 * PAGE_SIZE);
  const f = c.allocate();
  c.insertLoading(9, f);
  assert.equal(c.state(c.get(9)), LOADING);
  const loaded = c.loaded(f)!;
  c.settleLoaded(f);
  await loaded;
  assert.equal(c.state(c.get(9)), CLEAN);
  assert.equal(c.loaded(f), undefined);
  const g = c.allocate();
  c.insertLoading(10, g);
  const l2 = c.loaded(g)!;
  assert.throws(() => c.remove(g), /being read in/);
  c.abandonLoad(g);
  await l2;
  assert.equal(c.get(10), NONE);
  assert.throws(() => c.unpin(f), /unpinned more often/);
  c.check();
});

test('random workload: the budget is never exceeded and every frame is accounted for', () => {
  const pages = 64;
  const c = new PageCache(16 * PAGE_SIZE, 4 * PAGE_SIZE);
  const rnd = prng(12345);
  const pins: number[] = [];
  for (let step = 0; step < 20000; step++) {
    const p = rnd(pages);
    const op = rnd(10);
    const f = c.get(p);
    const settled = f !== NONE && c.state(f) !== LOADING;
    if (op < 4) {
      if (f === NONE) {
        const g = c.allocate();
        if (g !== NONE) c.insertClean(p, g);
      }
    } else if (op < 5) {
      if (settled) {
        if (c.pins(f) > 0) {
          const g = c.allocate();
          if (g !== NONE) {
            c.replace(f, g);
            c.markDirty(g);
          }
        } else c.markDirty(f);
      }
    } else if (op < 7) {
      const d = [...c.dirtyFrames()][0];
      if (d !== undefined) c.markClean(d);
    } else if (op < 8) {
      if (settled && pins.length < 6) {
        c.pin(f);
        pins.push(f);
      }
    } else if (op < 9) {
      const x = pins.splice(rnd(pins.length + 1), 1)[0];
      if (x !== undefined) c.unpin(x);
    } else if (settled) c.remove(f);
    assert.ok(c.usedBytes <= c.budget, `step ${step}: ${c.usedBytes} > ${c.budget}`);
    assert.ok(c.allocatedBytes <= c.budget);
    if (step % 100 === 0) c.check();
  }
  for (const x of pins) c.unpin(x);
  c.check();
  assert.ok(c.stats.evictions > 0 && c.stats.copies > 0, `the workload evicted and copied: ${JSON.stringify(c.stats)}`);
});

test('write-back runs: sorted, consecutive, at most 256 pages; adjacent frames become one iovec', () => {
  const c = new PageCache(600 * PAGE_SIZE, 4 << 20);
  const frames: number[] = [];
  for (const p of [5, 3, 4, 9, ...Array.from({ length: 300 }, (_, i) => 1000 + i)]) frames.push(put(c, p));
  const runs = runsOf(c, frames);
  assert.deepEqual(
    runs.map((r) => [c.page(r[0]!), r.length]),
    [
      [3, 3],
      [9, 1],
      [1000, 256],
      [1256, 44],
    ],
  );
  // pages 3,4,5 sit in frames carved as 5,3,4: two pieces
  assert.equal(pageBuffers(c, runs[0]!, 1 << 30).length, 2);
  const bufs = pageBuffers(c, runs[2]!, 1 << 30);
  assert.equal(bufs.length, 1, '256 pages carved in order: one buffer');
  assert.equal(bufs[0]!.length, 256 * PAGE_SIZE);
  // the last page of a store that ends mid-page is short
  const tail = pageBuffers(c, runs[1]!, 9 * PAGE_SIZE + 512);
  assert.equal(tail[0]!.length, 512);
});
