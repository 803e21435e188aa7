// Mode pages, unit attentions across nexuses, the target (REPORT LUNS, absent LUNs, TMF), ordering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertCheck, assertGood, cdb10, clearUa, diskConfig, logs, nexus, openDisk, send } from '../helpers/scsi-harness.ts';
import { ScsiTarget } from '../../src/scsi/target.ts';
import { ScsiLogicalUnit } from '../../src/scsi/logical-unit.ts';
import { deriveIdentity } from '../../src/scsi/inquiry.ts';
import { usage } from '../../src/scsi/table.ts';
import type { Nexus } from '../../src/scsi/command.ts';

const TUR = [0, 0, 0, 0, 0, 0];
const ms6 = (pageByte: number, sub = 0, byte1 = 0, alloc = 255): number[] => [0x1a, byte1, pageByte, sub, alloc, 0];
const ms10 = (pageByte: number, sub = 0, byte1 = 0, alloc = 1024): number[] => [0x5a, byte1, pageByte, sub, 0, 0, 0, alloc >> 8, alloc & 0xff, 0];
const msel6 = (len: number, byte1 = 0x10): number[] => [0x15, byte1, 0, 0, len, 0];
const nullDisk = (o = {}) => openDisk(diskConfig({ nullio: true, sizeBytes: 1 << 20, ...o }));

/** Finds a page (page code, subpage) in MODE SENSE data after `start`. */
function findPage(d: Buffer, start: number, page: number, sub = 0): Buffer | undefined {
  let off = start;
  while (off < d.length) {
    const spf = (d[off]! & 0x40) !== 0;
    const len = spf ? d.readUInt16BE(off + 2) + 4 : d[off + 1]! + 2;
    if ((d[off]! & 0x3f) === page && (spf ? d[off + 1]! : 0) === sub) return d.subarray(off, off + len);
    off += len;
  }
  return undefined;
}

test('MODE SENSE(6) all pages: header, block descriptor, page order, DBD', async () => {
  const lu = await nullDisk();
  const n = nexus(1);
  await clearUa(lu, n);
  const d = assertGood(await send(lu, ms6(0x3f), n));
  assert.equal(d[0], d.length - 1);
  assert.deepEqual([...d.subarray(1, 4)], [0, 0x10, 8]);
  assert.deepEqual([...d.subarray(4, 12)], [0, 0, 0x08, 0x00, 0, 0, 0x02, 0x00]); // 2048 blocks of 512
  const codes: number[] = [];
  for (let off = 12; off < d.length; off += d[off + 1]! + 2) codes.push(d[off]!);
  assert.deepEqual(codes, [0x01, 0x08, 0x0a, 0x1c]);
  assert.deepEqual([...findPage(d, 12, 0x08)!.subarray(0, 3)], [0x08, 0x12, 0x04]); // WCE = 1
  const ctl = findPage(d, 12, 0x0a)!;
  assert.deepEqual([...ctl], [0x0a, 0x0a, 0x00, 0x10, 0x00, 0x00, 0, 0, 0xff, 0xff, 0, 0]);
  // 3Fh/FFh adds the control extension subpage
  const all = assertGood(await send(lu, ms6(0x3f, 0xff), n));
  assert.deepEqual([...findPage(all, 12, 0x0a, 0x01)!.subarray(0, 4)], [0x4a, 0x01, 0x00, 0x1c]);
  // DBD
  const nobd = assertGood(await send(lu, ms6(0x08, 0, 0x08), n));
  assert.deepEqual([...nobd.subarray(0, 4)], [nobd.length - 1, 0, 0x10, 0]);
  assert.equal(nobd.length, 4 + 20);
  // allocation length truncation keeps the real mode data length
  const t = assertGood(await send(lu, ms6(0x3f, 0, 0, 4), n));
  assert.equal(t.length, 4);
  assert.equal(t[0], d[0]);
});

