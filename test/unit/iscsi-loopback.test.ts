// Drives the IscsiServer over 127.0.0.1 with a small in-test initiator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IscsiServer } from '../../src/links/iscsi/index.ts';
import { FakePort } from '../helpers/iscsi-fake-port.ts';
import { TestInitiator } from '../helpers/iscsi-initiator.ts';
import { parseTextKeys } from '../../src/links/iscsi/text.ts';
import { cdb10 } from '../helpers/scsi-harness.ts';

const IQN = 'iqn.2026-11.test:disk';
const FF = 0xffffffff;

async function normalLogin(port: number, isid: number, name = 'iqn.2026-11.test:init1'): Promise<TestInitiator> {
  const ini = await TestInitiator.connect(port, isid);
  const r = await ini.login([
    ['InitiatorName', name],
    ['TargetName', IQN],
    ['SessionType', 'Normal'],
    ['HeaderDigest', 'None'],
    ['DataDigest', 'None'],
    ['InitialR2T', 'No'],
    ['ImmediateData', 'Yes'],
    ['MaxRecvDataSegmentLength', '4096'],
    ['FirstBurstLength', '8192'],
    ['MaxBurstLength', '16384'],
    ['MaxOutstandingR2T', '2'],
  ]);
  assert.equal(r.status, 0, 'login status');
  assert.equal(r.pdu.bhs[1]! & 0x83, 0x83, 'T=1, NSG=3');
  assert.notEqual(r.pdu.bhs.readUInt16BE(14), 0, 'TSIH assigned');
  assert.equal(r.keys.get('InitialR2T'), 'No');
  assert.equal(r.keys.get('MaxBurstLength'), '16384');
  ini.loginKeys = r.keys;
  return ini;
}

