// The write-back against a store whose writes we hold open: which pages a run writes when frames
// change hands while it waits for the page lock, and that pressure never starts a run in the
// middle of a write that is still copying into its pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE, PAGE_SIZE, PageCache } from '../../src/backing/page-cache.ts';
import { RangeLock } from '../../src/backing/range-lock.ts';
import { Writeback, type PagedStore } from '../../src/backing/page-writeback.ts';

/** A store that records each write and completes it when the test says so. */
function heldStore(size: number) {
  const writes: Array<{ page: number; pages: number; done: () => void }> = [];
  const store = {
    size,
    readOnly: false,
    writesAreDurable: false,
    writeBuffers(offset: number, bufs: readonly Buffer[]): Promise<void> {
      const bytes = bufs.reduce((n, b) => n + b.length, 0);
      return new Promise<void>((done) => writes.push({ page: offset / PAGE_SIZE, pages: bytes / PAGE_SIZE, done }));
    },
    readInto: () => Promise.resolve(),
    read: () => Promise.reject(new Error('unused')),
    write: () => Promise.reject(new Error('unused')),
    deallocate: () => Promise.resolve(),
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
    describe: () => ({}),
  } satisfies PagedStore;
  return { store, writes };
}

/** A cache of `pages` pages, its page lock and a write-back into a held store (no age-based runs). */
function writebackOver(pages: number) {
  const cache = new PageCache(pages * PAGE_SIZE);
  const lock = new RangeLock();
  const { store, writes } = heldStore(1 << 20);
  const wb = new Writeback({ cache, lock, store, dirtyAgeMs: 60_000 });
  return { cache, lock, writes, wb };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

function dirtyPage(c: PageCache, page: number): number {
  const f = c.allocate();
  assert.notEqual(f, NONE);
  c.insertDirty(page, f);
  return f;
}

test('a run waiting for the page lock writes the pages it was given, not the frame that was reused for another page', async () => {
  const { cache, lock, writes, wb } = writebackOver(2);
  try {
    const f = dirtyPage(cache, 5);
    const holdA = await lock.acquire(5n, 1, 'exclusive'); // a store write of page 5 in progress
    const flushing = wb.flush();
    await turn();
    assert.equal(writes.length, 0, 'the run waits for page 5');
    // meanwhile page 5 is written and dropped, and its frame becomes page 9, dirty, while a
    // store write of page 9 holds page 9
    cache.markClean(f);
    cache.remove(f);
    let g = cache.allocate();
    while (g !== f) g = cache.allocate();
    cache.insertDirty(9, g);
    const holdB = await lock.acquire(9n, 1, 'exclusive');
    holdA();
    await turn();
    assert.deepEqual(writes, [], 'page 9 was not written without its lock');
    await flushing;
    assert.equal(cache.dirtyCount, 1, 'page 9 is still dirty');
    holdB();
  } finally {
    wb.stop();
  }
});

test('pressure noticed while a write marks its pages dirty starts the write-back after the write, not inside it', async () => {
  const { cache, writes, wb } = writebackOver(4);
  try {
    dirtyPage(cache, 0);
    dirtyPage(cache, 1);
    // a write of pages 2 and 3: the third dirty page passes half of the cache
    const f2 = cache.allocate();
    cache.insertDirty(2, f2);
    assert.equal(cache.pinnedFrames, 0, 'no run pinned pages in the middle of the write');
    const f3 = cache.allocate();
    cache.copyIn(f3, 0, Buffer.alloc(PAGE_SIZE, 0x33)); // would throw on a pinned frame
    cache.insertDirty(3, f3);
    await turn();
    assert.ok(writes.length > 0, 'the write-back started once the write was done');
    assert.deepEqual(
      writes.map((w) => [w.page, w.pages]),
      [[0, 4]],
      'one run of all four pages',
    );
    for (const w of writes) w.done();
    await turn();
    assert.equal(cache.dirtyCount, 0);
  } finally {
    wb.stop();
  }
});
