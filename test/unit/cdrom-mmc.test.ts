// The cdrom handler on raw CDBs: MMC-6 commands against small sparse images (CD and >4 GiB DVD),
// tray/prevent/media-change state, GESN event queues and 28/00 unit attentions per I_T nexus.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertCheck, assertGood, clearUa, nexus, send, tempDir, testLog } from '../helpers/scsi-harness.ts';
import { deviceDefaults } from '../../src/host/config.ts';
import { createCdromUnit } from '../../src/handlers/cdrom/create.ts';
import { IsoDisc } from '../../src/handlers/cdrom/disc.ts';
import { DriveState, MediaEvent } from '../../src/handlers/cdrom/state.ts';

let dir: string;
let cleanup: () => Promise<void>;
let cdIso: string;
let dvdIso: string;
const CD_BLOCKS = 1000;
const DVD_BYTES = 5 * 2 ** 30 + 2048 * 3; // > 4 GiB, sparse

before(async () => {
  ({ dir, cleanup } = await tempDir());
  cdIso = join(dir, 'cd.iso');
  const b = Buffer.alloc(CD_BLOCKS * 2048);
  for (let i = 0; i < CD_BLOCKS; i++) b.writeUInt32BE(i, i * 2048);
  await writeFile(cdIso, b);
  dvdIso = join(dir, 'dvd.iso');
  const fh = await open(dvdIso, 'w');
  await fh.truncate(DVD_BYTES);
  const tail = Buffer.alloc(2048, 0xab);
  await fh.write(tail, 0, 2048, DVD_BYTES - 2048);
  await fh.close();
});
after(() => cleanup());

const cfg = () => deviceDefaults('dvd1', 'cdrom');
async function drive(file?: string) {
  const disc = file ? await IsoDisc.open(file) : undefined;
  const lu = createCdromUnit(cfg(), disc, testLog);
  const a = nexus(1);
  const b = nexus(2);
  await send(lu, [0x12, 0, 0, 0, 96, 0], a); // first command: registers the nexus
  await send(lu, [0x12, 0, 0, 0, 96, 0], b);
  await clearUa(lu, a).catch(() => undefined);
  await clearUa(lu, b).catch(() => undefined);
  return { lu, a, b };
}
const TUR = [0, 0, 0, 0, 0, 0];
const ssu = (b4: number) => [0x1b, 0, 0, 0, b4, 0];
const prevent = (v: number) => [0x1e, 0, 0, 0, v, 0];
const gesn = (classes = 0x16, alloc = 8) => [0x4a, 0x01, 0, 0, classes, 0, 0, alloc >> 8, alloc & 0xff, 0];
const getConf = (rt: number, start: number, alloc = 1024) => [0x46, rt, start >> 8, start & 0xff, 0, 0, 0, alloc >> 8, alloc & 0xff, 0];
const read10 = (lba: number, n: number) => [0x28, 0, lba >>> 24, (lba >> 16) & 0xff, (lba >> 8) & 0xff, lba & 0xff, 0, n >> 8, n & 0xff, 0];
const toc = (msf: boolean, format: number, track = 0, alloc = 1024) => [0x43, msf ? 2 : 0, format, 0, 0, 0, track, alloc >> 8, alloc & 0xff, 0];

interface FeatureDesc {
  current: boolean;
  persistent: boolean;
  version: number;
  data: Buffer;
}
function featureList(d: Buffer): Map<number, FeatureDesc> {
  const m = new Map<number, FeatureDesc>();
  for (let off = 8; off + 4 <= d.length; ) {
    const len = d[off + 3]!;
    const b2 = d[off + 2]!;
    m.set(d.readUInt16BE(off), { current: (b2 & 1) === 1, persistent: (b2 & 2) === 2, version: (b2 >> 2) & 0xf, data: d.subarray(off + 4, off + 4 + len) });
    off += 4 + len;
  }
  return m;
}

test('INQUIRY: type 05h, RMB=1, MMC-6 version descriptor; no block-device VPD pages', async () => {
  const { lu, a } = await drive(cdIso);
  const d = assertGood(await send(lu, [0x12, 0, 0, 0, 96, 0], a));
  assert.equal(d[0], 0x05);
  assert.equal(d[1], 0x80);
  const descs = [0, 1, 2, 3].map((i) => d.readUInt16BE(58 + 2 * i));
  assert.ok(descs.includes(0x04e0), `version descriptors ${descs.map((x) => x.toString(16))}`);
  const vpd = assertGood(await send(lu, [0x12, 1, 0, 0, 255, 0], a));
  assert.deepEqual([...vpd.subarray(4)], [0x00, 0x80, 0x83, 0x86]);
});

