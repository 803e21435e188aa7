#!/usr/bin/env node
// `npm test`: install what the real-peer suites need, build, then run unit tests and the
// integration suites (libiscsi tools and qemu's iSCSI driver against the real CLI) in one run.
import { $, cd } from 'zx';
import { fileURLToPath } from 'node:url';
import { ensurePackages } from './system-deps.mjs';

$.verbose = false;
cd(fileURLToPath(new URL('..', import.meta.url)));
await ensurePackages();
await $({ stdio: 'inherit' })`npx tsc -p .`;
const run = await $({ stdio: 'inherit', nothrow: true })`node --enable-source-maps --test --test-timeout=300000 dist/test/unit/ dist/test/integration/`;
process.exit(run.exitCode ?? 1);
