// `npm run conformance`: libiscsi's iscsi-test-cu against our target (or tgt, for comparison),
// one fresh target process per LUN variant. Prints passed/failed/skipped per variant, writes
// per-test TSVs to conformance-results/, and exits non-zero on any failure not listed in
// exclusions.tsv (each line: variant or *, Suite.Test, reason).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTarget } from '../helpers/target-process.ts';
import { startTgt } from '../helpers/tgt-process.ts';
import { parseCunitLog, tally, type TestResult } from './cunit-log.ts';

interface Variant {
  /** Extra fileio_tgt options. */
  ours: string[];
  /** tgtadm logicalunit parameters (--params) and --blocksize. */
  tgt: { params?: string; blocksize?: number };
  /** iscsi-test-cu -t filter. */
  filter: string;
  /** Extra iscsi-test-cu options. */
  cuArgs?: string[];
  /** Served through an ACL naming both test initiators, behind CHAP (ours only). */
  access?: boolean;
}

export const VARIANTS: Record<string, Variant> = {
  default: { ours: [], tgt: {}, filter: 'ALL' },
  thin: { ours: ['--thin'], tgt: { params: 'thin_provisioning=1' }, filter: 'ALL' },
  removable: { ours: ['--removable'], tgt: { params: 'removable=1' }, filter: 'ALL' },
  '4096': { ours: ['-b', '4096'], tgt: { blocksize: 4096 }, filter: 'ALL' },
  // thin too, so that ReadOnlySBC also checks UNMAP against write protection
  readonly: { ours: ['-r', '--thin'], tgt: { params: 'readonly=1,thin_provisioning=1' }, filter: 'ALL.ReadOnly' },
  sanitize: { ours: ['--thin'], tgt: { params: 'thin_provisioning=1' }, filter: 'ALL.Sanitize', cuArgs: ['--allow-sanitize'] },
  // the in-process page cache in write-back mode (thin, so UNMAP/WRITE SAME/GET LBA STATUS meet cached pages)
  cache: { ours: ['--thin', '--cache-size', '64M'], tgt: { params: 'thin_provisioning=1' }, filter: 'ALL' },
  // the LUN behind CHAP and an ACL: both test initiators get it at LUN 0 through their own ACL entry
  acl: { ours: [], tgt: {}, filter: 'ALL', access: true },
};

const INITIATORS = ['iqn.2026-11.test:init1', 'iqn.2026-11.test:init2'];
const CU_CHAP = { user: 'conformance', secret: 'conformance-chap-secret' };

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const IMAGE_BYTES = 1 << 30;
const SUITE_TIMEOUT_MS = 15 * 60_000;

function sh(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, out });
    });
  });
}

/** Serves `image` with our CLI; returns the LUN URL and a stop function. */
async function startOurs(v: Variant, image: string) {
  if (!v.access) {
    const t = await startTarget([...v.ours, 'conf', image]);
    return { url: t.served[0].url, stop: async () => void (await t.stop('SIGTERM')) };
  }
  const config = join(image, '..', 'acl.json');
  const acls = INITIATORS.map((initiator) => ({ initiator, luns: [{ lun: 0, device: 'conf' }] }));
  await writeFile(config, JSON.stringify({ devices: [{ name: 'conf', file: image }], targets: [{ iqn: 'iqn.2026-11.org.fileio-tgt:conf', chap: CU_CHAP, acls }] }));
  const t = await startTarget([...v.ours, '--config', config], INITIATORS.length);
  return { url: t.served[0].url.replace('iscsi://', `iscsi://${CU_CHAP.user}%${CU_CHAP.secret}@`), stop: async () => void (await t.stop('SIGTERM')) };
}

function startTgtVariant(v: Variant, image: string) {
  return startTgt({ name: 'conf', backing: image, blocksize: v.tgt.blocksize, params: v.tgt.params });
}

