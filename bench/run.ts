// `npm run bench`: fileio_tgt against tgt (Debian package tgt) on the same machine in the same
// run, on identical page-cached files and null devices, four workloads interleaved A B A B.
// Prints IOPS, MiB/s, p50/p99 latency, target CPU (% of one core) and the ratio ours/tgt.
// Results are reported, never asserted.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTgt } from '../test/helpers/tgt-process.ts';
import { benchImage, cells, loadAll, LOAD, loopbackCeiling, median, ROUNDS, SECONDS, SEQREAD_CEILING_GOAL, startOurs, WORKLOADS, type Sample, type Target } from './load.ts';

async function startTgtLun(name: string, backing: string, nullio: boolean): Promise<Target> {
  const t = await startTgt({ name, backing, bstype: nullio ? 'null' : undefined });
  return { name: 'tgt', ...t };
}

/** Two null targets on one portal, for the multi-core comparison (ours spreads targets over threads). */
async function startTgtPair(): Promise<Target> {
  const t = await startTgt([
    { name: 'n1', backing: '/dev/null', bstype: 'null' },
    { name: 'n2', backing: '/dev/null', bstype: 'null' },
  ]);
  return { name: 'tgt', ...t };
}

async function main() {
  if (!existsSync(LOAD)) throw new Error(`${LOAD} is missing: run through npm run bench`);
  const dir = await mkdtemp(join(tmpdir(), 'fileio-bench-'));
  const fileA = join(dir, 'ours.img');
  const fileB = join(dir, 'tgt.img');
  // identical for both targets
  for (const f of [fileA, fileB]) await benchImage(f);
  // Two targets, one initiator session each at the same time (2null): what a second core brings.
  const setups = [
    { lun: 'file', ours: () => startOurs('file', ['bench', fileA]), tgt: () => startTgtLun('file', fileB, false), workloads: WORKLOADS },
    { lun: 'null', ours: () => startOurs('null', ['--type', 'nullio', 'null', '1T']), tgt: () => startTgtLun('null', '/dev/null', true), workloads: WORKLOADS },
    { lun: '2null', ours: () => startOurs('pair', ['--type', 'nullio', 'n1', '1T', 'n2', '1T'], 2), tgt: startTgtPair, workloads: WORKLOADS.filter((x) => x.bytes === 4096) },
  ];
  const rows: string[] = [];
  const seqread: Array<{ lun: string; mibps: number }> = [];
  for (const s of setups) {
    const ours = await s.ours();
    const tgt = await s.tgt();
    try {
      for (const w of s.workloads) {
        const a: Sample[] = [];
        const b: Sample[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          a.push(await loadAll(ours.urls, w, ours.pid));
          b.push(await loadAll(tgt.urls, w, tgt.pid));
        }
        const ratio = median(a.map((x) => x.iops)) / median(b.map((x) => x.iops));
        if (w.kind === 'seqread') seqread.push({ lun: s.lun, mibps: median(a.map((x) => x.mibps)) });
        const goal = ratio >= w.goal ? 'met' : `${((ratio / w.goal) * 100).toFixed(0)}% of it`;
        rows.push(`${s.lun.padEnd(5)} ${w.name.padEnd(18)} | ${cells(a)} | ${cells(b)} | ${ratio.toFixed(2).padStart(5)}x | ${`${w.goal}x`.padStart(3)}: ${goal}`);
        console.error(rows[rows.length - 1]);
      }
    } finally {
      await ours.stop();
      await tgt.stop();
    }
  }
  const ceiling = await loopbackCeiling();
  await rm(dir, { recursive: true, force: true });
  console.log(`\nfileio_tgt vs tgt, ${SECONDS}s x ${ROUNDS} interleaved rounds, medians (CPU = target process, cli = load generator, % of one core)`);
  console.log('2null: two null targets, one session each at once (IOPS and MiB/s added up; ours serves them on two threads)');
  console.log(`${'lun'.padEnd(5)} ${'workload'.padEnd(18)} |    IOPS  MiB/s    p50    p99   CPU   cli |    IOPS  MiB/s    p50    p99   CPU   cli | ours/tgt | goal`);
  console.log(`${''.padEnd(24)} | ${'fileio_tgt'.padEnd(41)} | ${'tgt'.padEnd(41)} |`);
  for (const r of rows) console.log(r);
  console.log(`\nloopback TCP ceiling (${ceiling.how}): ${ceiling.mibps.toFixed(0)} MiB/s`);
  for (const r of seqread) {
    const share = r.mibps / ceiling.mibps;
    console.log(`${r.lun} 1m seqread: ${r.mibps.toFixed(0)} MiB/s = ${(share * 100).toFixed(0)}% of it (goal ${SEQREAD_CEILING_GOAL * 100}%: ${share >= SEQREAD_CEILING_GOAL ? 'met' : 'not met'})`);
  }
}

await main();
