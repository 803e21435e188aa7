// The SCST bench (`npm run bench -- --scst-only`; not in the default run, see scripts/bench.mjs):
// one VM boot (kernel/vm: Debian's kernel under qemu TCG) loads the real, stock SCST built by
// kernel/vm/scst.mjs (prepareScst: scst.ko, scst_user.ko, scst_local.ko and SCST's own C
// fileio_tgt from usr/fileio) and runs bench/scst-guest.sh, which serves two disks through
// /dev/scst_user on that one SCST core — ours (fileio_tgt --link scst_user) and the C
// fileio_tgt — each a /dev/sdX through scst_local, on same-size images in the guest's tmpfs, both
// advertising a 512 KiB OPTIMAL TRANSFER LENGTH (VPD B0h; the C handler's fixed value, given to
// ours through its config). The same fio workloads (libaio, O_DIRECT) run against both,
// interleaved A B A B: 4 KiB random read and write at QD1 and QD32, 1 MiB sequential read and
// write at QD8. Prints per workload the median IOPS and MiB/s, p50/p99 of fio's total latency
// (`lat`: submission + completion), each handler's CPU share and CPU per I/O inside fio's
// measured window (/proc/PID/stat), and the ratio ours / C in IOPS; then whether the guest's
// kernel log shows BUG/Oops/WARNING. A bench, not a test: nothing is asserted about speed. The
// exit status is non-zero only when something failed (no device, a fio error, data that did not
// read back, a kernel splat), because a fast-but-wrong result must not look like a win.
//
// Environment: BENCH_SECONDS (5, measured per fio run, after BENCH_RAMP_SECONDS = 1),
// BENCH_ROUNDS (2), SCST_BENCH_WARMUP_SECONDS (15 of 4 KiB random I/O per LUN, plus a third of it
// of 1 MiB I/O, before the rounds, not measured), SCST_BENCH_SIZE_MB (256, each image),
// SCST_BENCH_ONLY=ours|c, FILEIO_VM_VERBOSE=1 (stream the guest console), FILEIO_VM_KEEP=1 (keep
// the share with bench.tsv and the fio JSON files).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO, loadVm, type Kernel, type ScstBuild } from '../test/helpers/vm-guest.ts';
interface ScstModule {
  prepareScst(kernel: Kernel, o?: { log?: (m: string) => void }): ScstBuild;
}

const TARGETS = ['ours', 'c'] as const;
type TargetName = (typeof TARGETS)[number];
const LABEL: Record<TargetName, string> = { ours: 'fileio_tgt (ours)', c: 'SCST C fileio_tgt' };
const WORKLOADS = [
  { key: 'randread-qd1', name: '4 KiB random read QD1', side: 'read' },
  { key: 'randread-qd32', name: '4 KiB random read QD32', side: 'read' },
  { key: 'randwrite-qd1', name: '4 KiB random write QD1', side: 'write' },
  { key: 'randwrite-qd32', name: '4 KiB random write QD32', side: 'write' },
  { key: 'seqread-1m', name: '1 MiB sequential read QD8', side: 'read' },
  { key: 'seqwrite-1m', name: '1 MiB sequential write QD8', side: 'write' },
] as const;

interface Sample {
  round: number;
  iops: number;
  mibs: number;
  p50_us: number;
  p99_us: number;
  cpu_pct: number;
  idle_pct: number;
}
interface FioSide {
  iops: number;
  bw_bytes: number;
  lat_ns?: { percentile?: Record<string, number> };
}
interface FioJob {
  error: number;
  job_runtime: number;
  read: FioSide;
  write: FioSide;
}

/**
 * One fio JSON result; `lat` percentiles exist because the guest runs fio with --lat_percentiles=1.
 * Also the measured window in epoch seconds: fio stamps its report at the end of the run, and
 * job_runtime is the measured time without the ramp.
 */
