// The page cache's memory and index on their own: budget, LRU order, dirty and pinned pages
// never evicted, copy on write, waiting for room, counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAGE_SIZE, PageCache, type Frame } from '../../src/backing/page-cache.ts';
import { addressOf } from '../../src/ffi/memory.ts';
import { joinAdjacent } from '../../src/backing/buffers.ts';
import { runsOf, pageBuffers } from '../../src/backing/page-writeback.ts';
import { prng } from '../helpers/prng.ts';

function put(c: PageCache, page: number, fill = page & 0xff): Frame {
  const f = c.allocate();
  assert.ok(f, `a frame for page ${page}`);
  f.buf.fill(fill);
  c.insertClean(page, f);
  return f;
}

test('the budget is a whole number of pages; frames are page-aligned slab memory', () => {
  const c = new PageCache(10 * PAGE_SIZE + 100, 4 * PAGE_SIZE);
  assert.equal(c.capacity, 10);
  assert.equal(c.budget, 10 * PAGE_SIZE);
  const frames: Frame[] = [];
  for (let i = 0; i < 10; i++) frames.push(put(c, i));
  for (const f of frames) assert.equal(addressOf(f.buf) % BigInt(PAGE_SIZE), 0n, 'aligned for O_DIRECT');
  // slabs of 4 pages: frames 0..3 lie next to each other
  assert.equal(joinAdjacent(frames.slice(0, 4).map((f) => f.buf)).length, 1);
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
  assert.equal(c.peek(1), undefined, 'page 1 evicted');
  assert.ok(c.peek(0));
  put(c, 11);
  assert.equal(c.peek(2), undefined, 'then page 2');
  assert.equal(c.stats.evictions, 2);
  c.check();
});

test('dirty pages are never evicted: with every page dirty there is no frame until one is cleaned', async () => {
  const c = new PageCache(3 * PAGE_SIZE);
  const frames = [0, 1, 2].map((p) => put(c, p));
  for (const f of frames) c.markDirty(f);
  assert.equal(c.dirtyCount, 3);
  assert.equal(c.allocate(), undefined);
  let pressure = 0;
  c.onPressure = () => pressure++;
  let got: Frame | undefined;
  const waiting = c.allocateWaiting().then((f) => (got = f));
  await new Promise((r) => setImmediate(r));
  assert.equal(got, undefined, 'the writer waits');
  assert.equal(c.stats.stalls, 1);
  assert.ok(pressure >= 1, 'and asks for write-back');
  c.markClean(frames[1]!);
  await waiting;
  assert.ok(got);
  assert.equal(c.peek(1), undefined, 'the cleaned page made room');
  assert.ok(c.peek(0) && c.peek(2), 'the dirty ones stayed');
  c.insertClean(7, got!);
  c.check();
});

test('eviction detaches a pinned LRU page and takes the next one', () => {
  const c = new PageCache(2 * PAGE_SIZE);
  const a = put(c, 0, 0xaa);
  const b = put(c, 1, 0xbb);
  c.pin(a);
  const g = c.allocate();
  assert.equal(g, b, 'the unpinned page 1 was evicted');
  assert.equal(c.peek(0), undefined, 'pinned page 0 detached from the index');
  assert.equal(a.state, 'detached');
  assert.ok(a.buf.every((x) => x === 0xaa), 'its bytes are untouched');
  c.insertClean(5, g!);
  c.markDirty(g!);
  assert.equal(c.allocate(), undefined, 'the detached frame is not free yet');
  c.unpin(a);
  const h = c.allocate();
  assert.equal(h, a, 'reused after unpin');
  c.insertClean(6, h!);
  c.check();
});

test('copy on write: the pinned page keeps its bytes, the index and the dirty order move to the copy', () => {
  const c = new PageCache(4 * PAGE_SIZE);
  const a = put(c, 3, 0x11);
  const b = put(c, 4, 0x22);
  c.markDirty(a);
  c.markDirty(b);
  const since = a.dirtySince;
  c.pin(a);
  const g = c.allocate()!;
  c.replace(a, g);
  g.buf.fill(0x99, 0, 512);
  assert.ok(a.buf.every((x) => x === 0x11), 'what is being sent did not change');
  assert.equal(c.peek(3), g);
  assert.equal(g.state, 'dirty');
  assert.equal(g.dirtySince, since);
  assert.deepEqual([...c.dirtyFrames()].map((f) => f.page), [3, 4], 'still the oldest dirty page');
  assert.equal(c.stats.copies, 1);
  c.unpin(a);
  c.check();
  assert.equal(c.usedBytes, 2 * PAGE_SIZE, 'the old frame was freed');
});

test('loading pages: waiters are released when the page settles or is abandoned', async () => {
  const c = new PageCache(4 * PAGE_SIZE);
  const f = c.allocate()!;
  c.insertLoading(9, f);
  assert.equal(c.get(9)?.state, 'loading');
  const loaded = f.loaded!;
  c.settleLoaded(f);
  await loaded;
  assert.equal(c.get(9)?.state, 'clean');
  const g = c.allocate()!;
  c.insertLoading(10, g);
  const l2 = g.loaded!;
  c.abandonLoad(g);
  await l2;
  assert.equal(c.get(10), undefined);
  assert.throws(() => c.unpin(f), /unpinned more often/);
  c.check();
});

test('random workload: the budget is never exceeded and every frame is accounted for', () => {
  const pages = 64;
  const c = new PageCache(16 * PAGE_SIZE, 4 * PAGE_SIZE);
  const rnd = prng(12345);
  const pins: Frame[] = [];
  for (let step = 0; step < 20000; step++) {
    const p = rnd(pages);
    const op = rnd(10);
    const f = c.get(p);
    if (op < 4) {
      if (!f) {
        const g = c.allocate();
        if (g) c.insertClean(p, g);
      }
    } else if (op < 5) {
      if (f && f.state !== 'loading') {
        if (f.pins > 0) {
          const g = c.allocate();
          if (g) {
            c.replace(f, g);
            c.markDirty(g);
          }
        } else c.markDirty(f);
      }
    } else if (op < 7) {
      const d = [...c.dirtyFrames()][0];
      if (d) c.markClean(d);
    } else if (op < 8) {
      if (f && f.state !== 'loading' && pins.length < 6) {
        c.pin(f);
        pins.push(f);
      }
    } else if (op < 9) {
      const x = pins.splice(rnd(pins.length + 1), 1)[0];
      if (x) c.unpin(x);
    } else if (f && f.state !== 'loading') c.remove(f);
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
  const frames: Frame[] = [];
  for (const p of [5, 3, 4, 9, ...Array.from({ length: 300 }, (_, i) => 1000 + i)]) frames.push(put(c, p));
  const runs = runsOf(frames);
  assert.deepEqual(
    runs.map((r) => [r[0]!.page, r.length]),
    [
      [3, 3],
      [9, 1],
      [1000, 256],
      [1256, 44],
    ],
  );
  // pages 3,4,5 were carved in the order 5,3,4: not adjacent in memory as 3,4,5 -> 3 iovecs at most
  const bufs = pageBuffers(runs[2]!, 1 << 30);
  assert.equal(bufs.length, 1, '256 pages carved in order: one buffer');
  assert.equal(bufs[0]!.length, 256 * PAGE_SIZE);
  // the last page of a store that ends mid-page is short
  const tail = pageBuffers([runs[1]![0]!], 9 * PAGE_SIZE + 512);
  assert.equal(tail[0]!.length, 512);
});
