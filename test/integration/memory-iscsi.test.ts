// Item 7 of the adversarial run, on the real CLI: connect-login-I/O-close cycles, floods of
// 200 connections that never log in and bursts of 50 sessions doing 1 MiB I/O. After a full GC
// (a heap snapshot, taken on a signal) nothing of a closed connection or session is alive, the
// JavaScript heap is where it was, and RSS stays within the buffer pools' budget: the RSS the
// adversarial run saw rise is idle pooled I/O buffers (readBuffers/writeBuffers keep up to
// 64 MiB each), not connections.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestInitiator } from '../helpers/iscsi-initiator.ts';
import { cdb10 } from '../helpers/scsi-harness.ts';
import { floodConnections } from '../helpers/iscsi-flood.ts';
import { heapCounts, ISCSI_CONNECTION_OBJECTS, type HeapCounts } from '../helpers/heap-snapshot.ts';
import { startTarget, type RunningTarget } from '../helpers/target-process.ts';

const MiB = 1 << 20;
const CYCLES = 600;
/** Two pools of 64 MiB idle buffers at most (src/backing/buffer-pool.ts), and malloc's slack. */
const RSS_GROWTH_BOUND = 2 * 64 * MiB + 32 * MiB;
const JS_HEAP_GROWTH_BOUND = 8 * MiB;

describe('memory of the real target over many sessions (item 7)', () => {
  let dir: string;
  let target: RunningTarget;
  let port: number;
  let iqn: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-mem-'));
    const img = join(dir, 'disk.img');
    await writeFile(img, '');
    await truncate(img, 64 * MiB);
    target = await startTarget(['disk1', img], 1, 20_000, { flags: ['--heapsnapshot-signal=SIGWINCH'], cwd: dir });
    const m = /^iscsi:\/\/127\.0\.0\.1:(\d+)\/(.+)\/0$/.exec(target.served[0]!.url)!;
    port = Number(m[1]);
    iqn = m[2]!;
  });

  after(async () => {
    await target?.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${target.proc.pid}/status`, 'utf8'))![1]) * 1024;

  /** A heap snapshot of the target (it runs a full GC first), read once completely written, then removed. */
  async function snapshot(): Promise<HeapCounts> {
    target.proc.kill('SIGWINCH');
    for (let i = 0; i < 1200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const files = (await readdir(dir)).filter((f) => f.endsWith('.heapsnapshot'));
      if (files.length === 0) continue; // each one is removed once read
      const file = join(dir, files[0]!);
      const size = (await stat(file)).size;
      if (size < 2) continue;
      const text = await readFile(file, 'utf8');
      if (!text.endsWith(']}')) continue;
      await rm(file);
      return heapCounts(text, ISCSI_CONNECTION_OBJECTS);
    }
    throw new Error('no heap snapshot within 120 s');
  }

  async function cycle(i: number, kb: number): Promise<void> {
    const ini = await TestInitiator.connect(port, (i % 200) + 1);
    try {
      const r = await ini.login([['InitiatorName', `iqn.2026-11.test:m${i % 50}`], ['TargetName', iqn], ['InitialR2T', 'No'], ['ImmediateData', 'Yes'], ['MaxRecvDataSegmentLength', '262144']]);
      assert.equal(r.status, 0, 'login');
      const lba = (i * 2048) % (60 * 2048);
      const n = kb * 2;
      // WRITE: the first 64 KiB immediate, the rest when the target asks (R2T)
      const itt = ini.itt();
      ini.send({ opcode: 0x01, flags: 0xa0, itt, w20: kb * 1024, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x2a, lba, n) }, Buffer.alloc(Math.min(kb, 64) * 1024, i & 0xff));
      for (;;) {
        const p = await ini.recv(10_000);
        const op = p.bhs[0]! & 0x3f;
        if (op !== 0x31) break; // the SCSI Response (a unit attention is as good as GOOD here)
        const off = p.bhs.readUInt32BE(40);
        const len = p.bhs.readUInt32BE(44);
        for (let o = 0, sn = 0; o < len; o += 65536, sn++) {
          const last = o + 65536 >= len;
          ini.send({ opcode: 0x05, flags: last ? 0x80 : 0, itt, w20: p.bhs.readUInt32BE(20), w36: sn, w40: off + o }, Buffer.alloc(Math.min(65536, len - o), 1));
        }
      }
      ini.send({ opcode: 0x01, flags: 0xc0, itt: ini.itt(), w20: kb * 1024, w24: ini.cmdSN++, w28: ini.expStatSN, cdb: cdb10(0x28, lba, n) });
      for (;;) {
        const p = await ini.recv(10_000);
        if ((p.bhs[0]! & 0x3f) === 0x21 || p.bhs[1]! & 0x01) break;
      }
      if (i % 2) {
        ini.send({ opcode: 0x06, immediate: true, flags: 0x80, itt: ini.itt(), w24: ini.cmdSN, w28: ini.expStatSN });
        await ini.recv(10_000);
      }
    } finally {
      ini.close();
      await ini.closedPromise;
    }
  }
  const flood = (n: number) => floodConnections(port, n);
  const burst = (i0: number) => Promise.all(Array.from({ length: 50 }, (_, j) => cycle(i0 + j, 1024)));
  const SIZES = [4, 64, 256, 1024];

  test(`item 7: ${CYCLES} connect-login-I/O-close cycles, 200-connection floods and 50-session bursts leave no connection behind, heap and RSS bounded`, async (t) => {
    for (let i = 0; i < 100; i++) await cycle(i, SIZES[i % 4]!);
    await flood(200);
    await burst(0);
    const heap0 = await snapshot();
    const rss0 = rss();
    for (let i = 0; i < CYCLES; i++) {
      await cycle(i, SIZES[i % 4]!);
      if (i % 300 === 299) {
        await flood(200);
        await burst(i);
      }
    }
    const heap1 = await snapshot();
    const rss1 = rss();
    const fmt = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
    const figures = `RSS ${fmt(rss0)} -> ${fmt(rss1)}; JS heap ${fmt(heap0.totalBytes - heap0.arrayBufferBytes)} -> ${fmt(heap1.totalBytes - heap1.arrayBufferBytes)}; ArrayBuffer contents ${fmt(heap0.arrayBufferBytes)} -> ${fmt(heap1.arrayBufferBytes)}`;
    for (const [name, n] of heap1.objects) assert.equal(n, 0, `${name} objects alive after the sessions closed (${figures})`);
    const js0 = heap0.totalBytes - heap0.arrayBufferBytes;
    const js1 = heap1.totalBytes - heap1.arrayBufferBytes;
    assert.ok(js1 - js0 < JS_HEAP_GROWTH_BOUND, `JS heap grew: ${figures}`);
    assert.ok(heap1.arrayBufferBytes < 2 * 64 * MiB + 16 * MiB, `buffers beyond the pools' budget: ${figures}`);
    assert.ok(rss1 - rss0 < RSS_GROWTH_BOUND, `RSS grew: ${figures}`);
    t.diagnostic(figures);
  });
});