function parseFio(file: string, side: 'read' | 'write'): Omit<Sample, 'round' | 'cpu_pct' | 'idle_pct'> & { window: [number, number] } {
  const text = readFileSync(file, 'utf8');
  // fio may print notes before the JSON object
  const out = JSON.parse(text.slice(text.indexOf('{'))) as { timestamp_ms: number; jobs: FioJob[] };
  const job = out.jobs[0];
  if (job.error) throw new Error(`fio error ${job.error}`);
  const s = job[side];
  const pct = s.lat_ns?.percentile;
  if (!pct) throw new Error('fio reported no total-latency percentiles');
  const end = out.timestamp_ms / 1000;
  return { iops: s.iops, mibs: s.bw_bytes / 2 ** 20, p50_us: pct['50.000000'] / 1000, p99_us: pct['99.000000'] / 1000, window: [end - job.job_runtime / 1000, end] };
}

/**
 * The handler's CPU and the vCPU's idle time, % of the one vCPU, between the first and the last
 * sample (EPOCH HANDLER_TICKS IDLE_TICKS, half a second apart) inside fio's measured window.
 */
function cpuShares(file: string, [from, to]: [number, number], clkTck: number): { cpu_pct: number; idle_pct: number } {
  const rows = readFileSync(file, 'utf8').split('\n').map((l) => l.split(' ').map(Number)).filter((r) => r.length === 3 && r.every(Number.isFinite));
  const inside = rows.filter(([t]) => t >= from && t <= to);
  if (inside.length < 2) return { cpu_pct: NaN, idle_pct: NaN };
  const [a, b] = [inside[0], inside[inside.length - 1]];
  const secs = b[0] - a[0];
  return { cpu_pct: (100 * (b[1] - a[1])) / clkTck / secs, idle_pct: (100 * (b[2] - a[2])) / clkTck / secs };
}