test('MODE SENSE page control: changeable masks, defaults, saved → 39/00, bad page/subpage', async () => {
  const lu = await nullDisk({ writeThrough: true });
  const n = nexus(1);
  await clearUa(lu, n);
  const ch = assertGood(await send(lu, ms6(0x40 | 0x08, 0, 0x08), n));
  assert.deepEqual([...ch.subarray(4, 8)], [0x08, 0x12, 0x04, 0x00]);
  assert.ok(ch.subarray(7).every((b) => b === 0));
  const cc = assertGood(await send(lu, ms6(0x40 | 0x0a, 0, 0x08), n));
  assert.deepEqual([...cc.subarray(4)], [0x0a, 0x0a, 0x04, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0]);
  const er = assertGood(await send(lu, ms6(0x40 | 0x01, 0, 0x08), n));
  assert.ok(er.subarray(6).every((b) => b === 0), 'error recovery page: nothing changeable');
  // -t: WCE = 0 in current and default values
  assert.equal(assertGood(await send(lu, ms6(0x08, 0, 0x08), n))[6], 0x00);
  assert.equal(assertGood(await send(lu, ms6(0x80 | 0x08, 0, 0x08), n))[6], 0x00);
  assertCheck(await send(lu, ms6(0xc0 | 0x08), n), 5, 0x39, 0, { cdb: true, byte: 2, bit: 7 });
  assertCheck(await send(lu, ms6(0x05), n), 5, 0x24, 0, { cdb: true, byte: 2, bit: 5 });
  assertCheck(await send(lu, ms6(0x08, 0x01), n), 5, 0x24, 0, { cdb: true, byte: 3, bit: 7 });
});

test('MODE SENSE(10) with LLBAA returns a long block descriptor', async () => {
  const lu = await nullDisk();
  const n = nexus(1);
  await clearUa(lu, n);
  const d = assertGood(await send(lu, ms10(0x08, 0, 0x10), n));
  assert.equal(d.readUInt16BE(0), d.length - 2);
  assert.deepEqual([...d.subarray(2, 8)], [0, 0x10, 0x01, 0, 0, 16]);
  assert.equal(d.readBigUInt64BE(8), 2048n);
  assert.equal(d.readUInt32BE(20), 512);
  assert.equal(d[24], 0x08);
  const s = assertGood(await send(lu, ms10(0x08), n));
  assert.deepEqual([...s.subarray(2, 8)], [0, 0x10, 0, 0, 0, 8]);
});

function cachingSelect(wce: boolean, extra = 0): Buffer {
  const p = Buffer.alloc(4 + 20);
  p[4] = 0x08;
  p[5] = 0x12;
  p[6] = (wce ? 0x04 : 0) | extra;
  return p;
}