async function runVariant(impl: 'ours' | 'tgt', name: string, v: Variant): Promise<TestResult[]> {
  const dir = await mkdtemp(join(tmpdir(), `conformance-${name}-`));
  const image = join(dir, 'lun.img');
  await writeFile(image, '');
  await truncate(image, IMAGE_BYTES);
  if (impl === 'tgt' && v.access) return [];
  const target = impl === 'ours' ? await startOurs(v, image) : await startTgtVariant(v, image);
  try {
    const args = ['-i', INITIATORS[0]!, '-I', INITIATORS[1]!, '--dataloss', ...(v.cuArgs ?? []), '-t', v.filter, target.url, target.url];
    const r = await sh('iscsi-test-cu', args, SUITE_TIMEOUT_MS);
    await mkdir(join(ROOT, 'conformance-results'), { recursive: true });
    await writeFile(join(ROOT, 'conformance-results', `${impl}-${name}.log`), r.out);
    const results = parseCunitLog(r.out);
    await writeFile(
      join(ROOT, 'conformance-results', `${impl}-${name}.tsv`),
      ['suite\ttest\tstatus\treason', ...results.map((x) => `${x.suite}\t${x.test}\t${x.status}\t${x.reason}`)].join('\n') + '\n',
    );
    return results;
  } finally {
    await target.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function loadExclusions(): Promise<Map<string, string>> {
  const text = await readFile(join(ROOT, 'test/conformance/exclusions.tsv'), 'utf8');
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [variant, test, reason] = line.split('\t');
    if (!reason) throw new Error(`exclusions.tsv: "${line}" needs variant<TAB>Suite.Test<TAB>reason`);
    out.set(`${variant}/${test}`, reason);
  }
  return out;
}

async function main() {
  const argv = process.argv.slice(2);
  const impl = argv.includes('--tgt') ? 'tgt' : 'ours';
  const chosen = argv.filter((a) => !a.startsWith('--'));
  const names = chosen.length ? chosen : Object.keys(VARIANTS);
  for (const n of names) if (!VARIANTS[n]) throw new Error(`unknown variant ${n} (known: ${Object.keys(VARIANTS).join(', ')})`);
  const exclusions = await loadExclusions();
  const rows: string[] = [];
  let unexpected = 0;
  let passed = 0;
  let skipped = 0;
  let excusedTotal = 0;
  for (const name of names) {
    const started = Date.now();
    const results = await runVariant(impl, name, VARIANTS[name]);
    const t = tally(results);
    passed += t.passed;
    skipped += t.skipped;
    const failures = results.filter((r) => r.status === 'failed');
    const excused = failures.filter((r) => exclusions.has(`${name}/${r.suite}.${r.test}`) || exclusions.has(`*/${r.suite}.${r.test}`));
    for (const f of failures) {
      if (!excused.includes(f)) {
        unexpected++;
        console.log(`FAILED ${impl}/${name} ${f.suite}.${f.test}: ${f.reason}`);
      }
    }
    excusedTotal += excused.length;
    rows.push(`${name.padEnd(10)} ${String(t.passed).padStart(6)} ${String(t.failed).padStart(6)} ${String(t.skipped).padStart(7)} ${String(results.length).padStart(5)} ${String(excused.length).padStart(8)} ${((Date.now() - started) / 1000).toFixed(0).padStart(5)}s`);
  }
  console.log(`\niscsi-test-cu against ${impl === 'ours' ? 'fileio_tgt' : 'tgt'}`);
  console.log('variant    passed failed skipped total excluded  wall');
  for (const r of rows) console.log(r);
  // Counted by scripts/test.mjs: iscsi-test-cu tests passed, failed (not excused), skipped by the suite.
  console.log(`# conformance passed=${passed} failed=${unexpected} skipped=${skipped} excluded=${excusedTotal}`);
  process.exit(unexpected === 0 || impl === 'tgt' ? 0 : 1);
}

await main();
