// The scst_user link serving a CD/DVD drive (PARSE_EXCEPTION), a tape drive (PARSE_CALL: every
// command sized by us) and a changer with its drives (PARSE_EXCEPTION) to the kernel model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deviceDefaults } from '../../src/host/config.ts';
import { createCdromUnit } from '../../src/handlers/cdrom/create.ts';
import { IsoDisc } from '../../src/handlers/cdrom/disc.ts';
import { createTape } from '../../src/handlers/tape/index.ts';
import { createChanger } from '../../src/handlers/changer/index.ts';
import { Cartridge } from '../../src/media/cartridge.ts';
import { tempDir, testLog } from '../helpers/scsi-harness.ts';
import { GatedLu, check, clearUa, good, serve, session } from '../helpers/scst-user-harness.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('cdrom: an ISO made with genisoimage reads back whole; MMC commands sized by our PARSE', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, 'src');
    await mkdir(src);
    const payload = Buffer.alloc(300 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32BE(i, i);
    await writeFile(join(src, 'data.bin'), payload);
    const iso = join(dir, 'disc.iso');
    execFileSync('genisoimage', ['-quiet', '-V', 'SCSTTEST', '-o', iso, src]);
    const image = await readFile(iso);
    const lu = createCdromUnit(deviceDefaults('dvd1', 'cdrom'), await IsoDisc.open(iso), testLog);
    const srv = await serve([lu]);
    try {
      const dev = srv.model.device('dvd1');
      assert.equal(dev.type, 5);
      assert.equal(dev.blockSize, 2048);
      assert.equal(dev.opt.parse_type, 2, 'PARSE_EXCEPTION');
      const s = await session(dev);
      await clearUa(dev, s);
      const blocks = image.length / 2048;
      const cap = good(await dev.submit(s, { cdb: [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0] }));
      assert.equal(cap.readUInt32BE(0), blocks - 1);
      // READ(12) is not in the model's CD parser: it reaches us as PARSE and we size it.
      const parses = dev.stats.parses;
      const parts = [];
      for (let lba = 0; lba < blocks; lba += 32) {
        const n = Math.min(32, blocks - lba);
        const c = Buffer.alloc(12);
        c[0] = 0xa8;
        c.writeUInt32BE(lba, 2);
        c.writeUInt32BE(n, 6);
        parts.push(good(await dev.submit(s, { cdb: c })));
      }
      assert.equal(sha(Buffer.concat(parts)), sha(image), 'the whole disc reads back byte for byte');
      assert.ok(dev.stats.parses - parses >= Math.ceil(blocks / 32));
      // the volume descriptor and the file's bytes, as an initiator mounting it would see them
      const pvd = good(await dev.submit(s, { cdb: [0x28, 0, 0, 0, 0, 16, 0, 0, 1, 0] }));
      assert.equal(pvd.toString('latin1', 1, 6), 'CD001');
      assert.equal(pvd.toString('latin1', 40, 48), 'SCSTTEST');
      assert.ok(image.includes(payload.subarray(0, 4096)));
      // GET CONFIGURATION, READ TOC, MODE SENSE(10), GESN: all PARSE'd by us, data-in sized from the CDB.
      const conf = good(await dev.submit(s, { cdb: [0x46, 0x02, 0, 0, 0, 0, 0, 0x01, 0x00, 0] }));
      assert.deepEqual(dev.parsed.at(-1), { op: 0x46, dir: 2, bufflen: 256, flags: 0x20 }, 'GET CONFIGURATION: data-in of its allocation length');
      assert.ok(conf.length >= 8 && conf.length <= 256);
      assert.equal(conf.readUInt16BE(6), blocks * 2048 > 700 * 2 ** 20 ? 0x10 : 0x08, 'current profile CD-ROM');
      const toc = good(await dev.submit(s, { cdb: [0x43, 0, 0, 0, 0, 0, 1, 0, 12, 0] }));
      assert.equal(toc.length, 12, 'allocation length 12 honoured');
      const ev = good(await dev.submit(s, { cdb: [0x4a, 0x01, 0, 0, 0x10, 0, 0, 0, 8, 0] }));
      assert.equal(ev.length, 8);
      const ms = good(await dev.submit(s, { cdb: [0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 0xff, 0] }));
      assert.equal(ms[8]! & 0x3f, 0x2a, 'mode page 2Ah');
      // A vendor opcode nobody knows: PARSE falls back on the expected length, the LU refuses it.
      check(await dev.submit(s, { cdb: [0xd8, 0, 0, 0, 0, 0, 0, 0, 0, 0], expected: { dir: 'none', length: 0 } }), '05/20/00');
      assert.deepEqual(dev.parsed.at(-1), { op: 0xd8, dir: 4, bufflen: 0, flags: 0x20 });
    } finally {
      await srv.close();
    }
  } finally {
    await cleanup();
  }
});