export function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const num = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i])).join(' | ')} |`;
  return [line(rows[0]), `| ${w.map((n) => '-'.repeat(n)).join(' | ')} |`, ...rows.slice(1).map(line)].join('\n');
}

export async function runScstBench(): Promise<number> {
  const vm = await loadVm();
  const scst = (await import(join(REPO, 'kernel/vm/scst.mjs'))) as ScstModule;
  const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
  const secs = Number(process.env.BENCH_SECONDS ?? 5);
  const ramp = Number(process.env.BENCH_RAMP_SECONDS ?? 1);
  const warmup = Number(process.env.SCST_BENCH_WARMUP_SECONDS ?? 15);
  const sizeMb = Number(process.env.SCST_BENCH_SIZE_MB ?? 256);
  for (const [k, v] of Object.entries({ rounds, secs, ramp, warmup, sizeMb })) {
    if (!Number.isInteger(v) || v < (k === 'warmup' || k === 'ramp' ? 0 : 1)) throw new Error(`bad ${k}: ${v}`);
  }
  const log = (m: string) => process.stderr.write(`[scst-bench] ${m}\n`);

  const kernel = vm.prepareKernel({ log });
  const build = scst.prepareScst(kernel, { log });
  const share = mkdtempSync('/tmp/fileio-scstbench-');
  vm.buildInitramfs(kernel, join(share, 'initramfs.cpio'));
  const loadBefore = loadavg();
  log(`kernel ${kernel.kver}, SCST ${build.dir} (${build.built ? `built in ${build.seconds.toFixed(0)} s` : 'cached'}), ${rounds} rounds, fio ${secs} s, share ${share}`);
  const env: Record<string, string> = {
    RESULTS: share, REPO, SCST_DIR: build.dir, ROUNDS: String(rounds), SECS: String(secs), RAMP: String(ramp),
    WARMUP_SECS: String(warmup), SIZE_MB: String(sizeMb),
  };
  if (process.env.SCST_BENCH_ONLY) env.ONLY = process.env.SCST_BENCH_ONLY;
  // bounded by what the guest is asked to do: set-up, warm-up, every fio run with its start-up
  // under TCG, with room for a host busy with other VMs (a node start-up alone then takes a minute)
  const timeoutMs = (360 + 4 * warmup + rounds * WORKLOADS.length * TARGETS.length * (secs + ramp + 10)) * 1000;
  const r = await vm.runVm({
    kernel, initramfs: join(share, 'initramfs.cpio'), script: join(REPO, 'bench/scst-guest.sh'), share, cwd: REPO, timeoutMs, env,
    // two 256 MiB images in the guest's tmpfs, the SGV caches of both handlers, node
    memory: '2G',
    onOutput: process.env.FILEIO_VM_VERBOSE ? (s: string) => process.stderr.write(s) : undefined,
  });
  const loadAfter = loadavg();

  const problems: string[] = [];
  if (r.timedOut) problems.push(`VM timed out after ${timeoutMs / 1000} s`);
  if (r.rc !== 0) problems.push(`guest script exited ${r.rc} (qemu status ${r.status})`);
  const meta = new Map<string, string>();
  const checks: string[] = [];
  const samples = new Map<string, Sample[]>(); // `${target} ${workload}`
  const tsv = join(share, 'bench.tsv');
  const lines = existsSync(tsv) ? readFileSync(tsv, 'utf8').split('\n').filter(Boolean) : [];
  for (const line of lines) {
    const f = line.split('\t');
    if (f[0] === 'meta') meta.set(f[1], f.slice(2).join(' '));
    else if (f[0] === 'error') problems.push(`${f[1]}: ${f.slice(2).join(' ')}`);
    else if (f[0] === 'check') {
      checks.push(`${f[1]}: ${f[2]}${f[3] && f[3] !== '-' ? ` (${f.slice(3).join(' ')})` : ''}`);
      if (f[2] !== 'ok') problems.push(`${f[1]}: ${f.slice(3).join(' ')}`);
    } else if (f[0] === 'fio') {
      const [, t, round, w, file, rc, cpuFile] = f;
      const wl = WORKLOADS.find((x) => x.key === w);
      const k = `${t} ${w}`;
      try {
        if (!wl) throw new Error(`unknown workload ${w}`);
        if (rc !== '0') throw new Error(`fio exited ${rc}`);
        const { window, ...s } = parseFio(join(share, file), wl.side);
        const cpu = cpuShares(join(share, cpuFile), window, Number(meta.get('clk_tck') ?? 100));
        samples.set(k, [...(samples.get(k) ?? []), { round: Number(round), ...s, ...cpu }]);
      } catch (e) {
        const err = existsSync(join(share, `${file}.err`)) ? readFileSync(join(share, `${file}.err`), 'utf8').trim().slice(0, 300) : '';
        problems.push(`${LABEL[t as TargetName] ?? t} ${w} round ${round}: ${(e as Error).message} ${err}`);
      }
    }
  }
  if (lines.length === 0) problems.push('the guest wrote no results');

  const get = (t: TargetName, w: string) => samples.get(`${t} ${w}`) ?? [];
  const med = (t: TargetName, w: string, f: (s: Sample) => number) => median(get(t, w).map(f));
  const rows: string[][] = [['workload', 'ours IOPS (rounds)', 'C IOPS (rounds)', 'ours MiB/s', 'C MiB/s', 'ours/C']];
  const lat: string[][] = [['workload', 'ours lat p50 / p99 µs', 'C lat p50 / p99 µs', 'ours CPU', 'C CPU', 'vCPU idle ours / C']];
  const summary: Record<string, unknown>[] = [];
  for (const w of WORKLOADS) {
    const per = (t: TargetName) => `${num(med(t, w.key, (s) => s.iops))} (${get(t, w.key).map((s) => num(s.iops)).join(' / ') || '–'})`;
    const ratio = med('ours', w.key, (s) => s.iops) / med('c', w.key, (s) => s.iops);
    rows.push([w.name, per('ours'), per('c'), num(med('ours', w.key, (s) => s.mibs), 1), num(med('c', w.key, (s) => s.mibs), 1), Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '–']);
    const l = (t: TargetName) => `${num(med(t, w.key, (s) => s.p50_us))} / ${num(med(t, w.key, (s) => s.p99_us))}`;
    // and per I/O (CPU seconds per command, in µs), which does not depend on how fast it went
    const cpu = (t: TargetName) => `${num(med(t, w.key, (s) => s.cpu_pct))} % (${num(med(t, w.key, (s) => (s.cpu_pct * 1e4) / s.iops))} µs/IO)`;
    lat.push([w.name, l('ours'), l('c'), cpu('ours'), cpu('c'), `${num(med('ours', w.key, (s) => s.idle_pct))} / ${num(med('c', w.key, (s) => s.idle_pct))} %`]);
    summary.push({ workload: w.key, ours: get('ours', w.key), c: get('c', w.key), ratio: Number.isFinite(ratio) ? ratio : null });
  }

  const initUp = /init: up ([\d.]+)s/.exec(r.output)?.[1];
  console.log('');
  console.log(`## SCST scst_user: ${LABEL.ours} vs ${LABEL.c}, one VM, one stock SCST core (${meta.get('scst_version') ?? '?'}), scst_local, interleaved A B`);
  console.log(`kernel ${meta.get('kernel') ?? kernel.kver}, ${meta.get('guest_cpus') ?? '?'} guest vCPU (qemu TCG), ${sizeMb} MiB images (every page allocated) on guest tmpfs, devices ours ${meta.get('ours_dev') ?? '?'}, C ${meta.get('c_dev') ?? '?'}; SCST source sha256 ${build.sha256.slice(0, 16)}`);
  for (const t of TARGETS) {
    console.log(`${LABEL[t]}: VPD B0h optimal transfer ${meta.get(`${t}_opt_xfer`) ?? '?'}, maximum transfer ${meta.get(`${t}_max_xfer`) ?? '?'}; sd: ${meta.get(`${t}_queue`) ?? '?'}`);
  }
  console.log(`${rounds} rounds after a ${meta.get('warmup_secs') ?? '?'} s warm-up of each LUN; fio ${secs} s per run after a ${ramp} s ramp, libaio, O_DIRECT; medians of the rounds; ratio = ours / C in IOPS`);
  console.log('');
  console.log(table(rows));
  console.log('');
  console.log(table(lat));
  console.log('');
  console.log('CPU = the handler process (all threads, user + system from /proc/PID/stat: its ioctls run SCST work in its context) within fio\'s measured window, % of the one vCPU; vCPU idle = idle + iowait of the guest in the same window.');
  console.log('Caveat: JavaScript runs under TCG emulation here (no KVM), which costs it more than C, so these ratios understate a real CPU.');
  console.log(`checks: ${checks.join('; ') || 'none ran'}`);
  const dmesg = checks.find((c) => c.startsWith('dmesg:'));
  console.log(dmesg?.startsWith('dmesg: ok') ? 'dmesg after the run: no BUG, Oops or WARNING.' : `dmesg after the run: ${dmesg ?? 'not checked (the guest did not get that far)'}`);
  console.log(
    `VM: guest /init at ${initUp ?? '?'} s, both LUNs up at ${meta.get('setup_done_uptime') ?? '?'} s, workloads done at ${meta.get('bench_done_uptime') ?? '?'} s of guest uptime; ` +
      `qemu wall time ${r.seconds.toFixed(1)} s (rc ${r.rc}). Host load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}`,
  );
  writeFileSync(join(share, 'results.json'), JSON.stringify({ meta: Object.fromEntries(meta), rounds, secs, ramp, sizeMb, vmSeconds: r.seconds, workloads: summary, checks, problems }, null, 2));
  if (problems.length) {
    console.log(`\nPROBLEMS:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    console.log(`guest console tail:\n${r.output.slice(-4000)}`);
  }
  if (process.env.FILEIO_VM_KEEP || problems.length) console.log(`share kept: ${share} (bench.tsv, fio-*.json, results.json)`);
  else rmSync(share, { recursive: true, force: true });
  return problems.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runScstBench().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
