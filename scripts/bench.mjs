#!/usr/bin/env node
// `npm run bench`: install tgt and libiscsi-dev when missing, build the load generator, run bench/run.ts.
import { $, cd } from 'zx';
import { fileURLToPath } from 'node:url';
import { ensurePackages } from './system-deps.mjs';

$.verbose = false;
cd(fileURLToPath(new URL('..', import.meta.url)));
await ensurePackages({ tgt: '/usr/sbin/tgtd', 'libiscsi-dev': '/usr/include/iscsi/iscsi.h', gcc: '/usr/bin/gcc' });
await $({ stdio: 'inherit' })`npx tsc -p .`;
await $`mkdir -p dist/bench`;
await $`gcc -O2 -Wall -o dist/bench/iscsi-load bench/iscsi-load.c -liscsi`;
const run = await $({ stdio: 'inherit', nothrow: true })`node --enable-source-maps dist/bench/run.js`;
process.exit(run.exitCode ?? 1);
