// Item 7 of the adversarial run: nothing of a closed connection or session stays on the heap.
// Connect-login-I/O-close cycles and floods of connections that never log in, then a heap
// snapshot after GC: no connection, session, login or task object is left, and the heap is
// back where it was (bounded cycle count, bounded heap growth).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { IscsiServer } from '../../src/links/iscsi/index.ts';
import { FakePort } from '../helpers/iscsi-fake-port.ts';
import { TestInitiator } from '../helpers/iscsi-initiator.ts';
import { cdb10 } from '../helpers/scsi-harness.ts';
import { floodConnections } from '../helpers/iscsi-flood.ts';
import { heapCounts, ISCSI_CONNECTION_OBJECTS } from '../helpers/heap-snapshot.ts';

const IQN = 'iqn.2026-11.test:disk';
const CYCLES = 400;
const FLOOD = 200;
const HEAP_GROWTH_BOUND = 4 << 20;

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Live objects per constructor name, from a heap snapshot (taken after a full GC). */
async function liveObjects(): Promise<Map<string, number>> {
  const chunks: Buffer[] = [];
  for await (const c of v8.getHeapSnapshot()) chunks.push(c as Buffer);
  return heapCounts(Buffer.concat(chunks).toString('utf8'), ISCSI_CONNECTION_OBJECTS).objects;
}

test('item 7: connect-login-close cycles and connection floods leave nothing of theirs on the heap', async () => {
  const port = new FakePort({ luns: [0], blocks: 2048 });
  const server = new IscsiServer({ host: '127.0.0.1', port: 0, targets: [{ iqn: IQN, port }], nopInterval: 0 });
  const where = await server.listen();
  const data = Buffer.alloc(4096, 0x33);

  async function cycle(i: number): Promise<void> {
    const ini = await TestInitiator.connect(where.port, (i % 200) + 1);
    const r = await ini.login([['InitiatorName', `iqn.2026-11.test:i${i % 50}`], ['TargetName', IQN], ['InitialR2T', 'No'], ['ImmediateData', 'Yes']]);
    assert.equal(r.status, 0);
    ini.send({ opcode: 0x01, flags: 0xa0, itt: ini.itt(), w20: 4096, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x2a, 0, 8) }, data);
    await ini.recv();
    ini.send({ opcode: 0x01, flags: 0xc0, itt: ini.itt(), w20: 4096, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x28, 0, 8) });
    for (;;) {
      const p = await ini.recv();
      if ((p.bhs[0]! & 0x3f) === 0x21 || p.bhs[1]! & 0x01) break;
    }
    if (i % 2) {
      ini.send({ opcode: 0x06, immediate: true, flags: 0x80, itt: ini.itt(), w24: ini.cmdSN, w28: ini.expStatSN }); // logout
      await ini.recv();
    }
    ini.close();
    await ini.closedPromise;
  }
  const flood = (n: number) => floodConnections(where.port, n);
  async function settle(): Promise<number> {
    // the fake port keeps every command it ran (tests look at them): not the link's doing
    port.commands.length = 0;
    port.lostNexus.length = 0;
    for (let i = 0; i < 20 && server.stats().connections > 0; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 100));
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  }

  try {
    for (let i = 0; i < 50; i++) await cycle(i); // warm-up: code compiled, pools made
    await flood(FLOOD);
    const before = await settle();
    for (let i = 0; i < CYCLES; i++) {
      await cycle(i);
      if (i % 200 === 199) await flood(FLOOD);
    }
    const after = await settle();
    const stats = server.stats();
    assert.equal(stats.connections, 0, 'connections left');
    assert.equal(stats.sessions, 0, 'sessions left');
    const live = await liveObjects();
    for (const [name, n] of live) assert.equal(n, 0, `${name} objects alive after ${CYCLES} closed sessions`);
    assert.ok(after - before < HEAP_GROWTH_BOUND, `heap grew by ${((after - before) / 2 ** 20).toFixed(2)} MiB over ${CYCLES} cycles`);
  } finally {
    await server.close();
  }
});
