// The TCMU part of `npm run bench`: one VM boot (kernel/vm: Debian's kernel under qemu TCG) runs
// bench/tcmu-guest.sh, which serves two LUNs through LIO target_core_user + tcm_loop on the same
// kernel — ours (fileio_tgt --link tcmu) and Debian's tcmu-runner (qcow handler on a raw image,
// the package has no plain file handler) — and drives the same workloads against both,
// interleaved A B A B: 64 MiB sequential write (verified) and read with dd bs=1M O_DIRECT, 4 KiB
// random read and write with fio (libaio, iodepth 1 and 32). Prints MiB/s or IOPS per round, the
// ratio ours / tcmu-runner, boot time and total VM time. Results are reported, never asserted,
// except that a failed data verification, a failed workload or a dead target makes the exit
// status non-zero (a fast-but-wrong result must not look like a win).
//
// Environment: TCMU_BENCH_ROUNDS (2), TCMU_BENCH_FIO_SECONDS (4 per fio run, after a 1 s ramp),
// TCMU_BENCH_WARMUP_SECONDS (15 of random I/O per LUN before the rounds, not measured),
// TCMU_BENCH_SIZE_MB (128, image size), TCMU_BENCH_ONLY=ours|runner, FILEIO_VM_VERBOSE=1 (stream
// the guest console), FILEIO_VM_KEEP=1 (keep the share with bench.tsv and the fio JSON files).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO, loadVm, runGuest } from '../test/helpers/vm-guest.ts';

/** tcmu-runner and the libraries Debian's host may lack; unpacked into the VM cache, never installed. */
export const RUNNER_PACKAGES = ['tcmu-runner', 'libtcmu2', 'libnl-genl-3-200', 'libnl-3-200'];

const TARGETS = ['ours', 'runner'] as const;
type TargetName = (typeof TARGETS)[number];
const LABEL: Record<TargetName, string> = { ours: 'fileio_tgt', runner: 'tcmu-runner' };
const WORKLOADS = [
  { key: 'seqwrite', name: '64 MiB seq write, dd 1M O_DIRECT', unit: 'MiB/s' },
  { key: 'seqread', name: '64 MiB seq read, dd 1M O_DIRECT', unit: 'MiB/s' },
  { key: 'randread-qd1', name: '4k randread QD1 (fio libaio)', unit: 'IOPS' },
  { key: 'randread-qd32', name: '4k randread QD32', unit: 'IOPS' },
  { key: 'randwrite-qd1', name: '4k randwrite QD1', unit: 'IOPS' },
  { key: 'randwrite-qd32', name: '4k randwrite QD32', unit: 'IOPS' },
] as const;

interface Sample {
  round: number;
  value: number;
  p50_us?: number;
  p99_us?: number;
  verified?: boolean;
  error?: string;
}

interface FioJob {
  error: number;
  read: { iops: number; lat_ns?: { percentile?: Record<string, number> }; clat_ns?: { percentile?: Record<string, number> } };
  write: { iops: number; lat_ns?: { percentile?: Record<string, number> }; clat_ns?: { percentile?: Record<string, number> } };
}