test('CD image: READ CAPACITY, READ(10)/(12), READ CD user data, range errors, writes refused', async () => {
  const { lu, a } = await drive(cdIso);
  const cap = assertGood(await send(lu, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], a));
  assert.equal(cap.readUInt32BE(0), CD_BLOCKS - 1);
  assert.equal(cap.readUInt32BE(4), 2048);
  const r = assertGood(await send(lu, read10(7, 2), a));
  assert.equal(r.length, 4096);
  assert.equal(r.readUInt32BE(0), 7);
  assert.equal(r.readUInt32BE(2048), 8);
  const r12 = assertGood(await send(lu, [0xa8, 0, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0], a));
  assert.equal(r12.readUInt32BE(0), 9);
  const cd = assertGood(await send(lu, [0xbe, 0x08, 0, 0, 0, 5, 0, 0, 1, 0x10, 0, 0], a)); // mode 1, user data
  assert.equal(cd.readUInt32BE(0), 5);
  assert.equal(assertGood(await send(lu, [0xbe, 0, 0, 0, 0, 5, 0, 0, 1, 0x00, 0, 0], a)).length, 0); // no fields: no data
  assertCheck(await send(lu, [0xbe, 0x04, 0, 0, 0, 5, 0, 0, 1, 0x10, 0, 0], a), 5, 0x64, 0x00); // CD-DA on a data track
  assertCheck(await send(lu, [0xbe, 0x10, 0, 0, 0, 5, 0, 0, 1, 0x10, 0, 0], a), 5, 0x64, 0x00); // mode 2 form 1
  assertCheck(await send(lu, [0xbe, 0x00, 0, 0, 0, 5, 0, 0, 1, 0xf8, 0, 0], a), 5, 0x24, 0x00, { cdb: true, byte: 9, bit: 7 }); // raw 2352
  assertCheck(await send(lu, [0xbe, 0x00, 0, 0, 0, 5, 0, 0, 1, 0x10, 0x01, 0], a), 5, 0x24, 0x00); // sub-channel
  assertCheck(await send(lu, read10(CD_BLOCKS - 1, 2), a), 5, 0x21, 0x00);
  // a read-only disc: CANNOT WRITE MEDIUM - INCOMPATIBLE FORMAT, nothing written
  assertCheck(await send(lu, [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], a, { dataOut: Buffer.alloc(2048) }), 5, 0x30, 0x05);
  assertCheck(await send(lu, [0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], a, { dataOut: Buffer.alloc(2048) }), 5, 0x30, 0x05);
  assert.ok(assertGood(await send(lu, read10(0, 1), a)).equals(Buffer.from((await readFile(cdIso)).subarray(0, 2048))), 'the image is unchanged');
  assertCheck(await send(lu, [0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], a), 5, 0x20, 0x00); // READ(16) is not MMC
});

test('READ CAPACITY(16), SEEK(10), SYNCHRONIZE CACHE(10): capacity, LBA range, nothing to flush; NOT READY without a disc', async () => {
  const { lu, a } = await drive(cdIso);
  const rc16 = assertGood(await send(lu, [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0], a));
  assert.equal(rc16.length, 32);
  assert.equal(rc16.readBigUInt64BE(0), BigInt(CD_BLOCKS - 1));
  assert.equal(rc16.readUInt32BE(8), 2048);
  assert.equal(assertGood(await send(lu, [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0], a)).length, 12);
  assertGood(await send(lu, [0x2b, 0, 0, 0, (CD_BLOCKS - 1) >> 8, (CD_BLOCKS - 1) & 0xff, 0, 0, 0, 0], a));
  assertCheck(await send(lu, [0x2b, 0, 0, 0, CD_BLOCKS >> 8, CD_BLOCKS & 0xff, 0, 0, 0, 0], a), 5, 0x21, 0x00);
  assertGood(await send(lu, [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], a));
  const empty = await drive();
  assertCheck(await send(empty.lu, [0x2b, 0, 0, 0, 0, 0, 0, 0, 0, 0], empty.a), 2, 0x3a, 0x01);
  assertCheck(await send(empty.lu, [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0], empty.a), 2, 0x3a, 0x01);
});

