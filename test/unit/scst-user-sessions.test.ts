// Sessions and task management through the scst_user link and the kernel model: ATTACH_SESS
// within the deadline (even while commands are stuck in the LU), unit attentions (the core's
// 29/00 for each new session and after a reset, exactly once: the LU adds no 29h UA of its own,
// which would crash the stock kernel), TASK_MGMT_RECEIVED aborting the in-flight commands'
// AbortSignals, TASK_MGMT_DONE running the LU's own reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TM_FN } from '../../src/ffi/scst-user-abi.ts';
import { diskConfig, openDisk, tempDir, tempImage } from '../helpers/scsi-harness.ts';
import { GatedLu, cdb10, check, clearUa, good, serve, session, until } from '../helpers/scst-user-harness.ts';

async function disk(gate: (lba: number) => boolean = () => false) {
  const { dir, cleanup } = await tempDir();
  const file = await tempImage(dir, 1 << 20);
  const inner = await openDisk(diskConfig({ file }));
  const lu = new GatedLu(inner, (c) => c.cdb[0] === 0x28 && gate(c.cdb.readUInt32BE(2)));
  return { lu, cleanup };
}

test("unit attentions per session: the core's 29/00 for every new session, once; none from the LU (no kernel BUG)", async () => {
  const d = await disk();
  const srv = await serve([d.lu]);
  try {
    const dev = srv.model.device('disk1');
    const server = srv.link.server('disk1')!;
    const a = await session(dev, { initiator: 'iqn.2026-01.test:alice' });
    const b = await session(dev, { initiator: 'iqn.2026-01.test:bob' });
    assert.equal(server.sessions.size, 2);
    assert.deepEqual(server.sessions.all().map((s) => s.initiator).sort(), ['iqn.2026-01.test:alice', 'iqn.2026-01.test:bob']);
    const tur = { cdb: [0, 0, 0, 0, 0, 0], expected: { dir: 'none' as const, length: 0 } };
    check(await dev.submit(a, tur), '06/29/00');
    good(await dev.submit(a, tur));
    check(await dev.submit(b, tur), '06/29/00');
    await dev.detach(a);
    assert.equal(server.sessions.size, 1);
    // scst_alloc_add_tgt_dev: a returning initiator gets a new tgt_dev, and 29/00 with it
    const again = await session(dev, { initiator: 'iqn.2026-01.test:alice' });
    check(await dev.submit(again, tur), '06/29/00');
    good(await dev.submit(again, tur));
    good(await dev.submit(b, tur));
    assert.deepEqual(srv.model.bugs, []);
    assert.equal(server.exec.stats.coreUasWithheld, 0, 'the LU never offered the core a UA it keeps itself');
  } finally {
    await srv.close();
    await d.cleanup();
  }
});

test('ATTACH_SESS is answered within the deadline while commands are held in the LU; a late answer fails the session', async () => {
  const d = await disk((lba) => lba === 5);
  const srv = await serve([d.lu], { model: { attachTimeoutMs: 300 } });
  try {
    const dev = srv.model.device('disk1');
    const a = await session(dev);
    await clearUa(dev, a);
    const stuck = Array.from({ length: 20 }, () => dev.submit(a, { cdb: cdb10(0x28, 5, 1) }));
    await until(() => d.lu.held.length === 20, '20 commands held in the LU');
    const t0 = Date.now();
    const b = await session(dev);
    assert.ok(Date.now() - t0 < 300, 'attached without waiting for the stuck commands');
    await clearUa(dev, b);
    // Now keep the event loop busy past the deadline right after the kernel queues ATTACH_SESS:
    // the reply arrives too late and the kernel fails that session.
    const late = session(dev);
    const until500 = Date.now() + 400;
    while (Date.now() < until500) {
      // busy: nothing else runs, as if the handler were stuck
    }
    await assert.rejects(late, /ATTACH_SESS .* (answered after|not answered within)/);
    assert.equal(dev.stats.attachTimeouts, 1);
    d.lu.releaseAll();
    for (const r of await Promise.all(stuck)) good(r);
  } finally {
    await srv.close();
    await d.cleanup();
  }
});

test("ABORT TASK aborts the one command in flight; LUN RESET aborts all, and each session gets the core's 29/00 once", async () => {
  const d = await disk((lba) => lba >= 100);
  const srv = await serve([d.lu]);
  try {
    const dev = srv.model.device('disk1');
    const a = await session(dev);
    const b = await session(dev);
    await clearUa(dev, a);
    await clearUa(dev, b);
    const one = dev.submit(a, { cdb: cdb10(0x28, 100, 1) });
    const two = dev.submit(a, { cdb: cdb10(0x28, 101, 1) });
    await until(() => d.lu.held.length === 2, 'two commands held');
    assert.equal(await dev.taskMgmt(a, TM_FN.SCST_ABORT_TASK, one.handle), 0, 'ABORT TASK: SUCCESS');
    const r1 = await one;
    assert.equal(r1.aborted, true);
    assert.equal(d.lu.aborted, 1, 'the LU saw exactly that command aborted (its AbortSignal)');
    assert.equal(d.lu.held.length, 1, 'the other one is still held');
    const server = srv.link.server('disk1')!;
    assert.equal(server.describe().tmReceived, 1);
    assert.equal(server.describe().tmDone, 1);
    // LUN RESET from session a: aborts everything in flight, then the LU resets.
    const three = dev.submit(b, { cdb: cdb10(0x28, 102, 1) });
    await until(() => d.lu.held.length === 2, 'two commands held');
    assert.equal(await dev.taskMgmt(a, TM_FN.SCST_LUN_RESET), 0);
    assert.equal((await two).aborted, true);
    assert.equal((await three).aborted, true);
    assert.equal(d.lu.aborted, 3);
    const tur = { cdb: [0, 0, 0, 0, 0, 0], expected: { dir: 'none' as const, length: 0 } };
    for (const s of [b, a]) {
      check(await dev.submit(s, tur), '06/29/00'); // scst_process_reset
      good(await dev.submit(s, tur)); // while dev_double_ua_possible: a 29h UA from the LU here BUGs the kernel
    }
    assert.deepEqual(srv.model.bugs, []);
    // a TM for a command that is gone: still SUCCESS (TASK_NOT_EXIST is mapped by the kernel)
    assert.equal(await dev.taskMgmt(a, TM_FN.SCST_ABORT_TASK, 999999), 0);
    good(await dev.submit(a, { cdb: cdb10(0x28, 0, 1) }));
  } finally {
    await srv.close();
    await d.cleanup();
  }
});