function parseFio(file: string, rw: string): Omit<Sample, 'round'> {
  const text = readFileSync(file, 'utf8');
  // fio may print notes before the JSON object
  const job = (JSON.parse(text.slice(text.indexOf('{'))) as { jobs: FioJob[] }).jobs[0];
  const side = rw.startsWith('randread') ? job.read : job.write;
  // total latency (submission + completion) when fio reports its percentiles, else completion latency
  const pct = side.lat_ns?.percentile ?? side.clat_ns?.percentile ?? {};
  return {
    value: side.iops,
    p50_us: pct['50.000000'] !== undefined ? pct['50.000000'] / 1000 : undefined,
    p99_us: pct['99.000000'] !== undefined ? pct['99.000000'] / 1000 : undefined,
    error: job.error ? `fio error ${job.error}` : undefined,
  };
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const fmt = (v: number, unit: string) => (Number.isFinite(v) ? (unit === 'IOPS' ? Math.round(v).toString() : v.toFixed(1)) : '–');
function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i])).join(' | ')} |`;
  return [line(rows[0]), `| ${w.map((n) => '-'.repeat(n)).join(' | ')} |`, ...rows.slice(1).map(line)].join('\n');
}

export async function runTcmuBench(): Promise<number> {
  const vm = await loadVm();
  const rounds = Number(process.env.TCMU_BENCH_ROUNDS ?? 2);
  const fioSecs = Number(process.env.TCMU_BENCH_FIO_SECONDS ?? 4);
  const sizeMb = Number(process.env.TCMU_BENCH_SIZE_MB ?? 128);
  const log = (m: string) => process.stderr.write(`[tcmu-bench] ${m}\n`);

  const kernel = vm.prepareKernel({ log });
  const runner = vm.prepareDebs('tcmu-runner', RUNNER_PACKAGES, { log });
  const share = mkdtempSync('/tmp/fileio-tcmubench-');
  vm.buildInitramfs(kernel, join(share, 'initramfs.cpio'));
  const loadBefore = loadavg();
  log(`kernel ${kernel.kver}, tcmu-runner tree ${runner.root}, ${rounds} rounds, fio ${fioSecs} s, share ${share}, host load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
  const warmupSecs = Number(process.env.TCMU_BENCH_WARMUP_SECONDS ?? 15);
  const env: Record<string, string> = { RESULTS: share, REPO, RUNNER_ROOT: runner.root, ROUNDS: String(rounds), FIO_SECS: String(fioSecs), SIZE_MB: String(sizeMb), WARMUP_SECS: String(warmupSecs) };
  if (process.env.TCMU_BENCH_ONLY) env.ONLY = process.env.TCMU_BENCH_ONLY;
  const r = await runGuest(vm, kernel, { script: 'bench/tcmu-guest.sh', share, timeoutMs: 20 * 60_000, env });
  const loadAfter = loadavg();

  const problems: string[] = [];
  if (r.timedOut) problems.push('VM timed out');
  if (r.rc !== 0) problems.push(`guest script exited ${r.rc} (qemu status ${r.status})`);
  const meta = new Map<string, string>();
  const samples = new Map<string, Sample[]>(); // `${target} ${workload}`
  const tsv = join(share, 'bench.tsv');
  const lines = existsSync(tsv) ? readFileSync(tsv, 'utf8').split('\n').filter(Boolean) : [];
  for (const line of lines) {
    const f = line.split('\t');
    const add = (t: string, w: string, s: Sample) => {
      const k = `${t} ${w}`;
      samples.set(k, [...(samples.get(k) ?? []), s]);
      if (s.error) problems.push(`${LABEL[t as TargetName] ?? t} ${w} round ${s.round}: ${s.error}`);
      if (s.verified === false) problems.push(`${LABEL[t as TargetName] ?? t} ${w} round ${s.round}: DATA VERIFICATION FAILED`);
    };
    if (f[0] === 'meta') meta.set(f[1], f.slice(2).join(' '));
    else if (f[0] === 'error') problems.push(`${f[1]}: ${f.slice(2).join(' ')}`);
    else if (f[0] === 'dd') {
      const [, t, round, w, secs, bytes, verify, detail] = f;
      add(t, w, {
        round: Number(round),
        value: Number(bytes) / 2 ** 20 / Number(secs),
        verified: verify === '-' ? undefined : verify === 'ok',
        error: detail && detail !== '-' && verify !== 'fail' ? detail : undefined,
      });
    } else if (f[0] === 'fio') {
      const [, t, round, w, file, rc] = f;
      try {
        const s = parseFio(join(share, file), w);
        add(t, w, { round: Number(round), ...s, error: s.error ?? (rc !== '0' ? `fio exited ${rc}` : undefined) });
      } catch (e) {
        const err = existsSync(join(share, `${file}.err`)) ? readFileSync(join(share, `${file}.err`), 'utf8').trim().slice(0, 300) : '';
        add(t, w, { round: Number(round), value: NaN, error: `fio rc ${rc}: ${(e as Error).message} ${err}` });
      }
    }
  }
  if (lines.length === 0) problems.push('the guest wrote no results');

  const rows: string[][] = [['workload', 'unit', `${LABEL.ours} (per round)`, `${LABEL.runner} (per round)`, 'mean ours', 'mean runner', 'ratio ours/runner']];
  const summary: Record<string, unknown>[] = [];
  for (const w of WORKLOADS) {
    const o = samples.get(`ours ${w.key}`) ?? [];
    const b = samples.get(`runner ${w.key}`) ?? [];
    const mo = mean(o.map((s) => s.value));
    const mb = mean(b.map((s) => s.value));
    const bad = [...o, ...b].some((s) => s.verified === false);
    const per = (xs: Sample[]) => xs.map((s) => fmt(s.value, w.unit) + (s.verified === false ? ' (WRONG DATA)' : s.verified ? ' ✓' : '')).join(' / ') || '–';
    const ratio = bad ? 'invalid (verification failed)' : Number.isFinite(mo / mb) ? `${(mo / mb).toFixed(2)}x` : '–';
    rows.push([w.name, w.unit, per(o), per(b), fmt(mo, w.unit), fmt(mb, w.unit), ratio]);
    summary.push({ workload: w.key, unit: w.unit, ours: o, runner: b, meanOurs: mo, meanRunner: mb, ratio: bad ? null : mo / mb });
  }
  const lat: string[][] = [['fio workload', `${LABEL.ours} p50 / p99 µs`, `${LABEL.runner} p50 / p99 µs`]];
  for (const w of WORKLOADS.filter((x) => x.unit === 'IOPS')) {
    const cell = (xs: Sample[]) => xs.map((s) => `${s.p50_us?.toFixed(0) ?? '?'} / ${s.p99_us?.toFixed(0) ?? '?'}`).join(', ') || '–';
    lat.push([w.name, cell(samples.get(`ours ${w.key}`) ?? []), cell(samples.get(`runner ${w.key}`) ?? [])]);
  }

  const initUp = /init: up ([\d.]+)s/.exec(r.output)?.[1];
  const startUp = meta.get('script_start_uptime');
  const setupUp = meta.get('setup_done_uptime');
  const doneUp = meta.get('bench_done_uptime');
  console.log('');
  console.log(`## TCMU: ${LABEL.ours} vs ${LABEL.runner} (${meta.get('runner_version') ?? '?'}, qcow handler on a raw image), one VM, same kernel, interleaved A B`);
  console.log(`kernel ${meta.get('kernel') ?? kernel.kver}, ${meta.get('guest_cpus') ?? '?'} guest vCPU (qemu TCG), ${sizeMb} MiB images on guest tmpfs, hw_max_sectors/max_data_area_mb: ours ${meta.get('ours_attr') ?? '?'}, runner ${meta.get('runner_attr') ?? '?'}; devices ours ${meta.get('ours_dev') ?? '?'}, runner ${meta.get('runner_dev') ?? '?'}`);
  console.log(`${rounds} rounds after a ${meta.get('warmup_secs') ?? '?'} s random read/write warm-up of each LUN; fio ${fioSecs} s per run after a 1 s ramp; ✓ = the 64 MiB written read back identical through the LUN (O_DIRECT) and in the image file`);
  console.log('');
  console.log(table(rows));
  console.log('');
  console.log(table(lat));
  console.log('');
  console.log(
    `VM: guest /init at ${initUp ?? '?'} s, bench script started at ${startUp ?? '?'} s, both LUNs up at ${setupUp ?? '?'} s, workloads done at ${doneUp ?? '?'} s of guest uptime; ` +
      `qemu wall time ${r.seconds.toFixed(1)} s (rc ${r.rc}). Host load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
  );
  writeFileSync(
    join(share, 'results.json'),
    JSON.stringify({ meta: Object.fromEntries(meta), rounds, fioSecs, sizeMb, vmSeconds: r.seconds, initUptime: initUp, loadBefore, loadAfter, workloads: summary, problems }, null, 2),
  );
  if (problems.length) {
    console.log(`\nPROBLEMS:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    console.log(`guest console tail:\n${r.output.slice(-4000)}`);
  }
  if (process.env.FILEIO_VM_KEEP || problems.length) console.log(`share kept: ${share} (bench.tsv, fio-*.json, results.json)`);
  else rmSync(share, { recursive: true, force: true });
  return problems.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runTcmuBench().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
