// The handlers in examples/ on raw CDBs, with the helpers a handler author gets from
// fileio_tgt/testing (README: "Adding a handler type").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Status, type HandlerModule } from 'fileio_tgt/handler';
import { clearUnitAttention, responseData, responseSense, sendCdb, testConfig, testHost, testNexus } from 'fileio_tgt/testing';
import { pathToFileURL } from 'node:url';
import mailbox from '../../examples/ts-mailbox/mailbox.ts';
import { installJsExample } from '../helpers/examples.ts';

test('js-processor: HELLO (C1h) greets the initiator and honours the allocation length', async () => {
  // plain JavaScript outside the tree, imported at run time as fileio_tgt imports it
  const example = await installJsExample();
  const hello = ((await import(pathToFileURL(example.module).href)) as { default: HandlerModule }).default;
  const lu = await hello.create(testConfig('hello1', { type: 'hello' }), testHost());
  const nx = testNexus(1, 'iqn.2026-01.test:alice');
  await clearUnitAttention(lu, nx);
  const r = await sendCdb(lu, [0xc1, 0, 0, 0, 64, 0], nx);
  assert.equal(r.status, Status.GOOD);
  assert.equal(responseData(r).toString(), 'hello, iqn.2026-01.test:alice (1)');
  assert.equal(responseData(await sendCdb(lu, [0xc1, 0, 0, 0, 5, 0], nx)).toString(), 'hello');
  assert.deepEqual(responseSense(await sendCdb(lu, [0xc1, 1, 0, 0, 64, 0], nx)), { key: 5, asc: 0x24, ascq: 0, descriptor: false });
  // a CDB shorter than the usage array says is refused before the command runs
  assert.deepEqual(responseSense(await sendCdb(lu, [0xc1, 0, 0, 0], nx)), { key: 5, asc: 0x24, ascq: 0, descriptor: false });
  assert.deepEqual(lu.describe().greetings, 2);
  await lu.close();
  await example.cleanup();
});

test('ts-mailbox: PUT MESSAGE (C2h) then GET MESSAGE (C3h); GET before PUT is NOT READY', async () => {
  const lu = await mailbox.create(testConfig('box1', { type: 'mailbox' }), testHost());
  const nx = testNexus();
  await clearUnitAttention(lu, nx);
  assert.deepEqual(responseSense(await sendCdb(lu, [0xc3, 0, 0, 0, 0, 0, 0, 0, 64, 0], nx)), { key: 2, asc: 0x3a, ascq: 0, descriptor: false });
  const put = await sendCdb(lu, [0xc2, 0, 0, 0, 0, 0, 0, 0, 5, 0], nx, { dataOut: Buffer.from('hello') });
  assert.equal(put.status, Status.GOOD);
  assert.equal(responseData(await sendCdb(lu, [0xc3, 0, 0, 0, 0, 0, 0, 0, 64, 0], nx)).toString(), 'hello');
  assert.equal(responseData(await sendCdb(lu, [0xc3, 0, 0, 0, 0, 0, 0, 0, 3, 0], nx)).toString(), 'hel');
  // more than 4096 bytes: INVALID FIELD IN CDB at byte 7
  assert.deepEqual(responseSense(await sendCdb(lu, [0xc2, 0, 0, 0, 0, 0, 0, 0x10, 1, 0], nx, { dataOut: Buffer.alloc(4097) })), { key: 5, asc: 0x24, ascq: 0, descriptor: false });
  // REPORT SUPPORTED OPERATION CODES, one command: the CDB USAGE DATA is the usage array (10 bytes)
  const rsoc = responseData(await sendCdb(lu, [0xa3, 0x0c, 0x01, 0xc2, 0, 0, 0, 0, 0, 32, 0, 0], nx));
  assert.deepEqual([...rsoc.subarray(2, 4)], [0, 10]);
  assert.deepEqual([...rsoc.subarray(4, 14)], [0xc2, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07]);
  await lu.close();
});
