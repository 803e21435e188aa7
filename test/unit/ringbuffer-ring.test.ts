// Ring consumer behaviour against the fake kernel producer (test/helpers/ringbuffer-kernel.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CmdReq, EntryHdr, Iovec, MailboxFlag, TcmuOp, TcmuTmrType, UFlag, makeLenOp } from '../../src/ringbuffer/abi.ts';
import { type RingProblem, type TcmuCommand, type TcmuRingEvent, type TcmuRingOptions, TcmuRing } from '../../src/ringbuffer/ring.ts';
import { ALL_CAPS, Cdb, type FakeKernelOptions, FakeTcmuKernel, STALE } from '../helpers/ringbuffer-kernel.ts';

function setup(kopts: FakeKernelOptions = {}, ropts: Partial<TcmuRingOptions> = {}) {
  const kernel = new FakeTcmuKernel(kopts);
  const problems: RingProblem[] = [];
  const ring = new TcmuRing({ buffer: kernel.buffer, onProblem: (p) => problems.push(p), ...ropts });
  return { kernel, ring, problems };
}

function cmds(events: TcmuRingEvent[]): TcmuCommand[] {
  return events.filter((e): e is TcmuCommand => e.kind === 'cmd');
}

const pattern = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

test('one WRITE: Data-Out is visible zero-copy, GOOD completion reaped by the kernel', () => {
  const { kernel, ring, problems } = setup();
  const data = pattern(2048, 3);
  const id = kernel.submit({ cdb: Cdb.write10(10, 4), dataOut: data });
  const [cmd, ...more] = cmds(ring.drain());
  assert.equal(more.length, 0);
  assert.equal(cmd.cmdId, id);
  assert.deepEqual(cmd.cdb, Buffer.from(Cdb.write10(10, 4)));
  assert.equal(cmd.dataLength, 2048);
  assert.equal(cmd.iovecs.length, 1);
  const out = ring.gatherData(cmd);
  assert.deepEqual(out, data);
  assert.equal(out.buffer, kernel.buffer, 'single iovec: a view, not a copy');
  assert.equal(ring.takeNotify(), false, 'nothing to tell the kernel yet');
  assert.equal(ring.complete(cmd, { status: 0 }), true);
  assert.equal(ring.takeNotify(), true);
  assert.equal(ring.takeNotify(), false, 'one notification per batch');
  assert.equal(kernel.tail, kernel.head);
  const [c] = kernel.reap();
  assert.equal(c.cmdId, id);
  assert.equal(c.status, 0);
  assert.equal(kernel.broken, null);
  assert.equal(kernel.pending.size, 0);
  assert.deepEqual(problems, []);
});

test('READ fills Data-In across several iovecs; nothing outside them is touched', () => {
  const { kernel, ring } = setup();
  kernel.reserveBlocks([1, 3]); // force fragmentation: blocks 0, 2, 4
  kernel.submit({ cdb: Cdb.read10(0, 24), dataInLength: 3 * 4096 });
  const [cmd] = cmds(ring.drain());
  assert.equal(cmd.iovecs.length, 3);
  assert.equal(cmd.dataLength, 3 * 4096);
  const payload = pattern(3 * 4096 + 100, 9); // 100 bytes too many: dropped
  assert.equal(ring.scatterData(cmd, payload), 3 * 4096);
  assert.deepEqual(kernel.touchedOutsideIovecs(), []);
  ring.complete(cmd, { status: 0 });
  const [c] = kernel.reap();
  assert.deepEqual(c.dataIn, payload.subarray(0, 3 * 4096));
});

test('many commands in batches, in-order completion, cmd_id reuse after reaping', () => {
  const { kernel, ring, problems } = setup();
  const seen: number[] = [];
  for (let batch = 0; batch < 5; batch++) {
    const ids = [0, 1, 2, 3, 4, 5].map((i) => kernel.submit({ cdb: Cdb.read10(batch * 10 + i, 1), dataInLength: 512 }));
    const got = cmds(ring.drain());
    assert.deepEqual(got.map((c) => c.cmdId), ids);
    for (const c of got) {
      ring.scatterData(c, pattern(512, c.cdb[5]));
      assert.equal(ring.complete(c, { status: 0 }), true);
    }
    assert.equal(ring.takeNotify(), true);
    const reaped = kernel.reap();
    assert.deepEqual(reaped.map((r) => r.cmdId), ids);
    for (const r of reaped) seen.push(r.cmdId);
    reaped.forEach((r, i) => assert.deepEqual(r.dataIn, pattern(512, batch * 10 + i)));
  }
  assert.deepEqual(new Set(seen), new Set([1, 2, 3, 4, 5, 6]), 'ids are reused (lowest free, like xa_alloc)');
  assert.equal(ring.stats.commands, 30);
  assert.equal(ring.inFlightCount, 0);
  assert.deepEqual(problems, []);
});

