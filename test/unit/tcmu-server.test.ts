// The tcmu link's ring server (src/links/tcmu/server.ts) against the fake kernel ring producer:
// writes and reads through a LogicalUnit, one UIO write per batch, unknown opcodes answered by the
// LU, malformed entries reported while the ring goes on, TMR -> AbortSignal, no double completion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { FakeTcmuKernel, Cdb } from '../helpers/ringbuffer-kernel.ts';
import { TcmuServer, type RingPort } from '../../src/links/tcmu/server.ts';
import type { LogicalUnit, ScsiCommand, ScsiResponse } from '../../src/scsi/command.ts';
import { CmdReq, TcmuTmrType } from '../../src/ringbuffer/abi.ts';
import { PinnedData } from '../../src/scsi/data-in.ts';
import { diskConfig, openDisk, tempDir, tempImage } from '../helpers/scsi-harness.ts';

const BS = 512;

/** A RAM disk that knows READ(10)/WRITE(10)/TUR; anything else is CHECK CONDITION 05/20/00. */
class RamLu implements LogicalUnit {
  readonly name = 'ram';
  readonly type = 'disk';
  readonly peripheralType = 0;
  readonly data = Buffer.alloc(64 * BS);
  hold?: Promise<void>;
  readonly seen: ScsiCommand[] = [];
  async execute(cmd: ScsiCommand): Promise<ScsiResponse> {
    this.seen.push(cmd);
    if (this.hold) await this.hold;
    const c = cmd.cdb;
    if (c[0] === 0x00) return { status: 0 };
    if (c[0] === 0x28 || c[0] === 0x2a) {
      const lba = c.readUInt32BE(2);
      const n = c.readUInt16BE(7) * BS;
      if (c[0] === 0x28) return { status: 0, data: Buffer.from(this.data.subarray(lba * BS, lba * BS + n)) };
      const d = cmd.dataOut!;
      d.copy(this.data, lba * BS, 0, n);
      return { status: 0, dataOutLength: n };
    }
    return { status: 2, sense: Buffer.from([0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0]) };
  }
  async taskManagement(): Promise<void> {}
  nexusLost(): void {}
  describe() {
    return {};
  }
  async flush() {}
  async close() {}
}

function setup(lu: LogicalUnit) {
  const k = new FakeTcmuKernel({ cmdrSize: 8192 - 128, dataSize: 256 * 1024 });
  let wake: ((s: number) => void) | undefined;
  let events = 0;
  const port: RingPort & { notifies: number } = {
    buffer: k.buffer,
    mapSize: k.buffer.byteLength,
    notifies: 0,
    readEvent: () => (events > 0 ? events-- : -1),
    notify() {
      this.notifies++;
    },
    watch: (cb) => (wake = cb),
    unwatch: () => (wake = undefined),
  };
  const problems: string[] = [];
  const server = new TcmuServer({
    lu,
    port,
    nexus: { id: 't', initiatorPort: 'i', targetPort: 't', relativeTargetPort: 1, transportId: Buffer.alloc(0) },
    log: (level, m) => {
      if (level !== 'debug' && level !== 'info') problems.push(m);
    },
  });
  server.start();
  const kick = async () => {
    events++;
    wake?.(0);
    for (let i = 0; i < 5; i++) await tick();
  };
  return { k, port, server, kick, problems };
}

test('WRITE then READ through the ring reach the LU and come back byte-exact, one notify per batch', async () => {
  const lu = new RamLu();
  const { k, port, server, kick } = setup(lu);
  const pattern = Buffer.alloc(8 * BS);
  for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7) & 0xff;
  k.submit({ cdb: Cdb.write10(4, 8), dataOut: pattern });
  k.submit({ cdb: Cdb.tur() });
  await kick();
  assert.equal(port.notifies, 1);
  const w = k.reap();
  assert.deepEqual(w.map((c) => c.status), [0, 0]);
  assert.deepEqual(lu.data.subarray(4 * BS, 12 * BS), pattern);
  k.submit({ cdb: Cdb.read10(4, 8), dataInLength: 8 * BS });
  await kick();
  const [r] = k.reap();
  assert.equal(r.status, 0);
  assert.deepEqual(r.dataIn, pattern);
  assert.equal(server.stats.completed, 3);
  assert.equal(server.inFlight, 0);
});

test('a short data-in is reported with READ_LEN, never stale bytes', async () => {
  const lu = new RamLu();
  lu.execute = async () => ({ status: 0, data: Buffer.from('abcd') });
  const { k, kick } = setup(lu);
  k.submit({ cdb: Cdb.read10(0, 1), dataInLength: BS });
  await kick();
  const [r] = k.reap();
  assert.equal(r.readLen, 4);
  assert.deepEqual(r.dataIn, Buffer.from('abcd'));
});

