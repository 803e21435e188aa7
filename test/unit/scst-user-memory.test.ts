// Memory reuse through the link and the kernel model: with REUSE_ALL the kernel keeps our
// buffers in its SGV cache (ALLOC_MEM only on a miss, EXEC with a cached pbuf on a hit) and gives
// them back with ON_CACHED_MEM_FREE, only then do they return to our pool; buffers above 4 MiB
// are not cached and come back at once; NO_REUSE asks for ON_FREE_CMD and frees per command;
// PREALLOC_BUFFER fills the cache before the first command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { diskConfig, openDisk, tempDir, tempImage } from '../helpers/scsi-harness.ts';
import { cdb10, clearUa, good, serve, session, until } from '../helpers/scst-user-harness.ts';
import type { ScstUserLinkOptions } from '../../src/links/scst_user/index.ts';

const BS = 512;

async function setup(link: Partial<ScstUserLinkOptions> = {}) {
  const { dir, cleanup } = await tempDir();
  const file = await tempImage(dir, 32 << 20);
  const lu = await openDisk(diskConfig({ file }));
  const srv = await serve([lu], { link });
  const dev = srv.model.device('disk1');
  const s = await session(dev);
  await clearUa(dev, s);
  const server = srv.link.server('disk1')!;
  return { srv, dev, s, server, cleanup: async () => { await srv.close(); await cleanup(); } };
}

test('REUSE_ALL: buffers cached by the kernel, reused on hits, released to our pool only on ON_CACHED_MEM_FREE', async () => {
  const t = await setup();
  try {
    const { dev, s, server } = t;
    assert.equal(dev.opt.memory_reuse_type, 3);
    assert.equal(dev.opt.on_free_cmd_type, 1, 'ON_FREE_CMD ignored');
    for (let i = 0; i < 50; i++) {
      const data = randomBytes(64 * 1024);
      good(await dev.submit(s, { cdb: cdb10(0x2a, i * 128, 128), dataOut: data }));
      assert.ok(good(await dev.submit(s, { cdb: cdb10(0x28, i * 128, 128) })).equals(data));
    }
    // one 64 KiB buffer serves all 100 commands: one ALLOC_MEM, then cache hits
    assert.equal(dev.stats.allocMems, 1);
    assert.ok(dev.stats.cacheHits >= 99, `${dev.stats.cacheHits} cache hits`);
    let pool = server.pool.stats();
    const lentBefore = pool.lent;
    assert.ok(lentBefore >= 1 && pool.created === lentBefore, `every buffer we made is with the kernel (${pool.created})`);
    assert.equal(pool.released, 0, 'nothing freed while cached');
    // The kernel purges its cache: every idle buffer comes back with ON_CACHED_MEM_FREE.
    const purged = dev.purgeCache();
    assert.equal(purged, lentBefore);
    await until(() => server.pool.stats().lent === 0, 'buffers back in our pool');
    pool = server.pool.stats();
    assert.equal(pool.released, lentBefore);
    assert.equal(pool.idle, lentBefore, 'kept for reuse');
    assert.equal(dev.stats.cachedFreed, purged);
    // The next command misses the (empty) SGV cache, but our pool hands out a kept buffer.
    good(await dev.submit(s, { cdb: cdb10(0x2a, 0, 128), dataOut: Buffer.alloc(64 * 1024, 1) }));
    pool = server.pool.stats();
    assert.equal(dev.stats.allocMems, 2);
    assert.ok(pool.reused >= 1, 'reused a mapping instead of making one');
    assert.equal(pool.created, lentBefore);
  } finally {
    await t.cleanup();
  }
});

test('REUSE_ALL: a READ miss gets its buffer in the EXEC reply; an 8 MiB transfer is not cached and comes back at once', async () => {
  const t = await setup();
  try {
    const { dev, s, server } = t;
    good(await dev.submit(s, { cdb: cdb10(0x28, 0, 8) }));
    assert.equal(dev.stats.execNoBuffer, 1, 'EXEC arrived with pbuf 0 and alloc_len');
    assert.equal(dev.cachedBuffers.total, 1, 'the buffer we returned is cached now');
    const big = randomBytes(8 << 20);
    good(await dev.submit(s, { cdb: cdb10(0x2a, 0, (8 << 20) / BS), dataOut: big }));
    assert.ok(good(await dev.submit(s, { cdb: cdb10(0x28, 0, (8 << 20) / BS) })).equals(big));
    // each 8 MiB buffer went back with ON_CACHED_MEM_FREE right after its command
    await until(() => server.pool.stats().lent === 1, 'big buffers released');
    assert.equal(dev.stats.cachedFreeSent, 2);
    assert.equal(dev.cachedBuffers.total, 1);
  } finally {
    await t.cleanup();
  }
});

test('NO_REUSE: ON_FREE_CMD after every command frees its buffer; the pool recycles the mappings', async () => {
  const t = await setup({ memoryReuse: 'none' });
  try {
    const { dev, s, server } = t;
    assert.equal(dev.opt.memory_reuse_type, 0);
    assert.equal(dev.opt.on_free_cmd_type, 0, 'ON_FREE_CMD asked for');
    for (let i = 0; i < 20; i++) {
      const data = randomBytes(4096);
      good(await dev.submit(s, { cdb: cdb10(0x2a, i * 8, 8), dataOut: data }));
      assert.ok(good(await dev.submit(s, { cdb: cdb10(0x28, i * 8, 8) })).equals(data));
    }
    await until(() => server.pool.stats().lent === 0, 'all buffers freed');
    const pool = server.pool.stats();
    assert.equal(dev.stats.allocMems, 20, 'ALLOC_MEM for every WRITE');
    assert.equal(dev.stats.execNoBuffer, 20, 'pbuf 0 for every READ');
    assert.ok(dev.stats.onFreeSent >= 40);
    assert.equal(pool.released, 40);
    assert.ok(pool.created <= 2, `${pool.created} mappings for 40 buffers`);
  } finally {
    await t.cleanup();
  }
});

test('PREALLOC_BUFFER fills the SGV cache: the first WRITE needs no ALLOC_MEM', async () => {
  const t = await setup({ prealloc: { count: 2, bytes: 64 * 1024 } });
  try {
    const { dev, s, server } = t;
    assert.equal(server.describe().preallocated, 4, 'two for each pool (normal and clustered)');
    assert.deepEqual(dev.cachedBuffers, { total: 4, idle: 4 });
    good(await dev.submit(s, { cdb: cdb10(0x2a, 0, 128), dataOut: Buffer.alloc(64 * 1024, 3) }));
    assert.equal(dev.stats.allocMems, 0);
    assert.equal(dev.stats.cacheHits, 1);
    dev.purgeCache();
    await until(() => server.pool.stats().lent === 0, 'preallocated buffers released');
  } finally {
    await t.cleanup();
  }
});