test('wrap: PAD entry at the ring end is skipped, commands after the wrap decode correctly', () => {
  const { kernel, ring, problems } = setup({ cmdrSize: 1024 }); // 8 x 128-byte entries per lap
  const all: number[] = [];
  let pads = 0;
  for (let round = 0; round < 12; round++) {
    // 128 (READ(10), 1 iovec) + 144 (32-byte CDB) + 120 (TUR) per round: wraps unevenly.
    const ids = [
      kernel.submit({ cdb: Cdb.read10(round, 1), dataInLength: 512 }),
      kernel.submit({ cdb: Cdb.variable32(round), dataInLength: 512 }),
      kernel.submit({ cdb: Cdb.tur() }),
    ];
    const got = cmds(ring.drain());
    assert.deepEqual(got.map((c) => c.cmdId), ids, `round ${round}`);
    assert.equal(got[1].cdb.length, 32);
    assert.equal(got[1].cdb[9], round & 0xff);
    assert.equal(got[2].direction, 'none');
    for (const c of got) ring.complete(c, { status: 0 });
    all.push(...kernel.reap().map((r) => r.cmdId));
    pads = ring.stats.pads;
  }
  assert.ok(pads >= 3, `expected PAD entries, saw ${pads}`);
  assert.equal(all.length, 36);
  assert.equal(kernel.broken, null);
  assert.equal(ring.cursor.tail, kernel.head);
  assert.deepEqual(problems, []);
});

test('wrap: the PAD header is exactly where the kernel wrote it and the entry restarts at 0', () => {
  const { kernel, ring } = setup({ cmdrSize: 480 });
  // 3 x 128-byte READ(10) entries = 384; the next 128-byte READ(16) entry does not fit in 96 → PAD + wrap.
  for (let i = 0; i < 3; i++) kernel.submit({ cdb: Cdb.read10(i, 1), dataInLength: 512 });
  for (const c of cmds(ring.drain())) ring.complete(c, { status: 0 });
  kernel.reap();
  const id = kernel.submit({ cdb: Cdb.read16(0x1234, 1), dataInLength: 512 });
  assert.equal(kernel.view.getUint32(128 + 384, true), makeLenOp(96, TcmuOp.PAD));
  assert.equal(kernel.head, 128);
  const [cmd] = cmds(ring.drain());
  assert.equal(cmd.cmdId, id);
  assert.equal(cmd.entryOffset, 0);
  assert.equal(cmd.cdb.length, 16);
  ring.complete(cmd, { status: 0 });
  assert.equal(kernel.tail, 128);
  assert.deepEqual(kernel.reap().map((r) => r.cmdId), [id]);
});

test("out of order, 'in-place': tail only advances over the completed prefix", () => {
  const { kernel, ring } = setup({ flags: 0 }); // no CAP_OOOC → in-place
  assert.equal(ring.completionMode, 'in-place');
  const ids = [1, 2, 3].map((i) => kernel.submit({ cdb: Cdb.read10(i, 1), dataInLength: 512 }));
  const [a, b, c] = cmds(ring.drain());
  const start = kernel.tail;
  ring.complete(c, { status: 0 });
  assert.equal(kernel.tail, start, 'third done, first two pending: tail stays');
  assert.equal(ring.takeNotify(), false);
  assert.deepEqual(kernel.reap(), []);
  ring.complete(a, { status: 8 });
  assert.equal(kernel.tail, a.entryOffset + 128, 'tail passes only the first entry');
  assert.equal(ring.takeNotify(), true);
  const first = kernel.reap();
  assert.deepEqual(first.map((r) => [r.cmdId, r.status]), [[ids[0], 8]]);
  ring.complete(b, { status: 0x28 });
  assert.equal(kernel.tail, kernel.head, 'then over the second and the already-done third');
  const rest = kernel.reap();
  assert.deepEqual(rest.map((r) => [r.cmdId, r.status, r.entryOffset]), [
    [ids[1], 0x28, b.entryOffset],
    [ids[2], 0, c.entryOffset],
  ]);
  assert.equal(kernel.broken, null);
});

