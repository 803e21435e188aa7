// What RFC 7143 forbids, sent as raw PDUs to the real CLI's embedded target (a small in-test
// initiator built on the link's own framing): each is refused as the RFC says, and the target
// stays up for the next initiator. One test per observed item of the adversarial run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestInitiator } from '../helpers/iscsi-initiator.ts';
import { cdb10 } from '../helpers/scsi-harness.ts';
import { startTarget, type RunningTarget } from '../helpers/target-process.ts';
import type { RawPdu } from '../../src/links/iscsi/pdu.ts';
import { parseTextKeys } from '../../src/links/iscsi/text.ts';

const FF = 0xffffffff;
const INIT = 'iqn.2026-11.test:rfc7143';
const ops = (p: RawPdu) => p.bhs[0]! & 0x3f;
type Keys = Array<[string, string]>;

interface LoginOpts {
  /** Byte 1 of the BHS: T, C, CSG, NSG (default T=1 operational -> full feature). */
  flags?: number;
  cid?: number;
  itt?: number;
}

/** Sends one Login Request with these keys as they are (repeats, odd values) and returns the response. */
async function loginStep(ini: TestInitiator, keys: Keys, o: LoginOpts = {}): Promise<{ status: number; keys: Map<string, string>; pdu: RawPdu }> {
  const data = Buffer.from(keys.map(([k, v]) => `${k}=${v}\0`).join(''));
  ini.send({ opcode: 0x03, immediate: true, flags: o.flags ?? 0x87, isid: ini.isid, tsih: 0, itt: o.itt ?? 1, w20: (o.cid ?? 0) << 16, w24: ini.cmdSN, w28: ini.expStatSN }, data);
  const pdu = await ini.recv();
  assert.equal(ops(pdu), 0x23, 'Login Response');
  return { status: pdu.bhs.readUInt16BE(36), keys: new Map(parseTextKeys(pdu.data)), pdu };
}

/** The sense key / ASC / ASCQ of a SCSI Response carrying fixed-format sense data. */
function senseOf(p: RawPdu): [number, number, number] {
  const s = p.data.subarray(2, 2 + p.data.readUInt16BE(0));
  return [s[2]! & 0x0f, s[12]!, s[13]!];
}

