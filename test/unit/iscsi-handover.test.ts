// A login to a target served by another server (another thread, in the product) moves there:
// the first server routes it by TargetName, the second adopts a second descriptor of the socket
// with the bytes received so far, and the login, the I/O and the logout happen there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IscsiServer } from '../../src/links/iscsi/index.ts';
import { loginTargetName, parseTextKeys } from '../../src/links/iscsi/text.ts';
import { FakePort } from '../helpers/iscsi-fake-port.ts';
import { TestInitiator } from '../helpers/iscsi-initiator.ts';
import { cdb10 } from '../helpers/scsi-harness.ts';

const FF = 0xffffffff;

test('loginTargetName: the TargetName of a normal login; none for discovery or a truncated pair', () => {
  const text = (s: string) => Buffer.from(s.replace(/\|/g, '\0'));
  assert.equal(loginTargetName(text('InitiatorName=iqn.x|TargetName=iqn.t:a|SessionType=Normal|')), 'iqn.t:a');
  assert.equal(loginTargetName(text('InitiatorName=iqn.x|SessionType=Discovery|TargetName=iqn.t:a|')), undefined);
  assert.equal(loginTargetName(text('InitiatorName=iqn.x|TargetName=iqn.t:a')), undefined, 'no NUL: not complete');
});

test('a login to the other server\'s target is handed over and served there; discovery lists both', async () => {
  const logs: string[] = [];
  const here = new FakePort({ luns: [0], blocks: 64 });
  const there = new FakePort({ luns: [0], blocks: 64 });
  const other = new IscsiServer({ host: '127.0.0.1', port: 0, targets: [{ iqn: 'iqn.2026-11.test:there', port: there }], nopInterval: 0 });
  let handed = 0;
  const front = new IscsiServer({
    host: '127.0.0.1',
    port: 0,
    targets: [{ iqn: 'iqn.2026-11.test:here', port: here }],
    remoteTargets: [{ iqn: 'iqn.2026-11.test:there' }],
    route: (name) =>
      name === 'iqn.2026-11.test:there'
        ? (fd, received) => {
            handed++;
            other.adopt(fd, received);
            return true;
          }
        : undefined,
    log: (l, m) => logs.push(`${l} ${m}`),
    nopInterval: 0,
  });
  const { port } = await front.listen();
  try {
    const disc = await TestInitiator.connect(port, 7);
    assert.equal((await disc.login([['InitiatorName', 'iqn.2026-11.test:init'], ['SessionType', 'Discovery']])).status, 0);
    disc.send({ opcode: 0x04, immediate: true, flags: 0x80, itt: disc.itt(), w20: FF, w24: disc.cmdSN, w28: disc.expStatSN }, Buffer.from('SendTargets=All\0'));
    const tr = await disc.recv();
    assert.deepEqual(parseTextKeys(tr.data).filter(([k]) => k === 'TargetName').map(([, v]) => v), ['iqn.2026-11.test:here', 'iqn.2026-11.test:there']);
    disc.close();
    assert.equal(handed, 0, 'discovery stays');

    const ini = await TestInitiator.connect(port, 8);
    const r = await ini.login([
      ['InitiatorName', 'iqn.2026-11.test:init'],
      ['TargetName', 'iqn.2026-11.test:there'],
      ['SessionType', 'Normal'],
      ['ImmediateData', 'Yes'],
    ]);
    assert.equal(r.status, 0, 'login answered by the other server');
    assert.equal(handed, 1);
    assert.equal(front.stats().sessions, 0);
    assert.equal(other.stats().sessions, 1);
    const data = Buffer.alloc(512, 0x3c);
    ini.send({ opcode: 0x01, flags: 0xa1, lun: 0, itt: ini.itt(), w20: 512, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x2a, 5, 1) }, data);
    const w = await ini.recv();
    assert.equal(w.bhs[0], 0x21, 'SCSI Response');
    assert.equal(w.bhs[3], 0, 'GOOD');
    assert.deepEqual(there.disks.get(0)!.subarray(5 * 512, 6 * 512), data, "the write reached the other server's LU");
    assert.ok(here.disks.get(0)!.every((b) => b === 0));
    ini.send({ opcode: 0x06, immediate: true, flags: 0x80, itt: ini.itt(), w24: ini.cmdSN, w28: ini.expStatSN });
    assert.equal((await ini.recv()).bhs[0], 0x26, 'Logout Response');
    await ini.closedPromise;
  } finally {
    await front.close(1000);
    await other.close(1000);
  }
  assert.ok(logs.some((l) => /connection handed to the thread serving it/.test(l)), logs.join('\n'));
});