test("out of order, 'steal': each completion goes into the oldest entry and moves the tail at once", () => {
  const { kernel, ring } = setup(); // CAP_OOOC → steal
  assert.equal(ring.completionMode, 'steal');
  const ids = [1, 2, 3].map((i) => kernel.submit({ cdb: Cdb.read10(i, 1), dataInLength: 512 }));
  const [a, b, c] = cmds(ring.drain());
  ring.scatterData(c, pattern(512, 33));
  ring.complete(c, { status: 0 });
  assert.equal(kernel.tail, a.entryOffset + 128, 'no head-of-line blocking');
  const r1 = kernel.reap();
  assert.deepEqual(r1.map((r) => [r.cmdId, r.entryOffset]), [[ids[2], a.entryOffset]], "c's completion sits in a's entry");
  assert.deepEqual(r1[0].dataIn, pattern(512, 33));
  // a's entry is gone (kernel may reuse it), but a still completes fine: its CDB/iovecs were copied.
  assert.deepEqual(a.cdb, Buffer.from(Cdb.read10(1, 1)));
  ring.scatterData(a, pattern(512, 11));
  ring.complete(a, { status: 0 });
  ring.complete(b, { status: 2, sense: Uint8Array.of(0x70, 0, 3) });
  const r2 = kernel.reap();
  assert.deepEqual(r2.map((r) => [r.cmdId, r.status, r.entryOffset]), [
    [ids[0], 0, b.entryOffset],
    [ids[1], 2, c.entryOffset],
  ]);
  assert.deepEqual(r2[0].dataIn, pattern(512, 11));
  assert.deepEqual([...r2[1].sense.subarray(0, 4)], [0x70, 0, 3, 0]);
  assert.equal(kernel.broken, null);
  assert.equal(kernel.tail, kernel.head);
});

test('steal mode under churn: random completion order never breaks the kernel ring', () => {
  const { kernel, ring, problems } = setup({ cmdrSize: 2048, dataSize: 256 * 1024 });
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const inflight: TcmuCommand[] = [];
  const expect = new Map<number, number>();
  let reaped = 0;
  for (let step = 0; step < 2000; step++) {
    if (rnd(3) !== 0) {
      try {
        const lba = step;
        const id = kernel.submit({ cdb: Cdb.read10(lba, 1), dataInLength: 512 * (1 + rnd(16)) });
        expect.set(id, lba & 0xff);
      } catch {
        /* ring or data full: complete something first */
      }
    }
    inflight.push(...cmds(ring.drain()));
    if (inflight.length > 0 && rnd(2) === 0) {
      const [c] = inflight.splice(rnd(inflight.length), 1);
      ring.scatterData(c, Buffer.alloc(c.dataLength, c.cdb[5]));
      ring.complete(c, { status: c.cdb[5] & 1 ? 2 : 0 });
    }
    if (ring.takeNotify()) {
      for (const r of kernel.reap()) {
        reaped++;
        const lbaByte = expect.get(r.cmdId);
        assert.notEqual(lbaByte, undefined);
        expect.delete(r.cmdId);
        assert.equal(r.status, lbaByte! & 1 ? 2 : 0);
        if (r.status === 0) assert.ok(r.dataIn.every((x) => x === lbaByte), `cmd ${r.cmdId} data`);
      }
    }
    assert.equal(kernel.broken, null);
  }
  assert.ok(reaped > 500, `reaped ${reaped}`);
  assert.deepEqual(problems, []);
});

test('READ_LEN: a short read is reported with READ_LEN + read_len, only those bytes travel', () => {
  const { kernel, ring } = setup();
  kernel.submit({ cdb: Cdb.read10(0, 16), dataInLength: 8192 });
  const [cmd] = cmds(ring.drain());
  ring.scatterData(cmd, pattern(1000, 1));
  ring.complete(cmd, { status: 0, readLen: 1000 });
  const [c] = kernel.reap();
  assert.equal(c.uflags & UFlag.READ_LEN, UFlag.READ_LEN);
  assert.equal(c.readLen, 1000);
  assert.deepEqual(c.dataIn, pattern(1000, 1));
});

