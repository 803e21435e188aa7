// The fake kernel runs in a Worker over a SharedArrayBuffer while the ring consumes here, so
// cmd_head / cmd_tail really are published across threads (Atomics.load / Atomics.store).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { setImmediate as tick } from 'node:timers/promises';
import { type TcmuCommand, TcmuRing } from '../../src/ringbuffer/ring.ts';
import { FakeTcmuKernel } from '../helpers/ringbuffer-kernel.ts';

interface WorkerResult {
  submitted: number;
  reaped: number;
  errors: string[];
  pending: number;
}

test('cross-thread: kernel worker produces, ring consumes and completes out of order', async () => {
  const cmdrSize = 2000; // not a multiple of the 128-byte entries: forces PADs
  const dataSize = 128 * 1024;
  const total = 1500;
  const layout = new FakeTcmuKernel({ shared: true, cmdrSize, dataSize });
  const ring = new TcmuRing({ buffer: layout.buffer, onProblem: (p) => assert.fail(`ring problem: ${p.message}`) });
  const worker = new Worker(new URL('../helpers/ringbuffer-kernel-worker.js', import.meta.url), {
    workerData: { buffer: layout.buffer, cmdrSize, dataSize, total },
  });
  let result: WorkerResult | undefined;
  let failure: unknown;
  worker.on('message', (m: WorkerResult) => (result = m));
  worker.on('error', (e) => (failure = e));

  const held: TcmuCommand[] = [];
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  while (result === undefined && failure === undefined) {
    for (const ev of ring.drain()) if (ev.kind === 'cmd') held.push(ev);
    // Complete a random subset, in random order; keep some back to force out-of-order tails.
    for (let n = Math.min(held.length, 1 + rnd(4)); n > 0; n--) {
      const [c] = held.splice(rnd(held.length), 1);
      const lba = new DataView(c.cdb.buffer, c.cdb.byteOffset).getUint32(2);
      let status = 0;
      if (c.cdb[0] === 0x2a) {
        if (!ring.gatherData(c).every((b) => b === ((lba * 7) & 0xff))) status = 2;
      } else {
        ring.scatterData(c, Buffer.alloc(c.dataLength, lba & 0xff));
      }
      assert.equal(ring.complete(c, { status }), true);
    }
    ring.takeNotify(); // the fake kernel polls cmd_tail; a real link would write the UIO fd here
    await tick();
  }
  await worker.terminate();
  assert.equal(failure, undefined);
  assert.ok(result !== undefined);
  assert.deepEqual(result.errors, []);
  assert.equal(result.submitted, total);
  assert.equal(result.reaped, total);
  assert.equal(result.pending, 0);
  assert.equal(ring.inFlightCount, 0);
  assert.ok(ring.stats.pads > 0, 'the ring wrapped');
});