test('loopback: login, write, read, NOP, TMF, garbage, discovery, logout', async () => {
  const port = new FakePort({ luns: [0], blocks: 1024 });
  const logs: string[] = [];
  const server = new IscsiServer({
    host: '127.0.0.1',
    port: 0,
    targets: [{ iqn: IQN, alias: 'disk', port }],
    log: (l, m) => logs.push(`${l} ${m}`),
    maxRecvDataSegmentLength: 8192,
    nopInterval: 0,
  });
  const where = await server.listen();
  assert.equal(where.host, '127.0.0.1');
  assert.ok(where.port > 0);

  // Listening twice on the same port fails with a clear message.
  const dup = new IscsiServer({ host: '127.0.0.1', port: where.port, targets: [] });
  await assert.rejects(dup.listen(), /127\.0\.0\.1:\d+ is already in use/);

  const ini = await normalLogin(where.port, 1);
  assert.equal(ini.loginKeys.get('MaxRecvDataSegmentLength'), '8192');
  try {
    // ---- write 40 KiB: 4 KiB immediate, 4 KiB unsolicited, 2 R2Ts of 16 KiB
    const total = 40960;
    const data = Buffer.from(Array.from({ length: total }, (_, i) => (i * 7) & 0xff));
    const witt = ini.itt();
    ini.send({ opcode: 0x01, flags: 0x21, lun: 0, itt: witt, w20: total, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x2a, 0, total / 512) }, data.subarray(0, 4096));
    ini.send({ opcode: 0x05, flags: 0x80, lun: 0, itt: witt, w20: FF, w28: ini.expStatSN, w36: 0, w40: 4096 }, data.subarray(4096, 8192));
    const r2ts = [await ini.recv(), await ini.recv()];
    for (const [i, r] of r2ts.entries()) {
      assert.equal(r.bhs[0], 0x31, 'R2T');
      assert.equal(r.bhs.readUInt32BE(16), witt);
      assert.equal(r.bhs.readUInt32BE(36), i, 'R2TSN');
      assert.equal(r.bhs.readUInt32BE(40), 8192 + i * 16384, 'offset');
      assert.equal(r.bhs.readUInt32BE(44), 16384, 'desired length');
    }
    for (const r of r2ts) {
      const ttt = r.bhs.readUInt32BE(20);
      const off = r.bhs.readUInt32BE(40);
      ini.send({ opcode: 0x05, flags: 0, lun: 0, itt: witt, w20: ttt, w36: 0, w40: off }, data.subarray(off, off + 8192));
      ini.send({ opcode: 0x05, flags: 0x80, lun: 0, itt: witt, w20: ttt, w36: 1, w40: off + 8192 }, data.subarray(off + 8192, off + 16384));
    }
    const wr = await ini.recv();
    assert.equal(wr.bhs[0], 0x21, 'SCSI Response');
    assert.equal(wr.bhs[3], 0, 'GOOD');
    assert.equal(wr.bhs[1], 0x80, 'no residual');
    assert.equal(wr.bhs.readUInt32BE(36), 2, 'ExpDataSN = R2Ts sent');
    assert.deepEqual(port.disks.get(0)!.subarray(0, total), data);

    // ---- read 40 KiB back: 10 Data-In PDUs of 4 KiB, status in the last one
    const ritt = ini.itt();
    ini.send({ opcode: 0x01, flags: 0xc1, lun: 0, itt: ritt, w20: total, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x28, 0, total / 512) });
    const got: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      const d = await ini.recv();
      assert.equal(d.bhs[0], 0x25, 'Data-In');
      assert.equal(d.bhs.readUInt32BE(36), i, 'DataSN');
      assert.equal(d.bhs.readUInt32BE(40), i * 4096, 'Buffer Offset');
      assert.equal(d.data.length, 4096);
      const last = i === 9;
      assert.equal(!!(d.bhs[1]! & 0x01), last, 'S bit only on the last');
      assert.equal(!!(d.bhs[1]! & 0x80), last || (i + 1) % 4 === 0, 'F at burst ends');
      got.push(d.data);
    }
    assert.deepEqual(Buffer.concat(got), data);

    // ---- read with EDTL smaller than the transfer: overflow residual
    const oitt = ini.itt();
    ini.send({ opcode: 0x01, flags: 0xc1, lun: 0, itt: oitt, w20: 512, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x28, 0, 2) });
    const od = await ini.recv();
    assert.equal(od.bhs[1], 0x80 | 0x04 | 0x01, 'F O S');
    assert.equal(od.bhs.readUInt32BE(44), 512);

    // ---- NOP-Out ping with data
    const nitt = ini.itt();
    ini.send({ opcode: 0x00, immediate: true, flags: 0x80, itt: nitt, w20: FF, w24: ini.cmdSN, w28: ini.expStatSN }, Buffer.from('ping-data'));
    const nop = await ini.recv();
    assert.equal(nop.bhs[0], 0x20);
    assert.equal(nop.bhs.readUInt32BE(16), nitt);
    assert.equal(nop.bhs.readUInt32BE(20), FF);
    assert.equal(nop.data.toString(), 'ping-data');

    // ---- ABORT TASK of a slow command: TMF response, no SCSI Response
    port.delayMs = (cmd) => (cmd.cdb[0] === 0x00 ? 10_000 : 0);
    const titt = ini.itt();
    const tCmdSN = ini.cmdSN++;
    ini.send({ opcode: 0x01, flags: 0x80, lun: 0, itt: titt, w20: 0, w24: tCmdSN, w28: ini.expStatSN, cdb: Buffer.alloc(16) });
    await new Promise((r) => setTimeout(r, 50));
    const aitt = ini.itt();
    ini.send({ opcode: 0x02, immediate: true, flags: 0x81, lun: 0, itt: aitt, w20: titt, w24: ini.cmdSN, w28: ini.expStatSN, w32: tCmdSN });
    const tmf = await ini.recv();
    assert.equal(tmf.bhs[0], 0x22);
    assert.equal(tmf.bhs.readUInt32BE(16), aitt);
    assert.equal(tmf.bhs[2], 0, 'Function complete');
    assert.equal(port.aborted, 1);
    port.delayMs = 0;
    // ABORT TASK of a task that already completed: "task does not exist"
    ini.send({ opcode: 0x02, immediate: true, flags: 0x81, lun: 0, itt: ini.itt(), w20: oitt, w24: ini.cmdSN, w28: ini.expStatSN, w32: tCmdSN - 1 });
    assert.equal((await ini.recv()).bhs[2], 1, 'Task does not exist');
    // LUN RESET on an absent LUN
    ini.send({ opcode: 0x02, immediate: true, flags: 0x85, lun: 9, itt: ini.itt(), w20: FF, w24: ini.cmdSN, w28: ini.expStatSN });
    assert.equal((await ini.recv()).bhs[2], 2, 'LUN does not exist');
    // TASK REASSIGN at ERL 0
    ini.send({ opcode: 0x02, immediate: true, flags: 0x88, lun: 0, itt: ini.itt(), w20: titt, w24: ini.cmdSN, w28: ini.expStatSN });
    assert.equal((await ini.recv()).bhs[2], 4, 'reassignment not supported');
    // LUN RESET on LUN 0 reaches the port
    ini.send({ opcode: 0x02, immediate: true, flags: 0x85, lun: 0, itt: ini.itt(), w20: FF, w24: ini.cmdSN, w28: ini.expStatSN });
    assert.equal((await ini.recv()).bhs[2], 0);
    assert.equal(port.tmfCalls.at(-1)!.fn, 'lun-reset');
    assert.ok(await ini.silent(100), 'no SCSI Response for the aborted task');

    // ---- out-of-window CmdSN is dropped silently; the next good one works
    ini.send({ opcode: 0x01, flags: 0x80, lun: 0, itt: ini.itt(), w20: 0, w24: ini.cmdSN + 1000, w28: ini.expStatSN, cdb: Buffer.alloc(16) });
    assert.ok(await ini.silent(100));

    // ---- another session sends garbage: Reject, then a framing-breaking PDU: dropped
    const bad = await normalLogin(where.port, 2, 'iqn.2026-11.test:evil');
    bad.send({ opcode: 0x1c, itt: 5 });
    const rej = await bad.recv();
    assert.equal(rej.bhs[0], 0x3f);
    assert.equal(rej.bhs[2], 0x05, 'Command not supported');
    assert.equal(rej.data[0], 0x1c, 'carries the rejected header');
    bad.send({ opcode: 0x10, flags: 0x80, itt: 6 });
    assert.equal((await bad.recv()).bhs[2], 0x04, 'SNACK rejected at ERL 0');
    const huge = Buffer.alloc(48);
    huge[0] = 0x05;
    huge[5] = 0xff;
    huge[6] = 0xff;
    huge[7] = 0xff;
    bad.sendRaw(huge);
    await bad.closedPromise;
    // First session still alive.
    ini.send({ opcode: 0x00, immediate: true, flags: 0x80, itt: ini.itt(), w20: FF, w24: ini.cmdSN, w28: ini.expStatSN });
    assert.equal((await ini.recv()).bhs[0], 0x20);

    // ---- discovery session: SendTargets=All; SCSI commands are rejected
    const disc = await TestInitiator.connect(where.port, 3);
    const dl = await disc.login([['InitiatorName', 'iqn.2026-11.test:init1'], ['SessionType', 'Discovery']]);
    assert.equal(dl.status, 0);
    disc.send({ opcode: 0x04, immediate: true, flags: 0x80, itt: disc.itt(), w20: FF, w24: disc.cmdSN, w28: disc.expStatSN }, Buffer.from('SendTargets=All\0'));
    const tr = await disc.recv();
    assert.equal(tr.bhs[0], 0x24);
    assert.equal(tr.bhs[1], 0x80);
    assert.deepEqual(parseTextKeys(tr.data), [
      ['TargetName', IQN],
      ['TargetAddress', `127.0.0.1:${where.port},1`],
    ]);
    disc.send({ opcode: 0x01, flags: 0x80, itt: disc.itt(), w24: disc.cmdSN, cdb: Buffer.alloc(16) });
    assert.equal((await disc.recv()).bhs[0], 0x3f);
    disc.close();

    // ---- unknown target
    const nt = await TestInitiator.connect(where.port, 4);
    const ntr = await nt.login([['InitiatorName', 'iqn.2026-11.test:x'], ['TargetName', 'iqn.nope']]);
    assert.equal(ntr.status, 0x0203);
    await nt.closedPromise;

    // ---- logout
    const litt = ini.itt();
    ini.send({ opcode: 0x06, immediate: true, flags: 0x80, itt: litt, w24: ini.cmdSN, w28: ini.expStatSN });
    const lo = await ini.recv();
    assert.equal(lo.bhs[0], 0x26);
    assert.equal(lo.bhs[2], 0);
    await ini.closedPromise;
  } finally {
    ini.close();
    await server.close(2000);
  }
  assert.ok(port.lostNexus.some((n) => n.initiatorPort === 'iqn.2026-11.test:init1,i,0x800000000001'));
  assert.ok(port.lostNexus.some((n) => n.initiatorPort === 'iqn.2026-11.test:evil,i,0x800000000002'));
  const st = server.stats();
  assert.equal(st.sessions, 0);
  assert.equal(st.connections, 0);
  assert.ok(st.counters.commands >= 3);
});

