// Worker body for ringbuffer-threads.test.ts: plays the kernel on a SharedArrayBuffer laid out
// by the main thread. Submits `total` commands (reads and writes), reaps completions whenever
// there is no room, and checks every completion's status and Data-In.
import { parentPort, workerData } from 'node:worker_threads';
import { Cdb, FakeTcmuKernel, RingFullError } from './ringbuffer-kernel.ts';

interface Params {
  readonly buffer: SharedArrayBuffer;
  readonly cmdrSize: number;
  readonly dataSize: number;
  readonly total: number;
}

const p = workerData as Params;
const kernel = new FakeTcmuKernel({ attach: p.buffer, cmdrSize: p.cmdrSize, dataSize: p.dataSize });
const nap = new Int32Array(new SharedArrayBuffer(4));
const expected = new Map<number, { lba: number; write: boolean }>();
const errors: string[] = [];
let submitted = 0;
let reaped = 0;
let idle = 0; // consecutive 1 ms naps without progress

function reap(): void {
  for (const c of kernel.reap()) {
    reaped++;
    const e = expected.get(c.cmdId);
    expected.delete(c.cmdId);
    if (e === undefined) {
      errors.push(`completion for unknown cmd_id ${c.cmdId}`);
      continue;
    }
    if (c.status !== 0) errors.push(`cmd ${c.cmdId} (lba ${e.lba}) status ${c.status}`);
    if (!e.write && !c.dataIn.every((b) => b === (e.lba & 0xff))) errors.push(`cmd ${c.cmdId} (lba ${e.lba}) stale or wrong Data-In`);
  }
  if (kernel.broken !== null) errors.push(kernel.broken);
}

while ((submitted < p.total || expected.size > 0) && errors.length === 0 && idle < 3000) {
  if (submitted < p.total) {
    const lba = submitted;
    const write = lba % 3 === 0;
    const len = 512 * (1 + (lba % 9));
    try {
      const id = write
        ? kernel.submit({ cdb: Cdb.write10(lba, len / 512), dataOut: Buffer.alloc(len, (lba * 7) & 0xff) })
        : kernel.submit({ cdb: Cdb.read10(lba, len / 512), dataInLength: len });
      expected.set(id, { lba, write });
      submitted++;
      idle = 0;
      continue;
    } catch (err) {
      if (!(err instanceof RingFullError)) throw err;
    }
  }
  const before = reaped;
  reap();
  if (reaped === before) {
    Atomics.wait(nap, 0, 0, 1);
    idle++;
  } else {
    idle = 0;
  }
}
reap();
if (idle >= 3000) errors.push(`no progress for 3 s: submitted ${submitted}, reaped ${reaped}, tail ${kernel.tail}, head ${kernel.head}`);
parentPort!.postMessage({ submitted, reaped, errors, pending: expected.size });
