// REPLY_AND_GET_MULTI under faults, through the real link and the kernel model: a reply the
// kernel refuses in the middle of a batch (replies_done: the ones before it are taken, the one at
// replies_done is dropped, the rest are sent again), EINTR after the reply phase, an ioctl the
// kernel restarts with the same argument (every reply then arrives twice), and a subcommand this
// ABI does not know. No command may be left without its reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { diskConfig, openDisk, tempDir, tempImage } from '../helpers/scsi-harness.ts';
import { GatedLu, cdb10, check, clearUa, good, serve, session, until } from '../helpers/scst-user-harness.ts';

const BS = 512;

async function setup() {
  const { dir, cleanup } = await tempDir();
  const file = await tempImage(dir, 1 << 20);
  const inner = await openDisk(diskConfig({ file }));
  const lu = new GatedLu(inner, (c) => c.cdb[0] === 0x28 && c.cdb.readUInt32BE(2) >= 1000);
  const srv = await serve([lu]);
  const dev = srv.model.device('disk1');
  const s = await session(dev);
  await clearUa(dev, s);
  // known content in blocks 1000..1039
  const content = randomBytes(40 * BS);
  good(await dev.submit(s, { cdb: cdb10(0x2a, 1000, 40), dataOut: content }));
  return { lu, srv, dev, s, content, cleanup: async () => { await srv.close(); await cleanup(); } };
}

/** 40 READs held in the LU, then released together: their replies leave in one batch. */
async function heldReads(t: Awaited<ReturnType<typeof setup>>) {
  const reads = Array.from({ length: 40 }, (_, i) => t.dev.submit(t.s, { cdb: cdb10(0x28, 1000 + i, 1) }));
  await until(() => t.lu.held.length === 40, '40 reads held');
  return reads;
}

test('a reply refused in the middle of a batch: the others are sent again, only that command fails', async () => {
  const t = await setup();
  try {
    const reads = await heldReads(t);
    const file = t.srv.model.fileOf('disk1');
    file.refuseReply(reads[17]!.handle);
    t.lu.releaseAll();
    const results = await Promise.all(reads);
    assert.ok(t.srv.model.stats.maxReplies >= 20, `replies batched (${t.srv.model.stats.maxReplies} in one call)`);
    for (const [i, r] of results.entries()) {
      if (i === 17) check(r, '04/44/00'); // the kernel failed the command whose reply it refused
      else assert.ok(good(r).equals(t.content.subarray(i * BS, (i + 1) * BS)), `read ${i}`);
    }
    const server = t.srv.link.server('disk1')!;
    assert.equal(server.describe().replyErrors, 1);
    assert.equal(server.describe().pendingReplies, 0);
    assert.ok(t.srv.logs.some((l) => /refused the exec reply for cmd_h \d+ \(EINVAL\); sending the others again/.test(l)));
  } finally {
    await t.cleanup();
  }
});

test('EINTR after the reply phase loses nothing', async () => {
  const t = await setup();
  try {
    const reads = await heldReads(t);
    t.srv.model.fileOf('disk1').injectEintr();
    t.lu.releaseAll();
    for (const [i, r] of (await Promise.all(reads)).entries()) assert.ok(good(r).equals(t.content.subarray(i * BS, (i + 1) * BS)));
    assert.equal(t.srv.link.server('disk1')!.describe().replyErrors, 0);
    good(await t.dev.submit(t.s, { cdb: cdb10(0x28, 0, 8) }));
  } finally {
    await t.cleanup();
  }
});

test('a restarted ioctl (the same replies processed twice) is harmless: every command completes once', async () => {
  const t = await setup();
  try {
    const reads = await heldReads(t);
    t.srv.model.fileOf('disk1').injectRestart();
    t.lu.releaseAll();
    for (const [i, r] of (await Promise.all(reads)).entries()) assert.ok(good(r).equals(t.content.subarray(i * BS, (i + 1) * BS)));
    const server = t.srv.link.server('disk1')!;
    // The second pass refuses the replies it already took: each is dropped once (one call each,
    // spread over event-loop turns), none is lost and none is sent a third time.
    await until(() => server.describe().pendingReplies === 0, 'the replayed replies to be worked off');
    const dropped = server.describe().replyErrors as number;
    assert.ok(dropped >= 1 && dropped <= 40, `${dropped} replies dropped`);
    assert.equal(t.srv.model.stats.refusedReplies, 0);
    const more = await Promise.all(Array.from({ length: 8 }, (_, i) => t.dev.submit(t.s, { cdb: cdb10(0x28, i * 8, 8) })));
    for (const r of more) good(r);
  } finally {
    await t.cleanup();
  }
});

test('an unknown subcommand from the kernel is answered without crashing and serving goes on', async () => {
  const t = await setup();
  try {
    const h = t.dev.injectUnknown(0xc0087377);
    await until(() => t.dev.stats.unknownReplies === 1, 'the echo reply');
    assert.ok(t.srv.logs.some((l) => l.includes(`unknown subcommand 0xc0087377 (cmd_h ${h})`)));
    assert.equal(t.srv.link.server('disk1')!.describe().unknown, 1);
    assert.equal(good(await t.dev.submit(t.s, { cdb: cdb10(0x28, 0, 1) })).length, BS);
  } finally {
    t.lu.releaseAll();
    await t.cleanup();
  }
});