test('an opcode the LU does not know comes back as its CHECK CONDITION', async () => {
  const { k, kick } = setup(new RamLu());
  const cdb = new Uint8Array(6);
  cdb[0] = 0x1d; // SEND DIAGNOSTIC, not implemented by RamLu
  k.submit({ cdb });
  await kick();
  const [r] = k.reap();
  assert.equal(r.status, 2);
  assert.equal(r.sense[2], 5);
  assert.equal(r.sense[12], 0x20);
});

test('a malformed entry is failed and reported; the commands after it are served', async () => {
  const { k, kick, problems } = setup(new RamLu());
  k.submit({ cdb: Cdb.read10(0, 1), dataInLength: BS, mutate: (e) => e.setUint32(CmdReq.IOV_CNT, 5000, true) });
  k.submit({ cdb: Cdb.tur() });
  await kick();
  const done = k.reap();
  assert.equal(done.length, 2);
  assert.equal(done[0].status, 2);
  assert.equal(done[0].sense[2], 4); // HARDWARE ERROR
  assert.equal(done[1].status, 0);
  assert.equal(k.broken, null);
  assert.ok(problems.some((p) => /iovecs do not fit/.test(p)));
});

test('TMR aborts the listed commands; each is still completed exactly once', async () => {
  const lu = new RamLu();
  let release!: () => void;
  lu.hold = new Promise((r) => (release = r));
  const { k, kick, server } = setup(lu);
  const id = k.submit({ cdb: Cdb.read10(0, 1), dataInLength: BS });
  await kick();
  assert.equal(server.inFlight, 1);
  k.submitTmr(TcmuTmrType.ABORT_TASK, [id]);
  await kick();
  assert.equal(lu.seen[0].signal?.aborted, true);
  release();
  await kick();
  const done = k.reap();
  assert.equal(done.length, 1);
  assert.equal(done[0].cmdId, id);
  assert.equal(k.broken, null);
  assert.equal(server.stats.aborted, 1);
});

test('stop() drops in-flight commands: their late answers never reach the ring', async () => {
  const lu = new RamLu();
  let release!: () => void;
  lu.hold = new Promise((r) => (release = r));
  const { k, kick, server } = setup(lu);
  k.submit({ cdb: Cdb.read10(0, 1), dataInLength: BS });
  await kick();
  server.stop();
  release();
  await kick();
  assert.deepEqual(k.reap(), []);
  assert.equal(server.stats.completed, 0);
  assert.equal(server.stats.dropped, 1);
});

test('pinned data-in (page-cache READ) is copied piece by piece into the ring, then released', async () => {
  const lu = new RamLu();
  const whole = Buffer.from(Array.from({ length: 3 * BS }, (_, i) => (i * 11) & 0xff));
  let released = 0;
  lu.execute = async () => ({ status: 0, data: new PinnedData([whole.subarray(0, 100), whole.subarray(100, 700), whole.subarray(700)], whole.length, () => released++) });
  const { k, kick } = setup(lu);
  k.submit({ cdb: Cdb.read10(0, 3), dataInLength: 3 * BS });
  await kick();
  const [r] = k.reap();
  assert.equal(r.status, 0);
  assert.deepEqual(r.dataIn, whole);
  assert.equal(released, 1);
});

test('the disk with its page cache through the ring: cached READs come back byte-exact and unpinned', async () => {
  const t = await tempDir();
  const lu = await openDisk(diskConfig({ file: await tempImage(t.dir, 1 << 20), cacheSize: 256 * 1024 }));
  try {
    const { k, kick } = setup(lu);
    k.submit({ cdb: Cdb.tur() }); // the power-on unit attention
    await kick();
    k.reap();
    const pattern = Buffer.from(Array.from({ length: 16 * BS }, (_, i) => (i * 13 + 5) & 0xff));
    k.submit({ cdb: Cdb.write10(3, 16), dataOut: pattern });
    await kick();
    assert.equal(k.reap()[0]!.status, 0);
    for (let i = 0; i < 2; i++) {
      k.submit({ cdb: Cdb.read10(3, 16), dataInLength: 16 * BS });
      await kick();
      const [r] = k.reap();
      assert.equal(r.status, 0);
      assert.deepEqual(r.dataIn, pattern);
    }
    const c = lu.describe().cache as Record<string, number>;
    assert.ok(c.hits >= 6, 'served from the cache');
    assert.equal(c.pinned, 0, 'released after the copy into the ring');
  } finally {
    await lu.close();
    await t.cleanup();
  }
});
