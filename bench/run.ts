// `npm run bench`: fileio_tgt against tgt (Debian package tgt) on the same machine in the same
// run, on identical page-cached files and null devices, four workloads interleaved A B A B.
// Prints IOPS, MiB/s, p50/p99 latency, target CPU (% of one core) and the ratio ours/tgt.
// Results are reported, never asserted.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTarget } from '../test/helpers/target-process.ts';
import { startTgt } from '../test/helpers/tgt-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOAD = join(ROOT, 'dist/bench/iscsi-load');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const FILE_BYTES = 1 << 30;

const WORKLOADS = [
  { name: '4k randread QD32', kind: 'randread', bytes: 4096, qd: 32 },
  { name: '4k randwrite QD32', kind: 'randwrite', bytes: 4096, qd: 32 },
  { name: '1m seqread QD8', kind: 'seqread', bytes: 1 << 20, qd: 8 },
  { name: '1m seqwrite QD8', kind: 'seqwrite', bytes: 1 << 20, qd: 8 },
] as const;

interface Sample {
  iops: number;
  mibps: number;
  p50_us: number;
  p99_us: number;
  cpu: number;
}

interface Target {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (USER_HZ = 100)
}

function load(url: string, w: (typeof WORKLOADS)[number], pid: number): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const before = cpuTicks(pid);
    const started = Date.now();
    const p = spawn(LOAD, [url, w.kind, String(w.bytes), String(w.qd), String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`iscsi-load ${w.kind} against ${url} exited ${code}`));
      const r = JSON.parse(out) as Sample;
      r.cpu = ((cpuTicks(pid) - before) / 100 / ((Date.now() - started) / 1000)) * 100;
      resolve(r);
    });
  });
}

async function startOurs(name: string, args: string[]): Promise<Target> {
  const t = await startTarget(args);
  return { name, url: t.served[0].url, pid: t.proc.pid!, stop: async () => void (await t.stop('SIGTERM')) };
}

async function startTgtLun(name: string, backing: string, nullio: boolean): Promise<Target> {
  const t = await startTgt({ name, backing, bstype: nullio ? 'null' : undefined });
  return { name: 'tgt', ...t };
}

/** Raw loopback TCP throughput with 1 MiB writes, for context. */
async function loopbackCeiling(): Promise<number> {
  const total = 4 * 2 ** 30;
  const server = createServer((s) => s.resume());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const chunk = Buffer.alloc(1 << 20);
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    const c = connect(port, '127.0.0.1', () => {
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!c.write(chunk)) return void c.once('drain', pump);
        }
        c.end(resolve);
      };
      pump();
    });
  });
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  server.close();
  return total / secs / (1 << 20);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (!existsSync(LOAD)) throw new Error(`${LOAD} is missing: run through npm run bench`);
  const dir = await mkdtemp(join(tmpdir(), 'fileio-bench-'));
  const fileA = join(dir, 'ours.img');
  const fileB = join(dir, 'tgt.img');
  // Pre-filled (not sparse) and page-cached, identical for both targets.
  for (const f of [fileA, fileB]) await writeFile(f, Buffer.alloc(FILE_BYTES, 0x42));
  const setups = [
    { lun: 'file', ours: () => startOurs('file', ['bench', fileA]), tgt: () => startTgtLun('file', fileB, false) },
    { lun: 'null', ours: () => startOurs('null', ['--type', 'nullio', 'null', '1T']), tgt: () => startTgtLun('null', '/dev/null', true) },
  ];
  const rows: string[] = [];
  for (const s of setups) {
    const ours = await s.ours();
    const tgt = await s.tgt();
    try {
      for (const w of WORKLOADS) {
        const a: Sample[] = [];
        const b: Sample[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          a.push(await load(ours.url, w, ours.pid));
          b.push(await load(tgt.url, w, tgt.pid));
        }
        const m = (xs: Sample[], k: keyof Sample) => median(xs.map((x) => x[k]));
        const fmt = (xs: Sample[]) =>
          `${m(xs, 'iops').toFixed(0).padStart(7)} ${m(xs, 'mibps').toFixed(0).padStart(6)} ${m(xs, 'p50_us').toFixed(0).padStart(6)} ${m(xs, 'p99_us').toFixed(0).padStart(6)} ${m(xs, 'cpu').toFixed(0).padStart(4)}%`;
        const ratio = m(a, 'iops') / m(b, 'iops');
        rows.push(`${s.lun.padEnd(5)} ${w.name.padEnd(18)} | ${fmt(a)} | ${fmt(b)} | ${ratio.toFixed(2).padStart(5)}x`);
        console.error(rows[rows.length - 1]);
      }
    } finally {
      await ours.stop();
      await tgt.stop();
    }
  }
  const ceiling = await loopbackCeiling();
  await rm(dir, { recursive: true, force: true });
  console.log(`\nfileio_tgt vs tgt, ${SECONDS}s x ${ROUNDS} interleaved rounds, medians (CPU = target process, % of one core)`);
  console.log(`${'lun'.padEnd(5)} ${'workload'.padEnd(18)} |    IOPS  MiB/s    p50    p99   CPU |    IOPS  MiB/s    p50    p99   CPU | ours/tgt`);
  console.log(`${''.padEnd(24)} | ${'fileio_tgt'.padEnd(35)} | ${'tgt'.padEnd(35)} |`);
  for (const r of rows) console.log(r);
  console.log(`\nloopback TCP ceiling (one Node stream, 1 MiB writes): ${ceiling.toFixed(0)} MiB/s`);
}

await main();