test('GET CONFIGURATION: CD-ROM current on a CD image; RT 0/1/2; features and current bits', async () => {
  const { lu, a } = await drive(cdIso);
  const all = assertGood(await send(lu, getConf(0, 0), a));
  assert.equal(all.readUInt32BE(0), all.length - 4);
  assert.equal(all.readUInt16BE(6), 0x0008);
  const f = featureList(all);
  for (const code of [0x0000, 0x0001, 0x0002, 0x0003, 0x0010, 0x001d, 0x001e, 0x001f, 0x0100, 0x0105, 0x0108]) assert.ok(f.has(code), `feature ${code.toString(16)}`);
  const profiles = f.get(0)!.data;
  assert.deepEqual([...profiles], [0x00, 0x10, 0, 0, 0x00, 0x08, 1, 0]);
  assert.equal(f.get(0x001e)!.current, true);
  assert.equal(f.get(0x001f)!.current, false);
  assert.equal(f.get(0x0010)!.data.readUInt32BE(0), 2048);
  assert.equal(f.get(0x0003)!.data[0]! >> 5, 1, 'tray loading mechanism');
  // MMC-6 feature bits: version, persistent (bit 1) and current (bit 0) of each descriptor
  const vpc = (code: number) => {
    const { version, persistent, current } = f.get(code)!;
    return { version, persistent, current };
  };
  assert.deepEqual(vpc(0x0000), { version: 0, persistent: true, current: true });
  assert.deepEqual(vpc(0x0001), { version: 2, persistent: true, current: true });
  assert.deepEqual(vpc(0x0002), { version: 1, persistent: true, current: true });
  assert.deepEqual(vpc(0x0003), { version: 2, persistent: true, current: true });
  assert.deepEqual(vpc(0x0010), { version: 0, persistent: false, current: true });
  assert.deepEqual(vpc(0x001e), { version: 2, persistent: false, current: true });
  assert.deepEqual(vpc(0x001f), { version: 2, persistent: false, current: false });
  assert.deepEqual(vpc(0x0100), { version: 0, persistent: true, current: true });
  assert.deepEqual(vpc(0x0105), { version: 1, persistent: true, current: true });
  assert.equal(f.get(0x0001)!.data.readUInt32BE(0), 1, 'physical interface: SCSI family');
  assert.equal(f.get(0x0001)!.data[4], 0x03, 'Core: INQ2 and DBE');
  assert.equal(f.get(0x0002)!.data[0], 0x02, 'Morphing: OCEvent, polled only');
  assert.equal(f.get(0x0003)!.data[0], 0x3d, 'Removable Medium: tray, Load, Eject, Pvnt Jmpr (no jumper), Lock');
  assert.equal(f.get(0x001f)!.data.length, 4);
  const current = featureList(assertGood(await send(lu, getConf(1, 0), a)));
  assert.ok(!current.has(0x001f) && current.has(0x001e));
  const one = assertGood(await send(lu, getConf(2, 0x001e), a));
  assert.equal(one.length, 8 + 8);
  assert.equal(one.readUInt16BE(8), 0x001e);
  const from = featureList(assertGood(await send(lu, getConf(0, 0x0100), a)));
  assert.deepEqual([...from.keys()], [0x0100, 0x0105, 0x0108]);
  assert.equal(assertGood(await send(lu, getConf(2, 0x0107), a)).length, 8); // unsupported: header only
  assertCheck(await send(lu, getConf(3, 0), a), 5, 0x24, 0x00, { cdb: true, byte: 1, bit: 1 });
  const short = assertGood(await send(lu, getConf(0, 0, 8), a));
  assert.equal(short.length, 8);
  assert.equal(short.readUInt32BE(0), all.length - 4, 'data length is not truncated');
});

