// Zero-copy READ over the embedded iSCSI target: Data-In goes to the socket straight from pinned
// cache pages. A write that lands while those pages wait in the socket (the initiator is not
// reading) must not change the bytes sent; the pages are released once written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IscsiServer } from '../../src/links/iscsi/index.ts';
import { frameOut } from '../../src/links/iscsi/framing.ts';
import { encodeDataIn } from '../../src/links/iscsi/pdu-out.ts';
import { ScsiTarget } from '../../src/scsi/target.ts';
import { SegmentCursor } from '../../src/scsi/data-in.ts';
import { writeBuffers } from '../../src/backing/buffer-pool.ts';
import { buildBhs, TestInitiator } from '../helpers/iscsi-initiator.ts';
import { cdb10, diskConfig, openDisk, tempDir } from '../helpers/scsi-harness.ts';

const IQN = 'iqn.2026-11.test:zc';
const MiB = 1 << 20;
const READ_BYTES = 8 * MiB;

async function login(port: number, isid: number): Promise<TestInitiator> {
  const ini = await TestInitiator.connect(port, isid);
  const r = await ini.login([
    ['InitiatorName', `iqn.2026-11.test:init${isid}`],
    ['TargetName', IQN],
    ['SessionType', 'Normal'],
    ['HeaderDigest', 'None'],
    ['DataDigest', 'None'],
    ['ImmediateData', 'Yes'],
    ['MaxRecvDataSegmentLength', '262144'],
    ['MaxBurstLength', '16776192'],
    ['FirstBurstLength', '262144'],
  ]);
  assert.equal(r.status, 0);
  return ini;
}

/** Reads the Data-In PDUs of one READ (status in the last); returns the data. */
async function readData(ini: TestInitiator, itt: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    const p = await ini.recv(20_000);
    assert.equal(p.bhs[0]! & 0x3f, 0x25, 'Data-In');
    assert.equal(p.bhs.readUInt32BE(16), itt);
    parts.push(p.data);
    if (p.bhs[1]! & 0x01) {
      assert.equal(p.bhs[3], 0, 'GOOD');
      return Buffer.concat(parts);
    }
  }
}

