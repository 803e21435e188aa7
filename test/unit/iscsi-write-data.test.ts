import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataOutError, WriteCollector } from '../../src/links/iscsi/write-data.ts';

const FF = 0xffffffff;
const limits = { firstBurstLength: 8192, maxBurstLength: 16384, maxOutstandingR2T: 2 };
const fill = (n: number, start: number) => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));

test('immediate + unsolicited + R2T sequences assemble the data in place', () => {
  const edtl = 8192 + 16384 * 2 + 1000;
  const ref = fill(edtl, 0);
  const w = new WriteCollector(edtl, ref.subarray(0, 4096), true, limits);
  let ttt = 100;
  assert.deepEqual(w.nextR2Ts(() => ttt++), [], 'no R2T while the unsolicited burst is open');
  w.accept({ ttt: FF, dataSN: 0, bufferOffset: 4096, final: false, data: ref.subarray(4096, 6144) });
  w.accept({ ttt: FF, dataSN: 1, bufferOffset: 6144, final: true, data: ref.subarray(6144, 8192) });
  const r2ts = w.nextR2Ts(() => ttt++);
  assert.deepEqual(r2ts, [
    { ttt: 100, r2tSN: 0, offset: 8192, length: 16384 },
    { ttt: 101, r2tSN: 1, offset: 24576, length: 16384 },
  ]);
  w.accept({ ttt: 101, dataSN: 0, bufferOffset: 24576, final: true, data: ref.subarray(24576, 40960) });
  assert.deepEqual(w.nextR2Ts(() => ttt++), [{ ttt: 102, r2tSN: 2, offset: 40960, length: 1000 }]);
  w.accept({ ttt: 100, dataSN: 0, bufferOffset: 8192, final: false, data: ref.subarray(8192, 16384) });
  w.accept({ ttt: 100, dataSN: 1, bufferOffset: 16384, final: true, data: ref.subarray(16384, 24576) });
  assert.equal(w.complete, false);
  w.accept({ ttt: 102, dataSN: 0, bufferOffset: 40960, final: true, data: ref.subarray(40960) });
  assert.equal(w.complete, true);
  assert.deepEqual(w.data, ref);
  assert.equal(w.r2tCount, 3);
});

test('all data immediate: no copy, complete at once, and no place for a Data-Out', () => {
  const d = fill(512, 3);
  const w = new WriteCollector(512, d, false, limits);
  assert.equal(w.complete, true);
  assert.strictEqual(w.data, d);
  assert.equal(w.placement(0, 512), undefined, 'a complete write is never received into');
});

test('data received in place: the home of the immediate data becomes the write buffer, placed Data-Outs are not copied again', () => {
  const edtl = 8192 + 4096;
  const ref = fill(edtl, 7);
  const home = Buffer.alloc(edtl);
  ref.copy(home, 0, 0, 4096); // the framing layer received the immediate data at the start of home
  const w = new WriteCollector(edtl, home.subarray(0, 4096), true, limits, true, home);
  assert.strictEqual(w.data!.buffer, home.buffer, 'no buffer of its own');
  // an unsolicited Data-Out received through placement(): it is already where it belongs
  const at = w.placement(4096, 4096)!;
  assert.equal(at.byteOffset, home.byteOffset + 4096);
  ref.copy(at, 0, 4096, 8192);
  w.accept({ ttt: FF, dataSN: 0, bufferOffset: 4096, final: true, data: at });
  // a solicited one that arrived in a buffer of its own is copied in
  const [r2t] = w.nextR2Ts(() => 7);
  w.accept({ ttt: r2t!.ttt, dataSN: 0, bufferOffset: 8192, final: true, data: Buffer.from(ref.subarray(8192)) });
  assert.equal(w.complete, true);
  assert.deepEqual(w.data, ref);
  assert.equal(w.placement(12000, 1000), undefined, 'beyond the write: no placement');
  // a home that is not where the immediate data sits is not adopted
  const other = new WriteCollector(edtl, Buffer.from(ref.subarray(0, 4096)), true, limits, true, Buffer.alloc(edtl));
  assert.deepEqual(other.data!.subarray(0, 4096), ref.subarray(0, 4096));
});