test('MODE SELECT: validate-then-apply, field pointers, 2A/01 to the other nexus', async () => {
  const lu = await nullDisk();
  const a = nexus(1);
  const b = nexus(2);
  await clearUa(lu, a);
  await clearUa(lu, b);
  // RCD is not changeable: byte 6 bit 0 of the parameter list
  assertCheck(await send(lu, msel6(24), a, { dataOut: cachingSelect(false, 0x01) }), 5, 0x26, 0, { cdb: false, byte: 6, bit: 0 });
  // wrong page length points at the page length byte
  const bad = cachingSelect(false);
  bad[5] = 0x10;
  assertCheck(await send(lu, msel6(22), a, { dataOut: bad.subarray(0, 22) }), 5, 0x26, 0, { cdb: false, byte: 5, bit: 7 });
  // a valid caching page followed by an invalid control page changes nothing
  const two = Buffer.concat([cachingSelect(false), Buffer.from([0x0a, 0x0a, 0x00, 0x00, 0, 0, 0, 0, 0xff, 0xff, 0, 0])]);
  assertCheck(await send(lu, msel6(two.length), a, { dataOut: two }), 5, 0x26, 0, { cdb: false, byte: 24 + 3, bit: 4 });
  assert.equal(assertGood(await send(lu, ms6(0x08, 0, 0x08), a))[6], 0x04, 'WCE unchanged after failed select');
  assertCheck(await send(lu, msel6(24, 0x00), a, { dataOut: cachingSelect(false) }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 4 });
  assertCheck(await send(lu, msel6(24, 0x11), a, { dataOut: cachingSelect(false) }), 5, 0x24, 0, { cdb: true, byte: 1, bit: 0 });
  assertCheck(await send(lu, msel6(2), a, { dataOut: Buffer.alloc(2) }), 5, 0x1a, 0, { cdb: true, byte: 4 });
  // unknown page 05h
  const unk = Buffer.from([0, 0, 0, 0, 0x05, 0x02, 0, 0]);
  assertCheck(await send(lu, msel6(8), a, { dataOut: unk }), 5, 0x26, 0, { cdb: false, byte: 4, bit: 5 });
  // short data-out
  assertCheck(await send(lu, msel6(24), a, { dataOut: Buffer.alloc(10) }), 5, 0x0e, 0x03);
  assertGood(await send(lu, TUR, b));
  // a real change
  assertGood(await send(lu, msel6(24), a, { dataOut: cachingSelect(false) }));
  assert.equal(assertGood(await send(lu, ms6(0x08, 0, 0x08), a))[6], 0x00);
  assertGood(await send(lu, TUR, a));
  assertCheck(await send(lu, TUR, b), 6, 0x2a, 0x01);
  assertGood(await send(lu, TUR, b));
  // selecting the same values again raises no UA
  assertGood(await send(lu, msel6(24), a, { dataOut: cachingSelect(false) }));
  assertGood(await send(lu, TUR, b));
  // block descriptor: wrong block length points at its byte 5 (parameter list byte 9)
  const bd = Buffer.from([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x10, 0]);
  assertCheck(await send(lu, msel6(12), a, { dataOut: bd }), 5, 0x26, 0, { cdb: false, byte: 9 });
  bd[10] = 0x02;
  assertGood(await send(lu, msel6(12), a, { dataOut: bd }));
});

test('MODE SELECT D_SENSE switches to descriptor sense; SWP write-protects', async () => {
  const lu = await nullDisk();
  const n = nexus(1);
  await clearUa(lu, n);
  const ctl = (dsense: boolean, swp: boolean) => Buffer.from([0, 0, 0, 0, 0x0a, 0x0a, dsense ? 0x04 : 0, 0x10, swp ? 0x08 : 0, 0, 0, 0, 0xff, 0xff, 0, 0]);
  assertGood(await send(lu, msel6(16), n, { dataOut: ctl(true, false) }));
  const r = await send(lu, [0x02, 0, 0, 0, 0, 0], n);
  assert.equal(r.status, 2);
  assert.deepEqual([...r.sense!], [0x72, 0x05, 0x20, 0x00, 0, 0, 0, 8, 0x02, 0x06, 0, 0, 0xc0, 0, 0, 0]);
  assertGood(await send(lu, msel6(16), n, { dataOut: ctl(false, true) }));
  const w = await send(lu, cdb10(0x2a, 0, 1), n, { dataOut: Buffer.alloc(512) });
  assertCheck(w, 7, 0x27, 0x00);
  // the range check comes first
  assertCheck(await send(lu, cdb10(0x2a, 2048, 1), n, { dataOut: Buffer.alloc(512) }), 5, 0x21, 0);
  assert.equal(assertGood(await send(lu, ms6(0x08), n))[2], 0x90, 'WP and DPOFUA');
  assertGood(await send(lu, cdb10(0x28, 0, 1), n));
  // LUN reset restores defaults (after the reset's own unit attention)
  await lu.taskManagement('lun-reset', n);
  assertCheck(await send(lu, TUR, n), 6, 0x29, 0x03);
  assertGood(await send(lu, cdb10(0x2a, 0, 1), n, { dataOut: Buffer.alloc(512) }));
});

