// SPC odds and ends: REPORT TARGET PORT GROUPS + TPGS, REPORT SUPPORTED TMFS, LOG SENSE/SELECT,
// READ DEFECT DATA, EXTENDED COPY(LID1) between two LUs + RECEIVE COPY RESULTS, VPD 8Fh, RSOC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertCheck, assertGood, cdb10, cdb16, clearUa, diskConfig, nexus, openDisk, send } from '../helpers/scsi-harness.ts';

const MiB = 1 << 20;

function disk(name = 'disk1') {
  return openDisk(diskConfig({ name, nullio: true, sizeBytes: 4 * MiB }));
}

function cdb12(op: number, b1: number, alloc: number): number[] {
  const b = Buffer.alloc(12);
  b[0] = op;
  b[1] = b1;
  b.writeUInt32BE(alloc, 6);
  return [...b];
}

test('REPORT TARGET PORT GROUPS: one active/optimized group with the relative port; TPGS = 01b', async () => {
  const lu = await disk();
  const n = nexus(1);
  await clearUa(lu, n);
  const r = assertGood(await send(lu, cdb12(0xa3, 0x0a, 256), n));
  assert.deepEqual([...r], [0, 0, 0, 12, 0x80, 0x01, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const ext = assertGood(await send(lu, cdb12(0xa3, 0x2a, 256), n));
  assert.deepEqual([...ext.subarray(0, 8)], [0, 0, 0, 16, 0x10, 0, 0, 0]);
  assert.equal(ext.length, 20);
  assert.equal(assertGood(await send(lu, cdb12(0xa3, 0x0a, 6), n)).length, 6);
  assertCheck(await send(lu, cdb12(0xa3, 0x4a, 256), n), 5, 0x24, 0, { cdb: true, byte: 1, bit: 7 });
  const inq = assertGood(await send(lu, [0x12, 0, 0, 0, 96, 0], n));
  assert.equal(inq[5]! & 0x30, 0x10, 'TPGS implicit');
  assert.equal(inq[5]! & 0x08, 0x08, '3PC');
  // VPD 83h carries the same target port group (designator type 5)
  const vpd = assertGood(await send(lu, [0x12, 1, 0x83, 1, 0, 0], n));
  let off = 4;
  let tpg: number | undefined;
  while (off < vpd.length) {
    if ((vpd[off + 1]! & 0x3f) === 0x15) tpg = vpd.readUInt16BE(off + 6);
    off += 4 + vpd[off + 3]!;
  }
  assert.equal(tpg, 1);
  // REPORT SUPPORTED TMFS
  assert.deepEqual([...assertGood(await send(lu, cdb12(0xa3, 0x0d, 4), n))], [0xda, 0, 0, 0]);
  const repd = [...cdb12(0xa3, 0x0d, 16)];
  repd[2] = 0x80;
  assert.deepEqual([...assertGood(await send(lu, repd, n))].slice(0, 4), [0xda, 0, 0, 0x0c]);
});

test('LOG SENSE: supported pages, subpages, informational exceptions; LOG SELECT refuses parameters', async () => {
  const lu = await disk();
  const n = nexus(1);
  await clearUa(lu, n);
  const ls = (page: number, sub = 0, alloc = 255, b1 = 0, ptr = 0) => [0x4d, b1, page, sub, 0, ptr >> 8, ptr & 0xff, alloc >> 8, alloc & 0xff, 0];
  assert.deepEqual([...assertGood(await send(lu, ls(0x00), n))], [0x00, 0x00, 0, 2, 0x00, 0x2f]);
  assert.deepEqual([...assertGood(await send(lu, ls(0x40, 0xff), n))], [0x40, 0xff, 0, 6, 0x00, 0x00, 0x00, 0xff, 0x2f, 0x00]);
  assert.deepEqual([...assertGood(await send(lu, ls(0x6f), n))], [0xaf, 0x00, 0, 7, 0, 0, 0x03, 3, 0, 0, 0xff]);
  assert.equal(assertGood(await send(lu, ls(0x2f, 0, 4), n)).length, 4);
  assertCheck(await send(lu, ls(0x2f, 0, 255, 0, 1), n), 5, 0x24, 0, { cdb: true, byte: 5 });
  assertCheck(await send(lu, ls(0x0d), n), 5, 0x24, 0, { cdb: true, byte: 2, bit: 5 });
  assertCheck(await send(lu, ls(0x2f, 1), n), 5, 0x24, 0, { cdb: true, byte: 3 });
  assertCheck(await send(lu, ls(0x2f, 0, 255, 1), n), 5, 0x24, 0, { cdb: true, byte: 1, bit: 0 });
  const sel = (b1: number, len: number) => [0x4c, b1, 0x40 | 0x2f, 0, 0, 0, 0, len >> 8, len & 0xff, 0];
  assertGood(await send(lu, sel(0x02, 0), n)); // PCR: nothing accumulates
  assertGood(await send(lu, sel(0x00, 0), n));
  assertCheck(await send(lu, sel(0x01, 0), n), 5, 0x24, 0, { cdb: true, byte: 1, bit: 0 });
  assertCheck(await send(lu, sel(0x00, 12), n, { dataOut: Buffer.from([0x2f, 0, 0, 8, 0, 0, 0x03, 4, 0, 0, 0, 0]) }), 5, 0x26, 0, { cdb: false, byte: 0 });
});

test('READ DEFECT DATA(10/12): empty lists in the requested format', async () => {
  const lu = await disk();
  const n = nexus(1);
  await clearUa(lu, n);
  assert.deepEqual([...assertGood(await send(lu, [0x37, 0, 0x18 | 0x05, 0, 0, 0, 0, 0, 32, 0], n))], [0, 0x1d, 0, 0]);
  assert.deepEqual([...assertGood(await send(lu, [0x37, 0, 0x00, 0, 0, 0, 0, 0, 32, 0], n))], [0, 0, 0, 0]);
  assert.deepEqual([...assertGood(await send(lu, cdb12(0xb7, 0x0b, 32), n))], [0, 0x0b, 0, 0, 0, 0, 0, 0]);
  assertCheck(await send(lu, [0x37, 0, 0x07, 0, 0, 0, 0, 0, 32, 0], n), 5, 0x24, 0, { cdb: true, byte: 2, bit: 2 });
});

/** One E4h identification target descriptor naming a LU by its NAA designator. */
function targetDescriptor(naa: Buffer, blockSize: number): Buffer {
  const d = Buffer.alloc(32);
  d[0] = 0xe4;
  d[4] = 0x01; // binary
  d[5] = 0x03; // LU association, NAA
  d[7] = naa.length;
  naa.copy(d, 8);
  d.writeUIntBE(blockSize, 29, 3);
  return d;
}

function b2b(src: number, dst: number, blocks: number, srcLba: bigint, dstLba: bigint): Buffer {
  const d = Buffer.alloc(28);
  d[0] = 0x02;
  d.writeUInt16BE(0x18, 2);
  d.writeUInt16BE(src, 4);
  d.writeUInt16BE(dst, 6);
  d.writeUInt16BE(blocks, 10);
  d.writeBigUInt64BE(srcLba, 12);
  d.writeBigUInt64BE(dstLba, 20);
  return d;
}

function xcopyList(listId: number, usage: number, tds: Buffer[], sds: Buffer[]): Buffer {
  const h = Buffer.alloc(16);
  h[0] = listId;
  h[1] = usage << 3;
  const td = Buffer.concat(tds);
  const sd = Buffer.concat(sds);
  h.writeUInt16BE(td.length, 2);
  h.writeUInt32BE(sd.length, 8);
  return Buffer.concat([h, td, sd]);
}

function xcopyCdb(len: number): number[] {
  const b = Buffer.alloc(16);
  b[0] = 0x83;
  b.writeUInt32BE(len, 10);
  return [...b];
}

function rcrCdb(sa: number, listId: number, alloc = 1024): number[] {
  const b = Buffer.alloc(16);
  b[0] = 0x84;
  b[1] = sa;
  b[2] = listId;
  b.writeUInt32BE(alloc, 10);
  return [...b];
}

async function naaOf(lu: Awaited<ReturnType<typeof disk>>, n: ReturnType<typeof nexus>): Promise<Buffer> {
  const vpd = assertGood(await send(lu, [0x12, 1, 0x83, 1, 0, 0], n));
  assert.equal(vpd[5]! & 0x0f, 3);
  return Buffer.from(vpd.subarray(8, 8 + vpd[7]!));
}

test('EXTENDED COPY(LID1): block -> block between two LUs, COPY STATUS, limits and errors', async () => {
  const t = await import('../helpers/scsi-harness.ts');
  const dir = await t.tempDir();
  try {
    const fa = await t.tempImage(dir.dir, 4 * MiB, 'a.img');
    const fb = await t.tempImage(dir.dir, 4 * MiB, 'b.img');
    const a = await openDisk(diskConfig({ name: 'xa', file: fa }));
    const b = await openDisk(diskConfig({ name: 'xb', file: fb }));
    const n = nexus(1);
    await clearUa(a, n);
    await clearUa(b, n);
    const naaA = await naaOf(a, n);
    const naaB = await naaOf(b, n);
    const data = Buffer.alloc(8 * 512);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    assertGood(await send(a, cdb10(0x2a, 10, 8), n, { dataOut: data }));

    // before any copy: no held results for list 1
    assertCheck(await send(a, rcrCdb(0x00, 1), n), 5, 0x24, 0, { cdb: true, byte: 2 });
    const list = xcopyList(1, 0, [targetDescriptor(naaA, 512), targetDescriptor(naaB, 512)], [b2b(0, 1, 8, 10n, 100n), b2b(0, 0, 8, 10n, 50n)]);
    const r = await send(a, xcopyCdb(list.length), n, { dataOut: list });
    assertGood(r);
    assert.deepEqual(assertGood(await send(b, cdb10(0x28, 100, 8), n)), data, 'copied into the other LU');
    assert.deepEqual(assertGood(await send(a, cdb10(0x28, 50, 8), n)), data, 'copied within the LU');
    const st = assertGood(await send(a, rcrCdb(0x00, 1), n));
    assert.deepEqual([...st], [0, 0, 0, 8, 0x01, 0, 2, 0, 0, 0, 0x20, 0x00]);
    assert.deepEqual([...assertGood(await send(a, rcrCdb(0x01, 1), n))], [0, 0, 0, 0]);
    // another nexus has no results for that list
    const m = nexus(2);
    await clearUa(a, m);
    assertCheck(await send(a, rcrCdb(0x00, 1), m), 5, 0x24, 0);

    // OPERATING PARAMETERS
    const op = assertGood(await send(a, rcrCdb(0x03, 0), n));
    assert.equal(op.readUInt32BE(0), op.length - 4);
    assert.equal(op.readUInt16BE(8), 8);
    assert.equal(op.readUInt16BE(10), 16);
    assert.equal(op.readUInt32BE(12), 1024);
    assert.deepEqual([...op.subarray(43)], [2, 0x02, 0xe4]);

    // parameter list length 0: nothing to do; truncated lists: 1A/00
    assertGood(await send(a, xcopyCdb(0), n));
    assertCheck(await send(a, xcopyCdb(list.length - 1), n, { dataOut: list.subarray(0, list.length - 1) }), 5, 0x1a, 0);
    // unsupported descriptor types
    const badTd = targetDescriptor(naaA, 512);
    badTd[0] = 0xe0;
    let l = xcopyList(2, 0, [badTd], [b2b(0, 0, 1, 0n, 1n)]);
    assertCheck(await send(a, xcopyCdb(l.length), n, { dataOut: l }), 5, 0x26, 0x07);
    const badSd = b2b(0, 0, 1, 0n, 1n);
    badSd[0] = 0x03;
    l = xcopyList(2, 0, [targetDescriptor(naaA, 512)], [badSd]);
    assertCheck(await send(a, xcopyCdb(l.length), n, { dataOut: l }), 5, 0x26, 0x09);
    // too many descriptors
    l = xcopyList(2, 0, Array.from({ length: 9 }, () => targetDescriptor(naaA, 512)), [b2b(0, 0, 1, 0n, 1n)]);
    assertCheck(await send(a, xcopyCdb(l.length), n, { dataOut: l }), 5, 0x26, 0x06);
    l = xcopyList(2, 0, [targetDescriptor(naaA, 512)], Array.from({ length: 17 }, () => b2b(0, 0, 1, 0n, 1n)));
    assertCheck(await send(a, xcopyCdb(l.length), n, { dataOut: l }), 5, 0x26, 0x08);
    // copy aborted: missing target descriptor index, unknown LU, beyond the end
    l = xcopyList(3, 0, [targetDescriptor(naaA, 512)], [b2b(0, 1, 1, 0n, 1n)]);
    assertCheck(await send(a, xcopyCdb(l.length), n, { dataOut: l }), 0x0a, 0x0d, 0x02);
    const fsd = assertGood(await send(a, rcrCdb(0x04, 3), n));
    assert.equal(fsd[56], 0x02);
    assert.equal(fsd.readUInt16BE(58), fsd.length - 60);
    const other = Buffer.from(naaA);
    other[15] ^= 0xff;
    l = xcopyList(3, 0, [targetDescriptor(other, 512)], [b2b(0, 0, 1, 0n, 1n)]);
    assertCheck(await send(a, xcopyCdb(l.length), n, { dataOut: l }), 0x0a, 0x08, 0x04);
    l = xcopyList(3, 0, [targetDescriptor(naaA, 512)], [b2b(0, 0, 2, 0n, 8191n)]);
    assertCheck(await send(a, xcopyCdb(l.length), n, { dataOut: l }), 0x0a, 0x00, 0x00);
    await b.close();
    // a closed LU is no longer reachable
    l = xcopyList(3, 0, [targetDescriptor(naaA, 512), targetDescriptor(naaB, 512)], [b2b(0, 1, 1, 0n, 1n)]);
    assertCheck(await send(a, xcopyCdb(l.length), n, { dataOut: l }), 0x0a, 0x08, 0x04);
    await a.close();
  } finally {
    await dir.cleanup();
  }
});

test('VPD 8Fh third-party copy and RSOC list the new commands', async () => {
  const lu = await disk();
  const n = nexus(1);
  await clearUa(lu, n);
  const sup = assertGood(await send(lu, [0x12, 1, 0x00, 1, 0, 0], n));
  assert.ok([...sup.subarray(4)].includes(0x8f));
  const p = assertGood(await send(lu, [0x12, 1, 0x8f, 1, 0, 0], n));
  assert.equal(p[1], 0x8f);
  const types: number[] = [];
  for (let off = 4; off < p.length; off += 4 + p.readUInt16BE(off + 2)) types.push(p.readUInt16BE(off));
  assert.deepEqual(types, [0x0001, 0x0004, 0x0008, 0x8001]);
  const rsoc = (op: number, sa: number, opts: number) => {
    const b = Buffer.alloc(12);
    b[0] = 0xa3;
    b[1] = 0x0c;
    b[2] = opts;
    b[3] = op;
    b.writeUInt16BE(sa, 4);
    b.writeUInt32BE(512, 6);
    return [...b];
  };
  for (const [op, sa] of [[0x83, 0], [0x84, 0], [0x84, 3], [0xa3, 0x0a], [0xa3, 0x0d]] as const) {
    assert.equal(assertGood(await send(lu, rsoc(op, sa, 2), n))[1]! & 0x07, 3, `${op.toString(16)}/${sa}`);
  }
  for (const op of [0x1b, 0x37, 0xb7, 0x4c, 0x4d]) {
    assert.equal(assertGood(await send(lu, rsoc(op, 0, 1), n))[1]! & 0x07, 3, op.toString(16));
  }
  assert.equal(assertGood(await send(lu, rsoc(0x1e, 0, 1), n))[1]! & 0x07, 1, 'no PREVENT ALLOW on a fixed disk');
  void cdb16;
});

test('EXTENDED COPY through a target port reaches only the LUs it maps; a read-only mapping is write protected', async () => {
  const t = await import('../helpers/scsi-harness.ts');
  const { ScsiTarget } = await import('../../src/scsi/target.ts');
  const dir = await t.tempDir();
  try {
    const a = await openDisk(diskConfig({ name: 'va', file: await t.tempImage(dir.dir, 4 * MiB, 'a.img') }));
    const hidden = await openDisk(diskConfig({ name: 'vhidden', file: await t.tempImage(dir.dir, 4 * MiB, 'h.img') }));
    const ro = await openDisk(diskConfig({ name: 'vro', file: await t.tempImage(dir.dir, 4 * MiB, 'r.img') }));
    const n = nexus(1);
    for (const lu of [a, hidden, ro]) await clearUa(lu, n);
    const [naaA, naaHidden, naaRo] = [await naaOf(a, n), await naaOf(hidden, n), await naaOf(ro, n)];
    const secret = Buffer.alloc(512, 0x5e);
    assertGood(await send(hidden, cdb10(0x2a, 0, 1), n, { dataOut: secret }));
    // the initiator's view: a at LUN 0 (writable), ro at LUN 1 (read-only); hidden is not mapped
    const view = new ScsiTarget(new Map([[0, a], [1, ro]]), { readOnly: new Set([1]) });
    const copy = (tds: Buffer[], seg: Buffer) => {
      const list = xcopyList(1, 0, tds, [seg]);
      return send(view, xcopyCdb(list.length), n, { dataOut: list, lun: 0 });
    };
    // reading a unit the view does not map: unreachable copy target, nothing copied
    assertCheck(await copy([targetDescriptor(naaHidden, 512), targetDescriptor(naaA, 512)], b2b(0, 1, 1, 0n, 0n)), 0x0a, 0x08, 0x04);
    assert.notDeepEqual(assertGood(await send(a, cdb10(0x28, 0, 1), n)), secret, 'the hidden LU\'s data did not leak');
    // writing into the read-only mapping: DATA PROTECT; copying from it is fine
    assertCheck(await copy([targetDescriptor(naaA, 512), targetDescriptor(naaRo, 512)], b2b(0, 1, 1, 0n, 0n)), 7, 0x27, 0);
    assertGood(await copy([targetDescriptor(naaRo, 512), targetDescriptor(naaA, 512)], b2b(0, 1, 1, 0n, 5n)));
    // the LU itself, without a port in front (kernel links), still reaches every copy endpoint
    const list = xcopyList(2, 0, [targetDescriptor(naaHidden, 512), targetDescriptor(naaA, 512)], [b2b(0, 1, 1, 0n, 9n)]);
    assertGood(await send(a, xcopyCdb(list.length), n, { dataOut: list }));
    for (const lu of [a, hidden, ro]) await lu.close();
  } finally {
    await dir.cleanup();
  }
});