describe('RFC 7143 rules against raw PDUs (issue: refuse what the RFC forbids)', () => {
  let dir: string;
  let target: RunningTarget;
  let port: number;
  let iqn: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-rfc-'));
    const img = join(dir, 'disk.img');
    await writeFile(img, '');
    await truncate(img, 4 << 20);
    target = await startTarget(['disk1', img]);
    const m = /^iscsi:\/\/127\.0\.0\.1:(\d+)\/(.+)\/0$/.exec(target.served[0]!.url)!;
    port = Number(m[1]);
    iqn = m[2]!;
  });

  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  /** A login that must be refused with `status` and the connection closed by the target. */
  async function refused(keys: Keys, status: number, what: string): Promise<void> {
    const ini = await TestInitiator.connect(port, 9);
    try {
      const r = await loginStep(ini, keys);
      assert.equal(r.status, status, `${what}: status 0x${r.status.toString(16)}`);
      assert.equal(r.pdu.bhs[1]! & 0x80, 0, `${what}: no transit`);
      await Promise.race([ini.closedPromise, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: connection not closed`)), 5000))]);
    } finally {
      ini.close();
    }
  }

  async function session(extra: Keys = []): Promise<TestInitiator> {
    const ini = await TestInitiator.connect(port, 1);
    const r = await loginStep(ini, [['InitiatorName', INIT], ['TargetName', iqn], ...extra]);
    assert.equal(r.status, 0, 'login');
    assert.equal(r.pdu.bhs[1]! & 0x83, 0x83, 'T=1 NSG=3');
    // clear the power-on unit attention
    for (let i = 0; i < 3; i++) {
      ini.send({ opcode: 0x01, flags: 0x80, itt: ini.itt(), w24: ini.cmdSN++, w28: ini.expStatSN, cdb: [0, 0, 0, 0, 0, 0] });
      const p = await ini.recv();
      if (p.bhs[3] === 0) break;
    }
    return ini;
  }

  test('item 1: a Data-Out repeating the last DataSN fails the WRITE with DATA PHASE ERROR, never GOOD', async () => {
    const ini = await session([['InitialR2T', 'Yes'], ['ImmediateData', 'No']]);
    try {
      const data = Buffer.alloc(1024, 0x5a);
      for (const where of ['within the burst', 'after the last Data-Out']) {
        const itt = ini.itt();
        ini.send({ opcode: 0x01, flags: 0xa0, itt, w20: 1024, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x2a, 8, 2) });
        const r2t = await ini.recv();
        assert.equal(ops(r2t), 0x31, 'R2T');
        const ttt = r2t.bhs.readUInt32BE(20);
        const dout = (sn: number, off: number, final: boolean) => ({ opcode: 0x05, flags: final ? 0x80 : 0, itt, w20: ttt, w36: sn, w40: off });
        // One write, so all of it is in the target's hands before the command could complete.
        const pdus =
          where === 'within the burst'
            ? [[dout(0, 0, false), data.subarray(0, 512)], [dout(0, 512, true), data.subarray(512)]]
            : [[dout(0, 0, false), data.subarray(0, 512)], [dout(1, 512, true), data.subarray(512)], [dout(1, 512, true), data.subarray(512)]];
        const sock = ini.socket;
        sock.cork();
        for (const [bhs, d] of pdus) ini.send(bhs as Parameters<TestInitiator['send']>[0], d as Buffer);
        sock.uncork();
        const resp = await ini.recv();
        assert.equal(ops(resp), 0x21, `${where}: SCSI Response`);
        assert.equal(resp.bhs.readUInt32BE(16), itt);
        assert.equal(resp.bhs[3], 0x02, `${where}: CHECK CONDITION, not GOOD`);
        assert.deepEqual(senseOf(resp), [0x0b, 0x4b, 0x00], `${where}: ABORTED COMMAND / DATA PHASE ERROR`);
      }
      // The session goes on: a proper write ends GOOD.
      const itt = ini.itt();
      ini.send({ opcode: 0x01, flags: 0xa0, itt, w20: 512, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x2a, 8, 1) });
      const r2t = await ini.recv();
      ini.send({ opcode: 0x05, flags: 0x80, itt, w20: r2t.bhs.readUInt32BE(20), w36: 0, w40: 0 }, data.subarray(0, 512));
      const ok = await ini.recv();
      assert.equal(ok.bhs[3], 0x00, 'a well-formed write is GOOD');
    } finally {
      ini.close();
    }
  });

  test('item 2: a login key sent twice is a login reject 02/00', async () => {
    const twice: Keys = [
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['ImmediateData', 'Yes'],
      ['MaxOutstandingR2T', '1'],
      ['ErrorRecoveryLevel', '0'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
    ];
    for (const [k, v] of twice) {
      await refused([['InitiatorName', INIT], ['TargetName', iqn], [k, v], [k, v]], 0x0200, `${k} twice, same value`);
    }
    await refused([['InitiatorName', INIT], ['TargetName', iqn], ['ImmediateData', 'Yes'], ['ImmediateData', 'No']], 0x0200, 'ImmediateData Yes then No');
    await refused([['InitiatorName', INIT], ['TargetName', iqn], ['TargetName', iqn]], 0x0200, 'TargetName twice');
    await refused([['InitiatorName', INIT], ['InitiatorName', 'iqn.2026-11.test:other'], ['TargetName', iqn]], 0x0200, 'InitiatorName twice');
    // across the Login Requests of one login
    const ini = await TestInitiator.connect(port, 9);
    try {
      const r1 = await loginStep(ini, [['InitiatorName', INIT], ['TargetName', iqn], ['MaxOutstandingR2T', '1']], { flags: 0x04 });
      assert.equal(r1.status, 0);
      const r2 = await loginStep(ini, [['MaxOutstandingR2T', '1']]);
      assert.equal(r2.status, 0x0200, 'MaxOutstandingR2T again in the second request');
    } finally {
      ini.close();
    }
    // in full feature phase: a Text Request naming a key twice gets a Reject (protocol error)
    const ffp = await session();
    try {
      ffp.send({ opcode: 0x04, immediate: true, flags: 0x80, itt: ffp.itt(), w20: FF, w24: ffp.cmdSN, w28: ffp.expStatSN }, Buffer.from('MaxRecvDataSegmentLength=4096\0MaxRecvDataSegmentLength=8192\0'));
      const rej = await ffp.recv();
      assert.equal(ops(rej), 0x3f, 'Reject');
      assert.equal(rej.bhs[2], 0x04, 'reason: protocol error');
    } finally {
      ffp.close();
    }
  });

  test('item 3: malformed and out-of-range MaxRecvDataSegmentLength values are a login reject 02/00', async () => {
    for (const v of ['0b101', '999999999999999999999999', ' 512', '511', '16777216', '0512']) {
      await refused([['InitiatorName', INIT], ['TargetName', iqn], ['MaxRecvDataSegmentLength', v]], 0x0200, `MaxRecvDataSegmentLength=${JSON.stringify(v)}`);
    }
    await refused([['InitiatorName', INIT], ['TargetName', iqn], ['MaxBurstLength', '0b101']], 0x0200, 'MaxBurstLength=0b101');
  });

  test('item 4: Data-In never exceeds the MaxRecvDataSegmentLength the initiator declared', async () => {
    /** READ(10) of 64 KiB: every Data-In's data length, checked against `mrdsl`. */
    async function readChecked(ini: TestInitiator, mrdsl: number, what: string): Promise<void> {
      const itt = ini.itt();
      ini.send({ opcode: 0x01, flags: 0xc0, itt, w20: 65536, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x28, 0, 128) });
      let total = 0;
      for (;;) {
        const p = await ini.recv();
        if (ops(p) === 0x21) break;
        assert.equal(ops(p), 0x25, 'Data-In');
        assert.ok(p.data.length <= mrdsl, `${what}: Data-In of ${p.data.length} bytes > ${mrdsl}`);
        total += p.data.length;
        if (p.bhs[1]! & 0x01) break;
      }
      assert.equal(total, 65536, what);
    }
    // 512 as the initiator may write it: either the login is refused or 512 is what we send.
    const taken: string[] = [];
    for (const declared of ['512', '0x200', '0x0200', ' 512', '512 ', '0512', '0b1000000000']) {
      const ini = await TestInitiator.connect(port, 4);
      try {
        const r = await loginStep(ini, [['InitiatorName', INIT], ['TargetName', iqn], ['MaxRecvDataSegmentLength', declared]]);
        if (r.status !== 0) {
          assert.equal(r.status, 0x0200, JSON.stringify(declared));
          continue;
        }
        taken.push(declared);
        ini.send({ opcode: 0x01, flags: 0x80, itt: ini.itt(), w24: ini.cmdSN++, w28: ini.expStatSN, cdb: [0, 0, 0, 0, 0, 0] });
        await ini.recv(); // TEST UNIT READY: the power-on unit attention
        await readChecked(ini, 512, `MaxRecvDataSegmentLength=${JSON.stringify(declared)}`);
        // a declaration in full feature phase (§13.12: per connection) takes effect too
        ini.send({ opcode: 0x04, immediate: true, flags: 0x80, itt: ini.itt(), w20: FF, w24: ini.cmdSN, w28: ini.expStatSN }, Buffer.from('MaxRecvDataSegmentLength=1024\0'));
        assert.equal(ops(await ini.recv()), 0x24, 'Text Response');
        await readChecked(ini, 1024, 'then 1024 in a Text Request');
      } finally {
        ini.close();
      }
    }
    assert.deepEqual(taken, ['512', '0x200', '0x0200'], 'the well-formed forms log in');
  });

  test('item 5: a CID that changes between the Login Requests of one login is a login reject 02/00', async () => {
    for (const second of [2, 1]) {
      const ini = await TestInitiator.connect(port, 5);
      try {
        const r1 = await loginStep(ini, [['InitiatorName', INIT], ['TargetName', iqn]], { flags: 0x04, cid: 1 });
        assert.equal(r1.status, 0);
        const r2 = await loginStep(ini, [['HeaderDigest', 'None']], { cid: second });
        if (second === 1) {
          assert.equal(r2.status, 0, 'the same CID completes the login');
          assert.equal(r2.pdu.bhs[1]! & 0x83, 0x83);
        } else {
          assert.equal(r2.status, 0x0200, 'CID 1 then 2');
          await ini.closedPromise;
        }
      } finally {
        ini.close();
      }
    }
  });

  test('item 6: an InitiatorName that is not an iqn., eui. or naa. name is a login reject 02/00', async () => {
    for (const name of ['initiator1', 'iqn.x', 'iqn.2026-11.test:has space', 'eui.1234', 'naa.52004567BA64678DX']) {
      await refused([['InitiatorName', name], ['TargetName', iqn]], 0x0200, `InitiatorName=${name}`);
    }
    const ini = await TestInitiator.connect(port, 6);
    try {
      assert.equal((await loginStep(ini, [['InitiatorName', 'eui.02004567A425678D'], ['TargetName', iqn]])).status, 0, 'an eui. name logs in');
    } finally {
      ini.close();
    }
  });

  test('the target is still serving after all of the above', async () => {
    const ini = await session();
    ini.close();
  });
});