test('unit attention lifecycle across nexuses', async () => {
  const lu = await nullDisk();
  const a = nexus(1);
  const b = nexus(2);
  // INQUIRY neither blocks nor consumes
  assertGood(await send(lu, [0x12, 0, 0, 0, 36, 0], a));
  assertCheck(await send(lu, cdb10(0x28, 0, 1), a), 6, 0x29, 0x00);
  assertGood(await send(lu, cdb10(0x28, 0, 1), a));
  await clearUa(lu, b);
  // LUN reset from a: every nexus gets 29/03, a included
  await lu.taskManagement('lun-reset', a);
  assertCheck(await send(lu, TUR, a), 6, 0x29, 0x03);
  assertGood(await send(lu, TUR, a));
  assertCheck(await send(lu, TUR, b), 6, 0x29, 0x03);
  assertGood(await send(lu, TUR, b));
  // target resets: everybody
  await lu.taskManagement('target-warm-reset', a);
  assertCheck(await send(lu, TUR, a), 6, 0x29, 0x02);
  assertCheck(await send(lu, TUR, b), 6, 0x29, 0x02);
  await lu.taskManagement('target-cold-reset', a);
  assertCheck(await send(lu, TUR, b), 6, 0x29, 0x01);
  // nexus loss: the same initiator port coming back gets 29/07
  lu.nexusLost(b);
  const b2: Nexus = { ...b, id: 'nexus-b-again' };
  assertCheck(await send(lu, TUR, b2), 6, 0x29, 0x07);
  assertGood(await send(lu, TUR, b2));
  const c = nexus(3);
  assertCheck(await send(lu, TUR, c), 6, 0x29, 0x00);
});

