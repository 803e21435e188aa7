// `npm run bench -- --cache`: our target with the page cache off and on, buffered and O_DIRECT,
// all in the same run on identical pre-filled 1 GiB files, the four workloads interleaved
// (every variant once per round). Prints the medians and each variant's IOPS relative to the
// first one of its group (buffered: no cache; O_DIRECT: no cache). Each target first reads its
// whole file once (BENCH_WARMUP seconds of 1 MiB sequential reads). BENCH_VARIANTS=0,1,3 picks
// variants by index. Reported, never asserted.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchImage, cells, load, LOAD, median, ROUNDS, SECONDS, startOurs, WORKLOADS, type Sample, type Target } from './load.ts';

const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 8);

const VARIANTS = [
  { name: 'buffered, no cache', group: 'buffered', args: ['--cache-size', '0'] },
  { name: 'buffered, cache 1280M', group: 'buffered', args: ['--cache-size', '1280M'] },
  { name: 'buffered, cache 256M', group: 'buffered', args: ['--cache-size', '256M'] },
  { name: 'O_DIRECT, no cache', group: 'direct', args: ['-o', '--cache-size', '0'] },
  { name: 'O_DIRECT, cache 1280M', group: 'direct', args: ['-o', '--cache-size', '1280M'] },
  { name: 'O_DIRECT, cache 256M', group: 'direct', args: ['-o', '--cache-size', '256M'] },
];

async function main() {
  if (!existsSync(LOAD)) throw new Error(`${LOAD} is missing: run through npm run bench`);
  const only = process.env.BENCH_VARIANTS?.split(',').map(Number);
  const variants = only ? VARIANTS.filter((_, i) => only.includes(i)) : VARIANTS;
  const dir = await mkdtemp(join(tmpdir(), 'fileio-bench-cache-'));
  const targets: Target[] = [];
  const rows: string[] = [];
  try {
    for (const [i, v] of variants.entries()) {
      const file = join(dir, `v${i}.img`);
      await benchImage(file);
      targets.push(await startOurs(v.name, [...v.args, `bench${i}`, file]));
    }
    // warm-up: sequential reads over the whole file fill each cache (and fault its memory in)
    for (const t of targets) await load(t.url, { kind: 'seqread', bytes: 1 << 20, qd: 8 }, t.pid, WARMUP_SECONDS);
    for (const w of WORKLOADS) {
      const samples = variants.map((): Sample[] => []);
      for (let r = 0; r < ROUNDS; r++) for (const [i, t] of targets.entries()) samples[i]!.push(await load(t.url, w, t.pid));
      const base = new Map<string, number>();
      for (const [i, v] of variants.entries()) {
        const iops = median(samples[i]!.map((x) => x.iops));
        if (!base.has(v.group)) base.set(v.group, iops);
        rows.push(`${w.name.padEnd(18)} ${v.name.padEnd(22)} | ${cells(samples[i]!)} | ${(iops / base.get(v.group)!).toFixed(2).padStart(5)}x`);
        console.error(rows[rows.length - 1]);
      }
    }
  } finally {
    for (const t of targets) await t.stop();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\nfileio_tgt page cache off/on, ${SECONDS}s x ${ROUNDS} interleaved rounds, medians (CPU = target process, % of one core)`);
  console.log(`${'workload'.padEnd(18)} ${'variant'.padEnd(22)} |    IOPS  MiB/s    p50    p99   CPU   cli | vs no cache`);
  for (const r of rows) console.log(r);
}

await main();
