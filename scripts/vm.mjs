#!/usr/bin/env node
// node scripts/vm.mjs [--timeout SECONDS] SCRIPT [SHARE_DIR]
// Boots the test VM (kernel/vm/vm.mjs), runs SCRIPT (bash, cwd = the repository) in it with
// RESULTS=SHARE_DIR (writable, same path in the guest; default a new /tmp dir) and exits with the
// script's status (125 when the guest reported none). Console output streams to stdout.
import { mkdtempSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildInitramfs, prepareKernel, runVm } from '../kernel/vm/vm.mjs';

const args = process.argv.slice(2);
let timeout = 600;
if (args[0] === '--timeout') {
  timeout = Number(args[1]);
  args.splice(0, 2);
}
if (args.length < 1) {
  console.error('usage: node scripts/vm.mjs [--timeout SECONDS] SCRIPT [SHARE_DIR]');
  process.exit(2);
}
const repo = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const share = resolve(args[1] ?? mkdtempSync('/tmp/fileio-vm-'));
const kernel = prepareKernel({ log: (m) => console.error(`[vm] ${m}`) });
const initramfs = `${share}/initramfs.cpio`;
buildInitramfs(kernel, initramfs);
console.error(`[vm] ${kernel.kver}, share ${share}`);
const r = await runVm({
  kernel, initramfs, script: resolve(args[0]), share, cwd: repo, timeoutMs: timeout * 1000,
  env: { RESULTS: share, REPO: repo }, onOutput: (s) => process.stdout.write(s),
});
console.error(`[vm] guest rc ${r.rc} (qemu status ${r.status}${r.timedOut ? ', TIMED OUT' : ''}) in ${r.seconds.toFixed(1)} s`);
process.exit(r.rc ?? 125);