test('READ_LEN with CHECK CONDITION: data and sense both reach the initiator (tape ILI)', () => {
  const { kernel, ring } = setup();
  kernel.submit({ cdb: Uint8Array.of(0x08, 0, 0, 0x10, 0, 0), dataInLength: 4096 }); // READ(6) tape
  const [cmd] = cmds(ring.drain());
  ring.scatterData(cmd, pattern(300, 5));
  const ili = Uint8Array.of(0xf0, 0, 0x20, 0, 0, 0x0f, 0x44, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  ring.complete(cmd, { status: 2, sense: ili, readLen: 300 });
  const [c] = kernel.reap();
  assert.equal(c.status, 2);
  assert.deepEqual(c.dataIn, pattern(300, 5));
  assert.deepEqual([...c.sense.subarray(0, 18)], [...ili]);
});

test('short read without CAP_READ_LEN (or readLen 0): the rest of the buffer is zeroed, no stale data leaks', () => {
  for (const [flags, readLen] of [
    [MailboxFlag.CAP_OOOC, 1000],
    [ALL_CAPS, 0],
  ] as const) {
    const { kernel, ring } = setup({ flags });
    kernel.submit({ cdb: Cdb.read10(0, 16), dataInLength: 8192 });
    const [cmd] = cmds(ring.drain());
    assert.ok(ring.dataViews(cmd).every((v) => v.every((b) => b === STALE)), 'buffer starts stale');
    ring.scatterData(cmd, pattern(readLen, 2));
    ring.complete(cmd, { status: 0, readLen });
    const [c] = kernel.reap();
    assert.equal(c.readLen, undefined);
    assert.equal(c.dataIn.length, 8192);
    assert.deepEqual(c.dataIn.subarray(0, readLen), pattern(readLen, 2));
    assert.ok(c.dataIn.subarray(readLen).every((b) => b === 0), `flags ${flags}: tail zeroed`);
  }
});

test('UNKNOWN_OP completion: the kernel turns it into CHECK CONDITION', () => {
  const { kernel, ring } = setup();
  kernel.submit({ cdb: Uint8Array.of(0xc5, 0, 0, 0, 0, 0, 0, 0, 0, 0) });
  const [cmd] = cmds(ring.drain());
  ring.complete(cmd, { status: 0, unknownOp: true });
  const [c] = kernel.reap();
  assert.equal(c.uflags & UFlag.UNKNOWN_OP, UFlag.UNKNOWN_OP);
  assert.equal(c.status, 2);
});

test('sense: written at rsp.sense_buffer, stale iovec bytes under it cleared, >96 bytes truncated and reported', () => {
  const { kernel, ring, problems } = setup({ flags: 0 });
  kernel.reserveBlocks([1, 3, 5]);
  kernel.submit({ cdb: Cdb.write10(0, 32), dataOut: pattern(4 * 4096, 0) }); // 4 iovecs under the sense area
  const [cmd] = cmds(ring.drain());
  assert.equal(cmd.iovecs.length, 4);
  const long = pattern(120, 50);
  ring.complete(cmd, { status: 2, sense: long });
  const [c] = kernel.reap();
  assert.deepEqual(c.sense, long.subarray(0, 96));
  assert.deepEqual(problems.map((p) => p.code), ['sense-truncated']);

  kernel.reserveBlocks([7, 9, 11]);
  kernel.submit({ cdb: Cdb.write10(0, 32), dataOut: pattern(4 * 4096, 1) });
  const [cmd2] = cmds(ring.drain());
  ring.complete(cmd2, { status: 2, sense: Uint8Array.of(0x70, 0, 6, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x28) });
  const [c2] = kernel.reap();
  assert.deepEqual([...c2.sense.subarray(0, 13)], [0x70, 0, 6, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x28]);
  assert.ok(c2.sense.subarray(13).every((b) => b === 0), 'no leftover iovec bytes in the sense buffer');
});

test('CDBs of 16 and 32 bytes: entry sizes 128 and 144, CDB copied (not a view of the ring)', () => {
  const { kernel, ring } = setup();
  const id16 = kernel.submit({ cdb: Cdb.read16(0x1_0000_0001, 8), dataInLength: 4096 });
  const id32 = kernel.submit({ cdb: Cdb.variable32(0x000b), dataInLength: 4096 });
  const [c16, c32] = cmds(ring.drain());
  assert.equal(c16.cmdId, id16);
  assert.equal(c32.cmdId, id32);
  assert.deepEqual(c16.cdb, Buffer.from(Cdb.read16(0x1_0000_0001, 8)));
  assert.deepEqual(c32.cdb, Buffer.from(Cdb.variable32(0x000b)));
  assert.equal(c32.entryOffset - c16.entryOffset, 128);
  assert.equal(kernel.head - c32.entryOffset, 144);
  kernel.bytes.fill(0xee, kernel.cmdrOff, kernel.dataOff); // kernel reuses the ring
  assert.equal(c32.cdb[0], 0x7f);
  assert.notEqual(c32.cdb.buffer, kernel.buffer);
});

test('iovec outside the data area: rejected with CHECK CONDITION, its data never touched, ring goes on', () => {
  for (const mode of ['steal', 'in-place'] as const) {
    const { kernel, ring, problems } = setup({}, { completionMode: mode });
    const good1 = kernel.submit({ cdb: Cdb.read10(1, 1), dataInLength: 512 });
    const bad = kernel.submit({
      cdb: Cdb.read10(2, 1),
      dataInLength: 512,
      mutate: (e) => e.setBigUint64(CmdReq.IOV + Iovec.BASE, 64n, true), // points into the ring
    });
    const bad2 = kernel.submit({
      cdb: Cdb.read10(3, 1),
      dataInLength: 512,
      mutate: (e) => e.setBigUint64(CmdReq.IOV + Iovec.LEN, BigInt(1 << 30), true), // runs off the end
    });
    const good2 = kernel.submit({ cdb: Cdb.read10(4, 1), dataInLength: 512 });
    const got = cmds(ring.drain());
    assert.deepEqual(got.map((c) => c.cmdId), [good1, good2], mode);
    assert.deepEqual(problems.map((p) => [p.code, p.cmdId, p.fatal]), [
      ['iovec-outside-data-area', bad, false],
      ['iovec-outside-data-area', bad2, false],
    ]);
    assert.equal(ring.broken, null);
    for (const c of got) ring.complete(c, { status: 0 });
    const reaped = kernel.reap();
    assert.equal(kernel.broken, null, mode);
    const byId = new Map(reaped.map((r) => [r.cmdId, r]));
    for (const id of [bad, bad2]) {
      assert.equal(byId.get(id)?.status, 2);
      assert.deepEqual([...byId.get(id)!.sense.subarray(0, 14)], [0x70, 0, 4, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x44, 0]);
    }
    assert.equal(byId.get(good1)?.status, 0);
    assert.equal(byId.get(good2)?.status, 0);
  }
});

test('iovec count overrunning the entry and cdb_off outside the entry are rejected', () => {
  const { kernel, ring, problems } = setup();
  const a = kernel.submit({ cdb: Cdb.tur(), mutate: (e) => e.setUint32(CmdReq.IOV_CNT, 1000, true) });
  const b = kernel.submit({ cdb: Cdb.tur(), mutate: (e) => e.setBigUint64(CmdReq.CDB_OFF, 8n, true) });
  const c = kernel.submit({
    cdb: Cdb.tur(),
    mutate: (e, at) => {
      e.setBigUint64(CmdReq.CDB_OFF, BigInt(at + 112), true);
      e.setUint8(112, 0x7f); // variable-length opcode claiming 8 + 200 bytes
      e.setUint8(119, 200);
    },
  });
  assert.deepEqual(ring.drain(), []);
  assert.deepEqual(problems.map((p) => [p.code, p.cmdId]), [
    ['iov-count', a],
    ['bad-cdb', b],
    ['bad-cdb', c],
  ]);
  assert.deepEqual(kernel.reap().map((r) => [r.cmdId, r.status]), [
    [a, 2],
    [b, 2],
    [c, 2],
  ]);
  assert.equal(ring.stats.rejected, 3);
});

test('double completion is refused and reported; a stale handle cannot complete a reused cmd_id', () => {
  const { kernel, ring, problems } = setup();
  kernel.submit({ cdb: Cdb.tur() });
  const [a] = cmds(ring.drain());
  assert.equal(ring.complete(a, { status: 0 }), true);
  assert.equal(ring.complete(a, { status: 0 }), false);
  assert.deepEqual(problems.map((p) => [p.code, p.fatal]), [['double-completion', false]]);
  assert.equal(kernel.reap().length, 1);
  const id = kernel.submit({ cdb: Cdb.tur() });
  assert.equal(id, a.cmdId, 'kernel reuses the id');
  const [b] = cmds(ring.drain());
  assert.equal(ring.complete(a, { status: 2 }), false, 'old handle, same cmd_id: refused');
  assert.equal(ring.inFlight(id), b);
  assert.equal(ring.complete(b, { status: 0 }), true);
  assert.deepEqual(kernel.reap().map((r) => [r.cmdId, r.status]), [[id, 0]]);
  assert.equal(kernel.broken, null);
  assert.throws(() => ring.dataViews(b), /not in flight/);
});

test('unknown opcode entry: UNKNOWN_OP set in its uflags, skipped, ring continues', () => {
  const { kernel, ring, problems } = setup();
  const raw = new Uint8Array(48);
  new DataView(raw.buffer).setUint32(0, makeLenOp(48, 5), true);
  const at = kernel.submitRaw(raw);
  const id = kernel.submit({ cdb: Cdb.tur() });
  const got = cmds(ring.drain());
  assert.deepEqual(got.map((c) => c.cmdId), [id]);
  assert.equal(kernel.bytes[kernel.cmdrOff + at + EntryHdr.UFLAGS], UFlag.UNKNOWN_OP);
  assert.deepEqual(problems.map((p) => [p.code, p.fatal]), [['unknown-op', false]]);
  assert.equal(kernel.tail, 48, 'tail passed the unknown entry at once');
  ring.complete(got[0], { status: 0 });
  assert.equal(kernel.tail, kernel.head);
});

test('TMR notification is delivered with its cmd_ids and the tail passes it', () => {
  const { kernel, ring } = setup();
  const a = kernel.submit({ cdb: Cdb.tur() });
  const b = kernel.submit({ cdb: Cdb.tur() });
  kernel.submitTmr(TcmuTmrType.LUN_RESET, [a, b]);
  const ev = ring.drain();
  assert.equal(ev.length, 3);
  const tmr = ev[2];
  assert.ok(tmr.kind === 'tmr');
  assert.equal(tmr.tmrType, TcmuTmrType.LUN_RESET);
  assert.deepEqual(tmr.cmdIds, [a, b]);
  assert.equal(ring.inFlight(a)?.cmdId, a);
  for (const id of tmr.cmdIds) ring.complete(ring.inFlight(id)!, { status: 0x40 }); // TASK ABORTED
  assert.equal(kernel.tail, kernel.head);
  assert.deepEqual(kernel.reap().map((r) => r.cmdId), [a, b]);
});

test('fatal: zero-length entry, entry past the ring end, bad head → broken until reset()', () => {
  const { kernel, ring, problems } = setup();
  const id = kernel.submit({ cdb: Cdb.tur() });
  const zero = new Uint8Array(8);
  kernel.submitRaw(zero); // len_op 0: PAD of length 0
  kernel.view.setUint32(kernel.cmdrOff + kernel.head - 8, 0, true);
  const got = cmds(ring.drain());
  assert.deepEqual(got.map((c) => c.cmdId), [id], 'entries before the bad one are delivered');
  assert.equal(ring.broken?.code, 'bad-entry-length');
  assert.equal(problems.at(-1)?.fatal, true);
  kernel.submit({ cdb: Cdb.tur() });
  assert.deepEqual(ring.drain(), [], 'nothing more while broken');
  assert.equal(ring.complete(got[0], { status: 0 }), true, 'delivered commands can still complete');
  assert.equal(kernel.reap().length, 1);

  // The link resets the ring (kernel zeroes head and tail), then the consumer.
  kernel.bytes.fill(0, kernel.cmdrOff, kernel.dataOff);
  Atomics.store(kernel.words, 3, 0);
  Atomics.store(kernel.words, 16, 0);
  kernel.lastCleaned = 0;
  kernel.pending.clear();
  assert.deepEqual(ring.reset(), []);
  assert.equal(ring.broken, null);
  const id2 = kernel.submit({ cdb: Cdb.tur() });
  assert.deepEqual(cmds(ring.drain()).map((c) => c.cmdId), [id2]);

  const s2 = setup({ cmdrSize: 512 });
  const big = new Uint8Array(64);
  new DataView(big.buffer).setUint32(0, makeLenOp(4096, TcmuOp.CMD), true);
  s2.kernel.submitRaw(big);
  s2.ring.drain();
  assert.equal(s2.ring.broken?.code, 'entry-crosses-ring-end');

  const s3 = setup();
  Atomics.store(s3.kernel.words, 3, 13);
  s3.ring.drain();
  assert.equal(s3.ring.broken?.code, 'bad-head');
});

test('fatal: cmd_id 0, duplicate in-flight cmd_id, CMD entry shorter than 112 bytes', () => {
  const a = setup();
  a.kernel.submit({ cdb: Cdb.tur(), mutate: (e) => e.setUint16(EntryHdr.CMD_ID, 0, true) });
  a.ring.drain();
  assert.equal(a.ring.broken?.code, 'bad-cmd-id');

  const b = setup();
  const first = b.kernel.submit({ cdb: Cdb.tur() });
  b.kernel.submit({ cdb: Cdb.tur(), mutate: (e) => e.setUint16(EntryHdr.CMD_ID, first, true) });
  assert.equal(cmds(b.ring.drain()).length, 1);
  assert.equal(b.ring.broken?.code, 'duplicate-cmd-id');

  const c = setup();
  const raw = new Uint8Array(64);
  new DataView(raw.buffer).setUint32(0, makeLenOp(64, TcmuOp.CMD), true);
  new DataView(raw.buffer).setUint16(4, 9, true);
  c.kernel.submitRaw(raw);
  c.ring.drain();
  assert.equal(c.ring.broken?.code, 'cmd-entry-too-short');
});

test('cmd_head is read at each drain (Atomics.load), cmd_tail published through the mailbox word', () => {
  const { kernel, ring } = setup({ shared: true });
  assert.ok(kernel.buffer instanceof SharedArrayBuffer);
  assert.deepEqual(ring.drain(), []);
  const id = kernel.submit({ cdb: Cdb.tur() });
  const [c] = cmds(ring.drain());
  assert.equal(c.cmdId, id);
  ring.complete(c, { status: 0 });
  assert.equal(Atomics.load(kernel.words, 16), kernel.head);
  assert.deepEqual(kernel.reap().map((r) => r.cmdId), [id]);
});

test('KEEP_BUF is passed through with CAP_KEEP_BUF and refused (reported) without it', () => {
  const a = setup();
  a.kernel.submit({ cdb: Cdb.tur() });
  const [c] = cmds(a.ring.drain());
  a.ring.complete(c, { status: 0, keepBuffer: true });
  assert.equal(a.kernel.reap()[0].uflags, UFlag.KEEP_BUF);

  const b = setup({ flags: MailboxFlag.CAP_OOOC });
  b.kernel.submit({ cdb: Cdb.tur() });
  const [d] = cmds(b.ring.drain());
  b.ring.complete(d, { status: 0, keepBuffer: true });
  assert.equal(b.kernel.reap()[0].uflags, 0);
  assert.deepEqual(b.problems.map((p) => p.code), ['keep-buf-unsupported']);
});

test('a separate data-area view maps iovec offsets correctly', () => {
  const kernel = new FakeTcmuKernel();
  const id = kernel.submit({ cdb: Cdb.write10(0, 1), dataOut: pattern(512, 77) });
  const ring = new TcmuRing({
    buffer: kernel.buffer,
    mapSize: kernel.dataOff + kernel.dataSize,
    data: { buffer: kernel.buffer, byteOffset: kernel.dataOff, mmapOffset: kernel.dataOff, length: kernel.dataSize },
  });
  const [c] = cmds(ring.drain());
  assert.equal(c.cmdId, id);
  assert.deepEqual(ring.gatherData(c), pattern(512, 77));
});