test('session reinstatement closes the old session first', async () => {
  const port = new FakePort();
  const server = new IscsiServer({ host: '127.0.0.1', port: 0, targets: [{ iqn: IQN, port }], nopInterval: 0 });
  const { port: p } = await server.listen();
  try {
    const a = await normalLogin(p, 7);
    const b = await normalLogin(p, 7);
    await a.closedPromise;
    assert.equal(port.lostNexus.length, 1);
    assert.equal(server.stats().sessions, 1);
    b.send({ opcode: 0x00, immediate: true, flags: 0x80, itt: b.itt(), w20: FF, w24: b.cmdSN, w28: b.expStatSN });
    assert.equal((await b.recv()).bhs[0], 0x20);
    b.close();
  } finally {
    await server.close(1000);
  }
  assert.equal(port.lostNexus.length, 2);
});

test('target NOP-In ping; no answer drops the connection', async () => {
  const port = new FakePort();
  const server = new IscsiServer({ host: '127.0.0.1', port: 0, targets: [{ iqn: IQN, port }], nopInterval: 200, nopTimeout: 300 });
  const { port: p } = await server.listen();
  try {
    const a = await normalLogin(p, 8);
    const ping = await a.recv(3000);
    assert.equal(ping.bhs[0], 0x20);
    assert.equal(ping.bhs.readUInt32BE(16), FF);
    assert.notEqual(ping.bhs.readUInt32BE(20), FF);
    await a.closedPromise;
  } finally {
    await server.close(1000);
  }
});
