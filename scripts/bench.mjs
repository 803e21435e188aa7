#!/usr/bin/env node
// `npm run bench`: install tgt and libiscsi-dev when missing, build the load generator, run bench/run.ts;
// then the TCMU part (bench/tcmu.ts: ours vs tcmu-runner in one VM; needs the VM packages and fio).
// `npm run bench -- --iscsi-only` or `-- --tcmu-only` runs one part; `-- --iscsi-only --cache`
// compares our page cache off and on (buffered and O_DIRECT) instead of ours against tgt.
// `-- --scst-only` runs only the SCST part (bench/scst.ts: our scst_user link vs SCST's C
// fileio_tgt on the real SCST in one VM); it is not in the default run because it builds SCST
// from the source tarball beside the repository (kernel/vm/scst.mjs), which only some machines have.
import { $, cd } from 'zx';
import { fileURLToPath } from 'node:url';
import { ensurePackages } from './system-deps.mjs';
import { VM_PACKAGES } from '../kernel/vm/vm.mjs';

$.verbose = false;
cd(fileURLToPath(new URL('..', import.meta.url)));
const scst = process.argv.includes('--scst-only');
const iscsi = !scst && !process.argv.includes('--tcmu-only');
const tcmu = !scst && !process.argv.includes('--iscsi-only');
await ensurePackages({
  ...(iscsi ? { tgt: '/usr/sbin/tgtd', 'libiscsi-dev': '/usr/include/iscsi/iscsi.h', gcc: '/usr/bin/gcc', iperf3: '/usr/bin/iperf3' } : {}),
  ...(tcmu ? { ...VM_PACKAGES, fio: '/usr/bin/fio' } : {}),
  // the guest runs the host's fio, sg_vpd and sg_inq over 9p
  ...(scst ? { ...VM_PACKAGES, fio: '/usr/bin/fio', 'sg3-utils': '/usr/bin/sg_vpd' } : {}),
});
await $({ stdio: 'inherit' })`npx tsc -p .`;
let code = 0;
if (iscsi) {
  await $`mkdir -p dist/bench`;
  await $`gcc -O2 -Wall -o dist/bench/iscsi-load bench/iscsi-load.c -liscsi`;
  const script = process.argv.includes('--cache') ? 'dist/bench/cache.js' : 'dist/bench/run.js';
  const run = await $({ stdio: 'inherit', nothrow: true })`node --enable-source-maps ${script}`;
  code = run.exitCode ?? 1;
}
if (tcmu) {
  const run = await $({ stdio: 'inherit', nothrow: true })`node --enable-source-maps dist/bench/tcmu.js`;
  code = code || (run.exitCode ?? 1);
}
if (scst) {
  const run = await $({ stdio: 'inherit', nothrow: true })`node --enable-source-maps dist/bench/scst.js`;
  code = code || (run.exitCode ?? 1);
}
process.exit(code);
