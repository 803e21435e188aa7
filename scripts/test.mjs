#!/usr/bin/env node
// `npm test`: install what the real-peer suites need, build, then run
//   1. unit tests and the integration suites (libiscsi tools and qemu's iSCSI driver against the
//      real CLI),
//   2. the VM suite (test/vm: the tcmu link against Debian's kernel under qemu, one boot),
//   3. libiscsi's iscsi-test-cu conformance suite against every disk LUN variant,
// and close with one line counting them all. FILEIO_SKIP_VM=1 skips the VM suite (and its
// packages) and says so; CI never sets it.
import { $, cd } from 'zx';
import { fileURLToPath } from 'node:url';
import { ensurePackages, TEST_PACKAGES, VM_TEST_PACKAGES } from './system-deps.mjs';

$.verbose = false;
cd(fileURLToPath(new URL('..', import.meta.url)));
const vm = process.env.FILEIO_SKIP_VM !== '1';
await ensurePackages(vm ? { ...TEST_PACKAGES, ...VM_TEST_PACKAGES } : TEST_PACKAGES);
await $({ stdio: 'inherit' })`npx tsc -p .`;
// tools/iscsi-raw: send any CDB over libiscsi (the cdrom integration suite drives it)
await $`mkdir -p dist/tools`;
await $({ stdio: 'inherit' })`gcc -O2 -Wall -o dist/tools/iscsi-raw tools/iscsi-raw.c -liscsi`;

const totals = { passed: 0, failed: 0 };
let code = 0;

/** Runs one stage with its output streamed live, and adds up the counts it reports. */
async function stage(name, args, count) {
  const t0 = Date.now();
  const p = $({ nothrow: true })`node --enable-source-maps ${args}`;
  p.stdout.on('data', (d) => process.stdout.write(d));
  p.stderr.on('data', (d) => process.stderr.write(d));
  const r = await p;
  const { passed, failed } = count(r.stdout);
  totals.passed += passed;
  totals.failed += failed;
  if (r.exitCode !== 0 && failed === 0) totals.failed++; // a stage that died without counting
  if (r.exitCode !== 0) code = code || r.exitCode || 1;
  console.log(`# ${name}: ${passed} passed, ${failed} failed, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

const tap = (out) => ({
  passed: Number(/^# pass (\d+)$/m.exec(out)?.[1] ?? 0),
  failed: Number(/^# fail (\d+)$/m.exec(out)?.[1] ?? 0),
});
const conformance = (out) => {
  const m = /^# conformance passed=(\d+) failed=(\d+)/m.exec(out);
  return { passed: Number(m?.[1] ?? 0), failed: Number(m?.[2] ?? 0) };
};

await stage('unit and integration', ['--test', '--test-timeout=300000', 'dist/test/unit/', 'dist/test/integration/'], tap);
if (vm) await stage('VM suite', ['--test', '--test-timeout=1200000', 'dist/test/vm/'], tap);
else console.log('# VM suite skipped (FILEIO_SKIP_VM=1)');
await stage('iscsi-test-cu conformance', ['dist/test/conformance/run.js'], conformance);
console.log(`total: ${totals.passed} passed, ${totals.failed} failed`);
process.exit(code);