test('tape: variable and fixed blocks, filemarks, rewind and read back, every command PARSEd by us', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = join(dir, 'A00001L6');
    await Cartridge.create(file, { barcode: 'A00001L6', capacity: 100e6 });
    const lu = await createTape({ ...deviceDefaults('tape0', 'tape'), file }, { log: () => undefined });
    const srv = await serve([lu]);
    try {
      const dev = srv.model.device('tape0');
      assert.equal(dev.type, 1);
      assert.equal(dev.opt.parse_type, 1, 'PARSE_CALL for tapes');
      const s = await session(dev);
      await clearUa(dev, s);
      const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
      const rec = (i: number, n: number) => Buffer.alloc(n, (i * 37 + 1) & 0xff);
      good(await dev.submit(s, { cdb: [0x0a, 0, ...u24(1000), 0], dataOut: rec(0, 1000) }));
      good(await dev.submit(s, { cdb: [0x0a, 0, ...u24(70000), 0], dataOut: rec(1, 70000) }));
      good(await dev.submit(s, { cdb: [0x10, 0, 0, 0, 1, 0], expected: { dir: 'none', length: 0 } })); // WRITE FILEMARKS(6)
      // fixed 512-byte blocks (MODE SELECT block descriptor), 4 blocks in one WRITE(6) FIXED=1
      const msel = Buffer.from([0, 0, 0x10, 8, 0, 0, 0, 0, 0, 0, 0x02, 0x00]);
      good(await dev.submit(s, { cdb: [0x15, 0x10, 0, 0, msel.length, 0], dataOut: msel }));
      const fixed = Buffer.concat([rec(2, 512), rec(3, 512), rec(4, 512), rec(5, 512)]);
      good(await dev.submit(s, { cdb: [0x0a, 1, ...u24(4), 0], dataOut: fixed }));
      good(await dev.submit(s, { cdb: [0x10, 0, 0, 0, 1, 0], expected: { dir: 'none', length: 0 } }));
      good(await dev.submit(s, { cdb: [0x01, 0, 0, 0, 0, 0], expected: { dir: 'none', length: 0 } })); // REWIND
      // back to variable mode for the variable records
      const mv = Buffer.from([0, 0, 0x10, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
      good(await dev.submit(s, { cdb: [0x15, 0x10, 0, 0, mv.length, 0], dataOut: mv }));
      assert.ok(good(await dev.submit(s, { cdb: [0x08, 0, ...u24(1000), 0] })).equals(rec(0, 1000)));
      assert.ok(good(await dev.submit(s, { cdb: [0x08, 0, ...u24(70000), 0] })).equals(rec(1, 70000)));
      // the filemark: NO SENSE with FILEMARK set, no data
      const fm = await dev.submit(s, { cdb: [0x08, 0, ...u24(4096), 0] });
      assert.equal(fm.status, 2);
      assert.equal(fm.sense![2]! & 0x80, 0x80, 'FILEMARK bit');
      good(await dev.submit(s, { cdb: [0x15, 0x10, 0, 0, msel.length, 0], dataOut: msel }));
      const back = good(await dev.submit(s, { cdb: [0x08, 1, ...u24(4), 0] }));
      assert.ok(back.equals(fixed));
      assert.deepEqual(dev.parsed.at(-1), { op: 0x08, dir: 2, bufflen: 2048, flags: 0x20 }, 'fixed-block READ(6): 4 x 512 bytes, from the block length');
      const writes = dev.parsed.filter((p) => p.op === 0x0a);
      assert.deepEqual(writes.map((p) => [p.bufflen, p.flags & 0x200]), [[1000, 0x200], [70000, 0x200], [2048, 0x200]], 'WRITE(6) sized and flagged WRITE_MEDIUM');
      const pos = good(await dev.submit(s, { cdb: [0x34, 0x06, 0, 0, 0, 0, 0, 0, 0, 0] }));
      assert.equal(pos.length, 32, 'READ POSITION long form is 32 bytes');
      assert.equal(Number(pos.readBigUInt64BE(8)), 7, 'after 2 records, a filemark and 4 fixed blocks');
      assert.ok(dev.stats.parses >= 15, 'every command went through PARSE');
    } finally {
      await srv.close();
    }
  } finally {
    await cleanup();
  }
});