test('a write landing while READ data waits in the socket does not change the bytes sent', async () => {
  const t = await tempDir();
  const file = join(t.dir, 'zc.img');
  const old = Buffer.alloc(16 * MiB);
  for (let i = 0; i < old.length; i += 4) old.writeUInt32BE(i, i);
  await writeFile(file, old);
  const lu = await openDisk(diskConfig({ file, cacheSize: 16 * MiB }));
  const server = new IscsiServer({ host: '127.0.0.1', port: 0, targets: [{ iqn: IQN, port: new ScsiTarget(new Map([[0, lu]])) }], nopInterval: 0, maxRecvDataSegmentLength: 262144 });
  const { port } = await server.listen();
  const a = await login(port, 1);
  const b = await login(port, 2);
  const cache = () => lu.describe().cache as Record<string, number>;
  try {
    // clear the power-on unit attention on both sessions
    for (const ini of [a, b]) {
      for (let i = 0; i < 2; i++) {
        ini.send({ opcode: 0x01, flags: 0x81, lun: 0, itt: ini.itt(), w20: 0, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: Buffer.alloc(16) });
        await ini.recv();
      }
    }
    // A stops reading; four 8 MiB READs of the same pages back up in the socket
    a.socket.pause();
    const itts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const itt = a.itt();
      itts.push(itt);
      a.send({ opcode: 0x01, flags: 0xc1, lun: 0, itt, w20: READ_BYTES, w24: a.cmdSN++, w28: a.expStatSN, cdb: cdb10(0x28, 0, READ_BYTES / 512) });
    }
    const deadline = Date.now() + 10_000;
    while ((cache().pinned ?? 0) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(cache().pinned > 0, 'READ pages are pinned while they wait for the socket');

    // B overwrites the first 64 KiB (immediate data) and gets GOOD before A has read anything
    const fresh = Buffer.alloc(64 * 1024, 0xee);
    const witt = b.itt();
    b.send({ opcode: 0x01, flags: 0xa1, lun: 0, itt: witt, w20: fresh.length, w24: b.cmdSN++, w28: b.expStatSN, cdb: cdb10(0x2a, 0, fresh.length / 512) }, fresh);
    const wr = await b.recv(10_000);
    assert.equal(wr.bhs[0], 0x21);
    assert.equal(wr.bhs[3], 0, 'WRITE GOOD');
    assert.ok(cache().copies > 0, 'the write copied pinned pages instead of changing them');

    a.socket.resume();
    for (const itt of itts) assert.ok((await readData(a, itt)).equals(old.subarray(0, READ_BYTES)), 'every READ carries the old bytes');

    const again = a.itt();
    a.send({ opcode: 0x01, flags: 0xc1, lun: 0, itt: again, w20: 128 * 1024, w24: a.cmdSN++, w28: a.expStatSN, cdb: cdb10(0x28, 0, 256) });
    const now = await readData(a, again);
    assert.ok(now.subarray(0, fresh.length).equals(fresh), 'a new READ sees the write');
    assert.ok(now.subarray(fresh.length).equals(old.subarray(fresh.length, 128 * 1024)));
    const until = Date.now() + 5000;
    while (cache().pinned > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(cache().pinned, 0, 'all pages released once written');
  } finally {
    a.close();
    b.close();
    await server.close();
    await lu.close();
    await t.cleanup();
  }
});

test('Data-In from pinned pieces frames like one buffer, data digest included', () => {
  const whole = Buffer.from(Array.from({ length: 10_001 }, (_, i) => (i * 31) & 0xff));
  const pieces = [whole.subarray(0, 4096), whole.subarray(4096, 4097), whole.subarray(4097)];
  const cursor = new SegmentCursor(pieces);
  const fields = { final: true, itt: 7, expCmdSN: 1, maxCmdSN: 9, dataSN: 0, bufferOffset: 0 };
  for (const len of [3000, 5000, 2001]) {
    const parts = cursor.take(len);
    const start = parts[0]!.byteOffset - whole.byteOffset;
    const one = frameOut(encodeDataIn({ ...fields, data: whole.subarray(start, start + len) }), { headerDigest: true, dataDigest: true });
    const many = frameOut(encodeDataIn({ ...fields, data: parts }), { headerDigest: true, dataDigest: true });
    assert.deepEqual(Buffer.concat(many), Buffer.concat(one), `a ${len}-byte PDU`);
  }
  assert.deepEqual(cursor.take(10), [], 'all taken');
});

/** A 1 MiB disk image (no page cache of ours) behind a server, one logged-in session with its unit attentions cleared. */
async function diskSession(isid: number) {
  const t = await tempDir();
  const file = join(t.dir, `d${isid}.img`);
  await writeFile(file, Buffer.alloc(MiB));
  const lu = await openDisk(diskConfig({ file }));
  const server = new IscsiServer({ host: '127.0.0.1', port: 0, targets: [{ iqn: IQN, port: new ScsiTarget(new Map([[0, lu]])) }], nopInterval: 0 });
  const { port } = await server.listen();
  const ini = await login(port, isid);
  for (let i = 0; i < 2; i++) {
    ini.send({ opcode: 0x01, flags: 0x81, lun: 0, itt: ini.itt(), w20: 0, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: Buffer.alloc(16) });
    await ini.recv();
  }
  const close = async () => {
    ini.close();
    await server.close(1000);
    await lu.close();
    await t.cleanup();
  };
  return { file, ini, close };
}

test('WRITE data received whole in its command sits in a pooled buffer that goes back once the command is done', async () => {
  const { file, ini, close } = await diskSession(3);
  try {
    const write = async (lba: number, fill: number) => {
      ini.send({ opcode: 0x01, flags: 0xa1, lun: 0, itt: ini.itt(), w20: 4096, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x2a, lba, 8) }, Buffer.alloc(4096, fill));
      const r = await ini.recv();
      assert.equal(r.bhs[3], 0, 'GOOD');
    };
    await write(0, 0x11);
    const stats = { ...writeBuffers.stats };
    const idle = writeBuffers.idle;
    for (let i = 1; i <= 20; i++) await write(i * 8, i);
    assert.equal(writeBuffers.stats.allocated, stats.allocated, 'no new buffer: each write reused the one the last gave back');
    assert.equal(writeBuffers.stats.reused - stats.reused, 20);
    assert.equal(writeBuffers.idle, idle);
    const data = await readFile(file); // no page cache of ours: acknowledged writes are in the file
    for (let i = 0; i <= 20; i++) assert.ok(data.subarray(i * 4096, (i + 1) * 4096).every((b) => b === (i === 0 ? 0x11 : i)), `block run ${i}: its own data`);
  } finally {
    await close();
  }
});