test('ScsiTarget: REPORT LUNS, absent LUNs, task management routing', async () => {
  const l0 = await nullDisk({ name: 'd0' });
  const l5 = await nullDisk({ name: 'd5' });
  const l300 = await nullDisk({ name: 'd300' });
  const t = new ScsiTarget(new Map([[300, l300], [0, l0], [5, l5]]));
  const n = nexus(1);
  const rl = (select: number, alloc = 4096) => [0xa0, 0, select, 0, 0, 0, alloc >>> 24, (alloc >> 16) & 0xff, (alloc >> 8) & 0xff, alloc & 0xff, 0, 0];
  const d = assertGood(await t.execute({ ...cmd(rl(0), n), lun: 7 }));
  assert.deepEqual(
    [...d],
    [0, 0, 0, 24, 0, 0, 0, 0, /* 0 */ 0, 0, 0, 0, 0, 0, 0, 0, /* 5 */ 0, 5, 0, 0, 0, 0, 0, 0, /* 300 flat */ 0x41, 0x2c, 0, 0, 0, 0, 0, 0],
  );
  assert.deepEqual([...assertGood(await t.execute(cmd(rl(2), n)))].length, 32);
  assert.deepEqual([...assertGood(await t.execute(cmd(rl(1), n)))], [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(assertGood(await t.execute(cmd(rl(0, 16), n))).length, 16);
  assertCheck(await t.execute(cmd(rl(0x05), n)), 5, 0x24, 0, { cdb: true, byte: 2 });
  // absent LUN
  const inq = assertGood(await t.execute({ ...cmd([0x12, 0, 0, 0, 96, 0], n), lun: 9 }));
  assert.deepEqual([...inq.subarray(0, 4)], [0x7f, 0, 0x06, 0x12]);
  const rs = assertGood(await t.execute({ ...cmd([0x03, 0, 0, 0, 18, 0], n), lun: 9 }));
  assert.deepEqual([rs[0], rs[2], rs[12], rs[13]], [0x70, 0x05, 0x25, 0x00]);
  assertCheck(await t.execute({ ...cmd(TUR, n), lun: 9 }), 5, 0x25, 0x00);
  assertCheck(await t.execute({ ...cmd(cdb10(0x28, 0, 1), n), lun: 9 }), 5, 0x25, 0x00);
  assert.equal(t.hasLun(5), true);
  assert.equal(t.hasLun(9), false);
  assert.equal(await t.taskManagement('lun-reset', n, 9), 'no-such-lun');
  // routing: the command reaches LUN 5
  assertCheck(await t.execute({ ...cmd(TUR, n), lun: 5 }), 6, 0x29, 0x00);
  assertGood(await t.execute({ ...cmd(TUR, n), lun: 5 }));
  assert.equal(await t.taskManagement('target-warm-reset', n, 0), 'complete');
  assertCheck(await t.execute({ ...cmd(TUR, n), lun: 5 }), 6, 0x29, 0x02);
});

function cmd(cdb: number[], n: Nexus) {
  return { cdb: Buffer.from(cdb), nexus: n, lun: 0, tag: 1, attribute: 'simple' as const, expectedLength: 65536 };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function testUnit(run: (cdb: Buffer) => Promise<void> | void): ScsiLogicalUnit {
  return new ScsiLogicalUnit({
    name: 'x',
    type: 'test',
    peripheralType: 0,
    removable: false,
    identity: deriveIdentity({ name: 'x' }),
    versionDescriptors: [],
    commands: [{ opcode: 0xc1, name: 'TEST', usage: usage(0xc1, 0xff, 0, 0, 0, 0x07), run: (ctx) => run(ctx.cdb) }],
    modePages: [],
    describe: () => ({}),
    flush: async () => {},
    close: async () => {},
    log: (level, m) => logs.push(`${level}: ${m}`),
  });
}

test('an unexpected JS error becomes 04/44/00 and a log line', async () => {
  const lu = testUnit(() => {
    throw new TypeError('boom');
  });
  const n = nexus(1);
  await clearUa(lu, n);
  assertCheck(await send(lu, [0xc1, 0, 0, 0, 0, 0], n), 4, 0x44, 0x00);
  assert.ok(logs.some((l) => l.startsWith('error:') && l.includes('boom')));
});

test('SIMPLE commands run concurrently; ORDERED waits for earlier and holds back later ones', async () => {
  const events: string[] = [];
  const gates = new Map<number, ReturnType<typeof deferred>>();
  const lu = testUnit(async (cdb) => {
    const id = cdb[1]!;
    events.push(`start ${id}`);
    const g = deferred();
    gates.set(id, g);
    await g.promise;
    events.push(`end ${id}`);
  });
  const n = nexus(1);
  await clearUa(lu, n);
  const tick = () => new Promise((r) => setImmediate(r));
  const p1 = send(lu, [0xc1, 1, 0, 0, 0, 0], n);
  const p2 = send(lu, [0xc1, 2, 0, 0, 0, 0], n);
  await tick();
  assert.deepEqual(events, ['start 1', 'start 2']);
  const p3 = send(lu, [0xc1, 3, 0, 0, 0, 0], n, { attribute: 'ordered' });
  const p4 = send(lu, [0xc1, 4, 0, 0, 0, 0], n);
  const p5 = send(lu, [0xc1, 5, 0, 0, 0, 0], n, { attribute: 'head-of-queue' });
  await tick();
  assert.deepEqual(events, ['start 1', 'start 2', 'start 5']);
  gates.get(1)!.resolve();
  gates.get(5)!.resolve();
  await tick();
  assert.ok(!events.includes('start 3'));
  gates.get(2)!.resolve();
  await tick();
  await tick();
  assert.ok(events.includes('start 3'));
  assert.ok(!events.includes('start 4'));
  gates.get(3)!.resolve();
  await tick();
  await tick();
  assert.ok(events.includes('start 4'));
  gates.get(4)!.resolve();
  for (const p of [p1, p2, p3, p4, p5]) assertGood(await p);
  assert.ok(events.indexOf('end 3') < events.indexOf('start 4'));
});