test('DVD image over 4 GiB: DVD-ROM profile, capacity, reads at the end, READ DVD STRUCTURE, READ CD refused', async () => {
  const { lu, a } = await drive(dvdIso);
  const blocks = Math.ceil(DVD_BYTES / 2048);
  const cap = assertGood(await send(lu, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], a));
  assert.equal(cap.readUInt32BE(0), blocks - 1);
  const last = assertGood(await send(lu, read10(blocks - 1, 1), a));
  assert.ok(last.every((x) => x === 0xab));
  const conf = assertGood(await send(lu, getConf(1, 0), a));
  assert.equal(conf.readUInt16BE(6), 0x0010);
  const f = featureList(conf);
  assert.ok(f.has(0x001f) && !f.has(0x001e));
  assert.equal(f.get(0x0010)!.data.readUInt16BE(4), 16, 'DVD blocking');
  const pfi = assertGood(await send(lu, [0xad, 0, 0, 0, 0, 0, 0, 0x00, 0x08, 0x04, 0, 0], a));
  assert.equal(pfi.length, 2052);
  assert.equal(pfi.readUInt16BE(0), 2050);
  assert.equal(pfi[4]! >> 4, 0, 'book type DVD-ROM');
  assert.equal(pfi.readUInt32BE(8), 0x30000);
  assert.equal(pfi.readUInt32BE(12), 0x30000 + blocks - 1);
  const copyright = assertGood(await send(lu, [0xad, 0, 0, 0, 0, 0, 0, 0x01, 0, 8, 0, 0], a));
  assert.deepEqual([...copyright], [0, 6, 0, 0, 0, 0, 0, 0]);
  const list = assertGood(await send(lu, [0xad, 0, 0, 0, 0, 0, 0, 0xff, 0, 64, 0, 0], a));
  assert.deepEqual([list[4], list[8], list[12], list[16]], [0x00, 0x01, 0x04, 0xff]);
  assertCheck(await send(lu, [0xad, 0, 0, 0, 0, 0, 0, 0x02, 0, 64, 0, 0], a), 5, 0x24, 0x00); // disc key: no CSS
  assertCheck(await send(lu, [0xad, 0, 0, 0, 0, 0, 1, 0x00, 0, 64, 0, 0], a), 5, 0x24, 0x00); // layer 1
  assertCheck(await send(lu, [0xbe, 0, 0, 0, 0, 0, 0, 0, 1, 0x10, 0, 0], a), 5, 0x30, 0x02);
  // TOC in MSF clamps beyond 255 minutes
  const t = assertGood(await send(lu, toc(true, 0), a));
  assert.deepEqual([...t.subarray(12 + 4, 12 + 8)], [0, 255, 59, 74]);
});

test('READ DVD STRUCTURE on a CD: 05/30/02; READ TOC formats 0, 1, 2 in LBA and MSF; PMA/ATIP empty', async () => {
  const { lu, a } = await drive(cdIso);
  assertCheck(await send(lu, [0xad, 0, 0, 0, 0, 0, 0, 0x00, 0x08, 0x04, 0, 0], a), 5, 0x30, 0x02);
  const t0 = assertGood(await send(lu, toc(false, 0), a));
  assert.deepEqual([...t0], [0, 18, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0, 0, 0x14, 0xaa, 0, ...[0, 0, CD_BLOCKS >> 8, CD_BLOCKS & 0xff]]);
  const m0 = assertGood(await send(lu, toc(true, 0), a));
  assert.deepEqual([...m0.subarray(8, 12)], [0, 0, 2, 0], 'track 1 at 00:02:00');
  const lo = CD_BLOCKS + 150;
  assert.deepEqual([...m0.subarray(16, 20)], [0, Math.floor(lo / 4500), Math.floor(lo / 75) % 60, lo % 75]);
  const leadOnly = assertGood(await send(lu, toc(false, 0, 0xaa), a));
  assert.equal(leadOnly.length, 12);
  assertCheck(await send(lu, toc(false, 0, 2), a), 5, 0x24, 0x00, { cdb: true, byte: 6 });
  const t1 = assertGood(await send(lu, toc(false, 1), a));
  assert.deepEqual([...t1], [0, 10, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0]);
  const t2 = assertGood(await send(lu, toc(true, 2), a));
  assert.equal(t2.readUInt16BE(0), 2 + 4 * 11);
  assert.deepEqual([...t2.subarray(4, 15)], [1, 0x14, 0, 0xa0, 0, 0, 0, 0, 1, 0, 0]);
  assert.equal(t2[4 + 2 * 11 + 3], 0xa2);
  assert.equal(t2[4 + 3 * 11 + 3], 1);
  for (const f of [3, 4, 5]) assert.deepEqual([...assertGood(await send(lu, toc(false, f), a))], [0, 2, 0, 0]);
  assertCheck(await send(lu, toc(false, 6), a), 5, 0x24, 0x00);
  // SFF-8020 style: format in byte 9 bits 7..6
  const legacy = assertGood(await send(lu, [0x43, 0, 0, 0, 0, 0, 0, 0, 12, 0x40], a));
  assert.equal(legacy.readUInt16BE(0), 10);
});