test('bad DataSN, offset, TTT, F bit and overruns are refused', () => {
  const mk = () => new WriteCollector(4096, Buffer.alloc(0), true, limits);
  assert.throws(() => mk().accept({ ttt: FF, dataSN: 1, bufferOffset: 0, final: false, data: Buffer.alloc(512) }), DataOutError);
  assert.throws(() => mk().accept({ ttt: FF, dataSN: 0, bufferOffset: 512, final: false, data: Buffer.alloc(512) }), DataOutError);
  assert.throws(() => mk().accept({ ttt: FF, dataSN: 0, bufferOffset: 0, final: false, data: Buffer.alloc(5000) }), DataOutError);
  assert.throws(() => mk().accept({ ttt: 5, dataSN: 0, bufferOffset: 0, final: false, data: Buffer.alloc(512) }), DataOutError);
  const w = new WriteCollector(4096, Buffer.alloc(0), false, limits);
  const [r] = w.nextR2Ts(() => 9);
  assert.throws(() => w.accept({ ttt: r!.ttt, dataSN: 0, bufferOffset: 0, final: true, data: Buffer.alloc(512) }), DataOutError, 'F before end');
  assert.throws(() => new WriteCollector(512, Buffer.alloc(1024), false, limits), DataOutError, 'immediate beyond EDTL');
  const twice = new WriteCollector(4096, Buffer.alloc(0), true, limits);
  twice.accept({ ttt: FF, dataSN: 0, bufferOffset: 0, final: false, data: Buffer.alloc(512) });
  assert.throws(() => twice.accept({ ttt: FF, dataSN: 0, bufferOffset: 512, final: false, data: Buffer.alloc(512) }), /DataSN 0, expected 1/);
});

test('discard mode solicits nothing', () => {
  const w = new WriteCollector(1 << 20, Buffer.alloc(1024), false, limits, false);
  assert.equal(w.complete, true);
  assert.equal(w.data, undefined);
  assert.deepEqual(w.nextR2Ts(() => 1), []);
});

test('item 1: a Data-Out repeating the last DataSN is refused, within a sequence and after the last one', () => {
  const d = fill(1024, 9);
  // R2T sequence: DataSN 0 twice
  const w = new WriteCollector(1024, Buffer.alloc(0), false, limits);
  const [r2t] = w.nextR2Ts(() => 7);
  w.accept({ ttt: r2t!.ttt, dataSN: 0, bufferOffset: 0, final: false, data: d.subarray(0, 512) });
  assert.throws(() => w.accept({ ttt: r2t!.ttt, dataSN: 0, bufferOffset: 512, final: true, data: d.subarray(512) }), (e: DataOutError) => e.asc === 0x4b && e.ascq === 0 && /DataSN 0, expected 1/.test(e.message));
  // after the data phase ended: the last DataSN again, solicited and unsolicited
  const full = new WriteCollector(1024, Buffer.alloc(0), false, limits);
  const [r] = full.nextR2Ts(() => 8);
  full.accept({ ttt: r!.ttt, dataSN: 0, bufferOffset: 0, final: false, data: d.subarray(0, 512) });
  full.accept({ ttt: r!.ttt, dataSN: 1, bufferOffset: 512, final: true, data: d.subarray(512) });
  assert.equal(full.complete, true);
  assert.throws(() => full.accept({ ttt: r!.ttt, dataSN: 1, bufferOffset: 512, final: true, data: d.subarray(512) }), (e: DataOutError) => e.asc === 0x4b && e.ascq === 0 && /after all 1024 bytes/.test(e.message));
  const uns = new WriteCollector(1024, d.subarray(0, 512), true, limits);
  uns.accept({ ttt: FF, dataSN: 0, bufferOffset: 512, final: true, data: d.subarray(512) });
  assert.equal(uns.complete, true);
  assert.throws(() => uns.accept({ ttt: FF, dataSN: 0, bufferOffset: 512, final: true, data: d.subarray(512) }), /after all 1024 bytes/);
  assert.deepEqual(uns.data, d, 'the data received in order stays as it was');
});