test('a write collected from Data-Outs reuses a pooled buffer; one still being received into when its command fails is not handed out again', async () => {
  const { file, ini, close } = await diskSession(4); // InitialR2T=Yes: the data after the immediate part is solicited
  const K64 = 64 * 1024;
  try {
    /** WRITE(10) of 64 KiB at `lba`: 8 KiB immediate, the rest after the R2T. */
    const write = async (lba: number, data: Buffer) => {
      const itt = ini.itt();
      ini.send({ opcode: 0x01, flags: 0xa1, lun: 0, itt, w20: K64, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x2a, lba, 128) }, data.subarray(0, 8192));
      const r2t = await ini.recv();
      assert.equal(r2t.bhs[0], 0x31, 'R2T');
      ini.send({ opcode: 0x05, flags: 0x80, lun: 0, itt, w20: r2t.bhs.readUInt32BE(20), w28: ini.expStatSN, w36: 0, w40: 8192 }, data.subarray(8192));
      const r = await ini.recv();
      assert.equal(r.bhs[3], 0, 'GOOD');
      return itt;
    };
    await write(0, Buffer.alloc(K64, 1));
    const allocated = writeBuffers.stats.allocated;
    for (let i = 1; i <= 5; i++) await write(i * 128, Buffer.alloc(K64, i + 1));
    assert.equal(writeBuffers.stats.allocated, allocated, 'the writes reused one buffer');

    // A write whose first Data-Out is bad (wrong DataSN) fails while the next Data-Out for it is
    // half received into its buffer: that buffer must not go back to the pool (another
    // connection could take it and get the rest of those bytes).
    const idle = writeBuffers.idle;
    const itt = ini.itt();
    ini.send({ opcode: 0x01, flags: 0xa1, lun: 0, itt, w20: K64, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x2a, 6 * 128, 128) }, Buffer.alloc(8192, 0xee));
    const r2t = await ini.recv();
    assert.equal(writeBuffers.idle, idle - K64, 'the write holds a pooled buffer');
    const ttt = r2t.bhs.readUInt32BE(20);
    const bad = Buffer.concat([buildBhs({ opcode: 0x05, flags: 0x00, lun: 0, itt, w20: ttt, w36: 5, w40: 8192 }, 4096), Buffer.alloc(4096, 0xee)]);
    const next = Buffer.concat([buildBhs({ opcode: 0x05, flags: 0x80, lun: 0, itt, w20: ttt, w36: 1, w40: 12288 }, K64 - 12288), Buffer.alloc(K64 - 12288, 0xee)]);
    ini.sendRaw(Buffer.concat([bad, next.subarray(0, 48 + 1024)]));
    const failed = await ini.recv();
    assert.equal(failed.bhs[0], 0x21);
    assert.equal(failed.bhs[3], 0x02, 'CHECK CONDITION for the bad Data-Out');
    assert.equal(writeBuffers.idle, idle - K64, 'not given back while bytes may still arrive into it');
    ini.sendRaw(next.subarray(48 + 1024)); // the rest of the stale Data-Out: discarded
    const good = Buffer.alloc(K64, 0x77);
    await write(7 * 128, good);
    assert.equal(writeBuffers.stats.allocated, allocated + 1, 'the next write got a new buffer: the stale one is left to the GC');
    const disk = await readFile(file);
    for (let i = 0; i <= 5; i++) assert.ok(disk.subarray(i * K64, (i + 1) * K64).every((b) => b === i + 1), `write ${i}`);
    assert.ok(disk.subarray(6 * K64, 7 * K64).every((b) => b === 0), 'the failed write wrote nothing');
    assert.ok(disk.subarray(7 * K64, 8 * K64).equals(good), 'the next write has exactly its own data');
  } finally {
    await close();
  }
});