test('READ DISC INFORMATION, READ TRACK INFORMATION, MECHANISM STATUS, SET CD SPEED, GET PERFORMANCE, REPORT KEY, mode pages', async () => {
  const { lu, a } = await drive(cdIso);
  const di = assertGood(await send(lu, [0x51, 0, 0, 0, 0, 0, 0, 0, 34, 0], a));
  assert.equal(di.readUInt16BE(0), 32);
  assert.equal(di[2]! & 0x03, 2, 'finalized');
  assert.deepEqual([di[3], di[4], di[5], di[6]], [1, 1, 1, 1]);
  assertCheck(await send(lu, [0x51, 1, 0, 0, 0, 0, 0, 0, 34, 0], a), 5, 0x24, 0x00);
  const ti = assertGood(await send(lu, [0x52, 1, 0, 0, 0, 1, 0, 0, 48, 0], a));
  assert.equal(ti.readUInt32BE(24), CD_BLOCKS);
  assert.equal(ti.readUInt32BE(28), CD_BLOCKS - 1);
  assertGood(await send(lu, [0x52, 0, 0, 0, 0x01, 0, 0, 0, 48, 0], a)); // LBA 256 lies in track 1
  assertCheck(await send(lu, [0x52, 1, 0, 0, 0, 2, 0, 0, 48, 0], a), 5, 0x24, 0x00);
  assertCheck(await send(lu, [0x52, 0, 0, 0, 0x10, 0, 0, 0, 48, 0], a), 5, 0x21, 0x00);
  const ms = assertGood(await send(lu, [0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], a));
  assert.deepEqual([...ms], [0, 0, 0, 0, 0, 0, 0, 0]);
  assertGood(await send(lu, [0xbb, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0], a));
  const perf = assertGood(await send(lu, [0xac, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], a));
  assert.equal(perf.length, 24);
  assert.equal(perf.readUInt32BE(8 + 8), CD_BLOCKS - 1);
  assert.equal(assertGood(await send(lu, [0xac, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 0], a)).length, 8);
  assertCheck(await send(lu, [0xac, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9, 0], a), 5, 0x24, 0x00, { cdb: true, byte: 10 });
  const rpc = assertGood(await send(lu, [0xa4, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0x08, 0], a));
  assert.equal(rpc[6], 1);
  assertCheck(await send(lu, [0xa4, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0x00, 0], a), 5, 0x24, 0x00); // AGID: no CSS
  const caps = assertGood(await send(lu, [0x5a, 0x08, 0x2a, 0, 0, 0, 0, 0, 64, 0], a));
  assert.equal(caps.readUInt16BE(6), 0, 'no block descriptors');
  assert.equal(caps[8], 0x2a);
  assert.equal(caps[8 + 6]! & 0x03, 0x01, 'lock supported, unlocked');
  assert.equal(caps[8 + 6]! & 0xfc, 0x20 | 0x08 | 0x04, 'tray, eject, no prevent jumper');
  assertGood(await send(lu, prevent(1), a));
  const locked = assertGood(await send(lu, [0x5a, 0x08, 0x2a, 0, 0, 0, 0, 0, 64, 0], a));
  assert.equal(locked[8 + 6]! & 0x02, 0x02, 'lock state');
  const all = assertGood(await send(lu, [0x5a, 0x08, 0x3f, 0, 0, 0, 0, 1, 0, 0], a));
  const pages: number[] = [];
  for (let off = 8; off < all.length; off += 2 + all[off + 1]!) pages.push(all[off]! & 0x3f);
  assert.deepEqual(pages, [0x01, 0x0d, 0x0e, 0x2a]);
});

