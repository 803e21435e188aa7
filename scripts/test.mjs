#!/usr/bin/env node
// `npm test`: install what the real-peer suites need, build, then run unit tests and the
// integration suites (libiscsi tools and qemu's iSCSI driver against the real CLI) in one run,
// then the VM suite (test/vm: the tcmu link against Debian's kernel under qemu, one boot).
// FILEIO_SKIP_VM=1 skips the VM suite (and its packages); it is never skipped silently.
import { $, cd } from 'zx';
import { fileURLToPath } from 'node:url';
import { ensurePackages, TEST_PACKAGES, VM_TEST_PACKAGES } from './system-deps.mjs';

$.verbose = false;
cd(fileURLToPath(new URL('..', import.meta.url)));
const vm = process.env.FILEIO_SKIP_VM !== '1';
await ensurePackages(vm ? { ...TEST_PACKAGES, ...VM_TEST_PACKAGES } : TEST_PACKAGES);
await $({ stdio: 'inherit' })`npx tsc -p .`;
const run = await $({ stdio: 'inherit', nothrow: true })`node --enable-source-maps --test --test-timeout=300000 dist/test/unit/ dist/test/integration/`;
let code = run.exitCode ?? 1;
if (vm) {
  const t0 = Date.now();
  const v = await $({ stdio: 'inherit', nothrow: true })`node --enable-source-maps --test --test-timeout=1200000 dist/test/vm/`;
  console.log(`# VM suite: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if ((v.exitCode ?? 1) !== 0) code = code || v.exitCode || 1;
} else {
  console.log('# VM suite skipped (FILEIO_SKIP_VM=1)');
}
process.exit(code);
