// The handlers in examples/ served by the real CLI with --handlers (added to the built-in types)
// and queried with raw CDBs over iSCSI: what README's "Adding a handler type" promises.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RawSession } from '../helpers/iscsi-raw.ts';
import { ROOT, installJsExample } from '../helpers/examples.ts';
import { run, runCli, startTarget, type RunningTarget } from '../helpers/target-process.ts';

describe('examples/js-processor, installed outside the tree', () => {
  let example: Awaited<ReturnType<typeof installJsExample>>;
  let target: RunningTarget;
  before(async () => {
    example = await installJsExample();
    target = await startTarget(['--no-control', '--handlers', example.handlers, '--type', 'hello', 'hello1', '-']);
  });
  after(async () => {
    await target?.stop('SIGKILL');
    await example?.cleanup();
  });

  test('--list-types shows the built-in types and the added one', async () => {
    const r = await runCli(['--handlers', example.handlers, '--list-types']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.split('\t')[0]), ['disk', 'nullio', 'tape', 'changer', 'cdrom', 'hello']);
  });

  test('INQUIRY reports a processor device; HELLO (C1h) answers with the initiator name', async () => {
    const url = target.served[0]!.url;
    const inq = await run('iscsi-inq', ['-i', 'iqn.2026-01.test:examples', url]);
    assert.equal(inq.code, 0, inq.stderr);
    assert.match(inq.stdout, /Peripheral Device Type:PROCESSOR/);
    const s = new RawSession(url);
    try {
      await s.ready();
      const r = await s.send('c10000004000', { in: 64 });
      assert.equal(r.status, 0, r.line);
      assert.equal(r.data.toString(), 'hello, iqn.2026-01.org.fileio-tgt:iscsi-raw (1)');
      const bad = await s.send('c10100004000', { in: 64 });
      assert.equal(bad.status, 2);
      assert.match(bad.sense, /^5\/24\/00/);
    } finally {
      s.close();
    }
  });
});

describe('examples/ts-mailbox, built with the project', () => {
  let target: RunningTarget;
  before(async () => {
    target = await startTarget(['--no-control', '--handlers', join(ROOT, 'examples/ts-mailbox/handlers.json'), '--type', 'mailbox', 'box1', '-']);
  });
  after(() => target?.stop('SIGKILL'));

  test('PUT MESSAGE (C2h, data-out) then GET MESSAGE (C3h, data-in)', async () => {
    const s = new RawSession(target.served[0]!.url);
    try {
      await s.ready();
      assert.match((await s.send('c3000000000000004000', { in: 64 })).sense, /^2\/3a\/00/);
      assert.equal((await s.send('c2000000000000000b00', { out: Buffer.from('hello, tape') })).status, 0);
      const r = await s.send('c3000000000000004000', { in: 64 });
      assert.equal(r.status, 0, r.line);
      assert.equal(r.data.toString(), 'hello, tape');
    } finally {
      s.close();
    }
  });
});