test('tray and PREVENT: eject refused while prevented (05/53/02); 3A/02 with the tray open, 28/00 on close', async () => {
  const { lu, a, b } = await drive(cdIso);
  assertGood(await send(lu, prevent(1), a));
  assertCheck(await send(lu, ssu(0x02), b), 5, 0x53, 0x02);
  assertGood(await send(lu, prevent(0), b)); // b's ALLOW does not lift a's PREVENT
  assertCheck(await send(lu, ssu(0x02), b), 5, 0x53, 0x02);
  assertGood(await send(lu, prevent(0), a));
  assertGood(await send(lu, ssu(0x02), b)); // eject: tray opens
  assertCheck(await send(lu, TUR, a), 2, 0x3a, 0x02);
  assertCheck(await send(lu, read10(0, 1), a), 2, 0x3a, 0x02);
  const ms = assertGood(await send(lu, [0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], a));
  assert.equal(ms[1]! & 0x10, 0x10, 'door open');
  const conf = assertGood(await send(lu, getConf(1, 0), a));
  assert.equal(conf.readUInt16BE(6), 0, 'no current profile');
  assert.ok(!featureList(conf).has(0x0010), 'random readable not current');
  const fc = assertGood(await send(lu, [0x23, 0, 0, 0, 0, 0, 0, 0, 12, 0], a));
  assert.equal(fc[8], 0x03, 'no media present');
  assertGood(await send(lu, ssu(0x03), b)); // load: tray closes on the same disc
  assertCheck(await send(lu, TUR, a), 6, 0x28, 0x00);
  assertGood(await send(lu, TUR, a));
  assertGood(await send(lu, TUR, b)); // the nexus that closed the tray gets no UA
  // power conditions: accepted, reported as power events
  assertGood(await send(lu, ssu(0x30), a)); // standby
  const ev = assertGood(await send(lu, gesn(0x04), a));
  assert.deepEqual([...ev.subarray(2)], [2, 0x56, 1, 3, 0, 0]);
  assertCheck(await send(lu, ssu(0x40), a), 5, 0x24, 0x00, { cdb: true, byte: 4, bit: 7 });
});

test('empty drive: 3A/01 with the tray closed; host load raises NewMedia and 28/00 on every nexus', async () => {
  const { lu, a, b } = await drive();
  assertCheck(await send(lu, TUR, a), 2, 0x3a, 0x01);
  assertCheck(await send(lu, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], a), 2, 0x3a, 0x01);
  assertCheck(await send(lu, [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], a, { dataOut: Buffer.alloc(2048) }), 2, 0x3a, 0x01); // no disc to refuse the write
  let ev = assertGood(await send(lu, gesn(0x10), a));
  assert.deepEqual([...ev], [0, 6, 4, 0x56, MediaEvent.NO_CHANGE, 0, 0, 0]);
  const r = await lu.media({ action: 'load', file: cdIso });
  assert.equal(r.ready, true);
  // GESN passes the UA; NewMedia once, then NoChg with media present
  ev = assertGood(await send(lu, gesn(0x10), a));
  assert.deepEqual([...ev.subarray(4)], [MediaEvent.NEW_MEDIA, 0x02, 0, 0]);
  ev = assertGood(await send(lu, gesn(0x10), a));
  assert.deepEqual([...ev.subarray(4)], [MediaEvent.NO_CHANGE, 0x02, 0, 0]);
  // operational class: the feature set changed (new current profile)
  ev = assertGood(await send(lu, gesn(0x02), b));
  assert.deepEqual([...ev.subarray(2)], [1, 0x56, 2, 0, 0, 1]);
  assertCheck(await send(lu, TUR, a), 6, 0x28, 0x00);
  assertCheck(await send(lu, TUR, b), 6, 0x28, 0x00);
  assertGood(await send(lu, read10(3, 1), b));
  // swap: removal, then new media; the old disc's file is closed
  await lu.media({ action: 'swap', file: dvdIso });
  ev = assertGood(await send(lu, gesn(0x10), a));
  assert.equal(ev[4], MediaEvent.MEDIA_REMOVAL);
  ev = assertGood(await send(lu, gesn(0x10), a));
  assert.equal(ev[4], MediaEvent.NEW_MEDIA);
  assertCheck(await send(lu, TUR, a), 6, 0x28, 0x00);
  assert.equal(assertGood(await send(lu, getConf(1, 0), a)).readUInt16BE(6), 0x0010);
  await lu.close();
});

