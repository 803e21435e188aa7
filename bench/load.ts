// Shared by the benchmarks: the libiscsi load generator (dist/bench/iscsi-load), the four
// workloads, target CPU accounting from /proc, our CLI as a benchmark target, medians and rows.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTarget } from '../test/helpers/target-process.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const LOAD = join(ROOT, 'dist/bench/iscsi-load');
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
export const FILE_BYTES = 1 << 30;

/**
 * A pre-filled (not sparse), page-cached image that is also on disk: without the fdatasync the
 * kernel writes its 1 GiB back during the first workloads, and every write of both targets then
 * competes with that flush (measured: random writes halved, for both).
 */
export async function benchImage(path: string): Promise<void> {
  await writeFile(path, Buffer.alloc(FILE_BYTES, 0x42));
  const fh = await open(path, 'r+');
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** The four workloads and the goal for each: ours/tgt at least `goal`. */
export const WORKLOADS = [
  { name: '4k randread QD32', kind: 'randread', bytes: 4096, qd: 32, goal: 3 },
  { name: '4k randwrite QD32', kind: 'randwrite', bytes: 4096, qd: 32, goal: 2 },
  { name: '1m seqread QD8', kind: 'seqread', bytes: 1 << 20, qd: 8, goal: 5 },
  { name: '1m seqwrite QD8', kind: 'seqwrite', bytes: 1 << 20, qd: 8, goal: 5 },
] as const;
/** Issue 7: sequential read at least this share of the loopback TCP ceiling. */
export const SEQREAD_CEILING_GOAL = 0.5;

export interface Sample {
  iops: number;
  mibps: number;
  p50_us: number;
  p99_us: number;
  cpu: number;
  /** The load generator's own CPU, % of one core (it shares the 2 cores with the target). */
  client_cpu: number;
}

export interface Target {
  name: string;
  url: string;
  /** Every LUN's URL (one per target in the multi-target runs). */
  urls: string[];
  pid: number;
  stop(): Promise<void>;
}

export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (USER_HZ = 100)
}

export function load(url: string, w: { kind: string; bytes: number; qd: number }, pid: number, seconds = SECONDS): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const before = cpuTicks(pid);
    const started = Date.now();
    const p = spawn(LOAD, [url, w.kind, String(w.bytes), String(w.qd), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
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

export async function startOurs(name: string, args: string[], luns = 1): Promise<Target> {
  const t = await startTarget(args, luns);
  return { name, url: t.served[0]!.url, urls: t.served.map((s) => s.url), pid: t.proc.pid!, stop: async () => void (await t.stop('SIGTERM')) };
}

/** One load generator per URL at the same time: IOPS and MiB/s added up, the worse p50/p99, the target's CPU once. */
export async function loadAll(urls: string[], w: { kind: string; bytes: number; qd: number }, pid: number, seconds = SECONDS): Promise<Sample> {
  const xs = await Promise.all(urls.map((u) => load(u, w, pid, seconds)));
  const sum = (k: keyof Sample) => xs.reduce((n, x) => n + x[k], 0);
  const max = (k: keyof Sample) => Math.max(...xs.map((x) => x[k]));
  return { iops: sum('iops'), mibps: sum('mibps'), p50_us: max('p50_us'), p99_us: max('p99_us'), cpu: max('cpu'), client_cpu: sum('client_cpu') };
}

/**
 * Raw loopback TCP throughput for context: iperf3, one stream of 1 MiB writes (the size of the
 * sequential workloads), as the ceiling was measured.
 */
export async function loopbackCeiling(seconds = 5): Promise<{ mibps: number; how: string }> {
  const port = await freePort();
  const server = spawn('iperf3', ['-s', '-1', '-B', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-l', '1M', '-J'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      c.on('error', reject);
      c.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`iperf3 exited ${code}`))));
    });
    const r = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
    return { mibps: r.end.sum_received.bits_per_second / 8 / 2 ** 20, how: `iperf3, one stream, 1 MiB writes, ${seconds} s` };
  } finally {
    server.kill();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export type Workload = (typeof WORKLOADS)[number];

/** IOPS, MiB/s, p50, p99 and CPU medians of some samples, as table cells. */
export function cells(xs: Sample[]): string {
  const m = (k: keyof Sample) => median(xs.map((x) => x[k]));
  return `${m('iops').toFixed(0).padStart(7)} ${m('mibps').toFixed(0).padStart(6)} ${m('p50_us').toFixed(0).padStart(6)} ${m('p99_us').toFixed(0).padStart(6)} ${m('cpu').toFixed(0).padStart(4)}% ${m('client_cpu').toFixed(0).padStart(4)}%`;
}