test('changer: READ ELEMENT STATUS and MOVE MEDIUM load a drive served by the same link', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const folder = join(dir, 'carts');
    await mkdir(folder);
    for (let i = 0; i < 2; i++) await Cartridge.create(join(folder, `C0000${i}L6`), { barcode: `C0000${i}L6`, capacity: 50e6 });
    const host = { log: () => undefined };
    const d0 = await createTape({ ...deviceDefaults('lib-d0', 'tape'), file: '-' }, host);
    const ch = await createChanger({ ...deviceDefaults('lib', 'changer'), file: folder, options: { drives: ['lib-d0'], slots: 4, mailSlots: 1 } }, host);
    const srv = await serve([ch, d0]);
    try {
      const chd = srv.model.device('lib');
      const drv = srv.model.device('lib-d0');
      assert.equal(chd.type, 8);
      assert.equal(chd.opt.parse_type, 2);
      const s = await session(chd);
      const t = await session(drv);
      await clearUa(chd, s);
      const res = (b1: number, start: number, count: number) => [0xb8, b1, start >> 8, start & 0xff, count >> 8, count & 0xff, 0, 0, 0x10, 0, 0, 0];
      const full = (d: Buffer) => {
        // walk the element status pages: [address, full]
        const out: [number, boolean][] = [];
        let off = 8;
        while (off < d.length) {
          const dl = d.readUInt16BE(off + 2);
          const bytes = d.readUIntBE(off + 5, 3);
          for (let p = off + 8; p < off + 8 + bytes; p += dl) out.push([d.readUInt16BE(p), (d[p + 2]! & 1) === 1]);
          off += 8 + bytes;
        }
        return out;
      };
      const before = full(good(await chd.submit(s, { cdb: res(0x10, 0, 100) })));
      assert.deepEqual(before.filter(([, f]) => f).map(([a]) => a), [0x400, 0x401], 'cartridges in the first two slots');
      assert.deepEqual(before.find(([a]) => a === 1), [1, false], 'drive empty');
      good(await chd.submit(s, { cdb: [0xa5, 0, 0, 0, 0x04, 0x01, 0, 1, 0, 0, 0, 0], expected: { dir: 'none', length: 0 } }));
      const after = full(good(await chd.submit(s, { cdb: res(0x10, 0, 100) })));
      assert.deepEqual(after.find(([a]) => a === 1), [1, true], 'drive loaded');
      assert.deepEqual(after.find(([a]) => a === 0x401), [0x401, false]);
      // the drive sees the new medium: 28/00 first, then ready
      const tur = { cdb: [0, 0, 0, 0, 0, 0], expected: { dir: 'none' as const, length: 0 } };
      let r = await drv.submit(t, tur);
      for (let i = 0; i < 3 && r.status !== 0; i++) r = await drv.submit(t, tur);
      good(r);
      assert.ok(chd.stats.parses >= 3, 'MOVE MEDIUM and READ ELEMENT STATUS reached us as PARSE');
    } finally {
      await srv.close();
    }
  } finally {
    await cleanup();
  }
});

test('a 32-byte CDB reaches PARSE and the LU whole (GET_EXTENDED_CDB for each)', async () => {
  const tape = await createTape({ ...deviceDefaults('tape0', 'tape'), file: '-' }, { log: () => undefined });
  const lu = new GatedLu(tape, () => false);
  const seen: Buffer[] = [];
  const execute = lu.execute.bind(lu);
  lu.execute = (cmd) => {
    seen.push(cmd.cdb);
    return execute(cmd);
  };
  const srv = await serve([lu]);
  try {
    const dev = srv.model.device('tape0');
    const s = await session(dev);
    check(await dev.submit(s, { cdb: [0, 0, 0, 0, 0, 0], expected: { dir: 'none', length: 0 } }), '06/29/00'); // the core's, for the new session
    const cdb = Buffer.alloc(32);
    cdb[0] = 0x7f;
    cdb[7] = 0x18;
    cdb.writeUInt16BE(0xf00d, 8);
    cdb[31] = 0xee;
    const r = await dev.submit(s, { cdb, expected: { dir: 'none', length: 0 } });
    assert.equal(r.status, 2);
    assert.ok(seen.at(-1)!.equals(cdb), 'all 32 bytes reached the LU, not the 16 inline ones');
    assert.equal(srv.model.fileOf('tape0').ioctls.get(0xc0107509), 2, 'GET_EXTENDED_CDB at PARSE and at EXEC');
  } finally {
    await srv.close();
  }
});