test('host eject while prevented posts EjectRequest and keeps the disc; --force ejects', async () => {
  const { lu, a } = await drive(cdIso);
  assertGood(await send(lu, prevent(1), a));
  await assert.rejects(lu.media({ action: 'eject' }), /prevented/);
  assertGood(await send(lu, TUR, a));
  let ev = assertGood(await send(lu, gesn(0x10), a));
  assert.deepEqual([...ev.subarray(4)], [MediaEvent.EJECT_REQUEST, 0x02, 0, 0]);
  await assert.rejects(lu.media({ action: 'load', file: dvdIso }), /a disc is loaded/);
  await assert.rejects(lu.media({ action: 'swap', file: dvdIso }), /prevented/);
  const r = await lu.media({ action: 'eject', force: true });
  assert.equal(r.tray, 'open');
  assertCheck(await send(lu, TUR, a), 2, 0x3a, 0x02);
  ev = assertGood(await send(lu, gesn(0x10), a));
  assert.equal(ev[4], MediaEvent.EJECT_REQUEST); // the second request, queued by the refused swap
  ev = assertGood(await send(lu, gesn(0x10), a));
  assert.deepEqual([...ev.subarray(4)], [MediaEvent.MEDIA_REMOVAL, 0x01, 0, 0]);
  await assert.rejects(lu.media({ action: 'swap' }), /needs an ISO/);
  await assert.rejects(lu.media({ action: 'load', file: join(dir, 'missing.iso') }), /cannot open/);
});

test('GESN: polled only, NEA for unsupported classes, allocation length; PREVENT dropped with the nexus and on reset', async () => {
  const { lu, a, b } = await drive(cdIso);
  assertCheck(await send(lu, [0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8, 0], a), 5, 0x24, 0x00, { cdb: true, byte: 1, bit: 0 });
  // supported: operational change (1), power management (2), media (4), device busy (6)
  assert.deepEqual([...assertGood(await send(lu, gesn(0x08), a))], [0, 2, 0x80, 0x56]); // external request only: NEA
  assert.deepEqual([...assertGood(await send(lu, gesn(0x00), a))], [0, 2, 0x80, 0x56]);
  assert.deepEqual([...assertGood(await send(lu, gesn(0x40), a))], [0, 6, 6, 0x56, 0, 0, 0, 0]); // device busy: NoEvent, not busy
  assert.deepEqual([...assertGood(await send(lu, gesn(0x48), a))], [0, 6, 6, 0x56, 0, 0, 0, 0]); // the unsupported class is ignored
  assert.equal(assertGood(await send(lu, gesn(0x10, 4), a)).length, 4);
  assertGood(await send(lu, prevent(1), a));
  lu.nexusLost(a);
  assertGood(await send(lu, ssu(0x02), b));
  assertGood(await send(lu, ssu(0x03), b));
  assertGood(await send(lu, prevent(3), b)); // persistent prevent
  const op = assertGood(await send(lu, gesn(0x02), b));
  assert.equal(op[5]! & 0x80, 0x80, 'persistent prevented');
  assertCheck(await send(lu, ssu(0x02), b), 5, 0x53, 0x02);
  await lu.taskManagement('lun-reset', b);
  await send(lu, TUR, b); // 29/03
  assertGood(await send(lu, ssu(0x02), b));
});

test('DriveState without a LU: transitions and per-nexus queues', async () => {
  const uas: Array<string | undefined> = [];
  const disc = { id: 'x', closed: false, async close() { this.closed = true; } };
  const s = new DriveState(disc, { mediumChanged: (ex) => uas.push(ex) });
  s.touch('n1');
  s.touch('n2');
  assert.equal(s.ready, true);
  assert.equal(s.initiatorLoadEject('n1', false), 'ok');
  assert.equal(s.tray, 'open');
  assert.deepEqual(s.pending('n2')!.media, [MediaEvent.MEDIA_REMOVAL]);
  assert.equal(s.initiatorLoadEject('n1', true), 'ok');
  assert.deepEqual(uas, ['n1']);
  assert.equal(await s.hostEject(), 'ejected');
  assert.equal(disc.closed, true);
  assert.equal(await s.hostEject(), 'empty');
  assert.equal(await s.hostLoad(undefined), 'closed');
  assert.equal(s.ready, false);
  s.setPrevent('n2', 1);
  assert.equal(await s.hostEject(), 'requested');
  s.nexusLost('n2');
  assert.equal(s.prevented, false);
});
