// The host side of a VM run (kernel/vm/vm.mjs): the repository root, booting one guest script
// with the share and environment every guest script gets, and the "STEP <name> <ok|fail>
// <seconds> <detail>" lines guest scripts print (kernel/vm/guest-lib.sh), asserted one by one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface VmResult {
  rc: number | null;
  status: number | null;
  output: string;
  seconds: number;
  timedOut: boolean;
}
export interface Kernel {
  kver: string;
  seconds: number;
}
export interface VmModule {
  prepareKernel(o?: { log?: (m: string) => void }): Kernel;
  prepareDebs(set: string, packages: string[], o?: { log?: (m: string) => void }): { root: string; seconds: number };
  buildInitramfs(kernel: Kernel, out: string): { size: number };
  runVm(o: Record<string, unknown>): Promise<VmResult>;
}

function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) d = dirname(d);
  return d;
}

export const REPO = repoRoot();

export async function loadVm(): Promise<VmModule> {
  return (await import(join(REPO, 'kernel/vm/vm.mjs'))) as VmModule;
}

/** Boots the kernel with `<share>/initramfs.cpio` and runs `script` (relative to the repo) in the guest. */
export function runGuest(vm: VmModule, kernel: Kernel, o: { script: string; share: string; timeoutMs: number; env: Record<string, string> }): Promise<VmResult> {
  return vm.runVm({
    kernel,
    initramfs: join(o.share, 'initramfs.cpio'),
    script: join(REPO, o.script),
    share: o.share,
    cwd: REPO,
    timeoutMs: o.timeoutMs,
    env: o.env,
    onOutput: process.env.FILEIO_VM_VERBOSE ? (s: string) => process.stderr.write(s) : undefined,
  });
}

export interface GuestStep {
  ok: boolean;
  at: number;
  detail: string;
}

/** One guest script run of a VM test: its result and its STEP lines. */
export class GuestRun {
  readonly kernel: Kernel;
  readonly result: VmResult;
  readonly steps = new Map<string, GuestStep>();

  constructor(kernel: Kernel, result: VmResult) {
    this.kernel = kernel;
    this.result = result;
    for (const line of result.output.split('\n')) {
      const m = /^STEP (\S+) (ok|fail) ([\d.]+) ?(.*)$/.exec(line);
      if (m) this.steps.set(m[1]!, { ok: m[2] === 'ok', at: Number(m[3]), detail: m[4]! });
    }
  }

  /** Asserts that the guest step ran and succeeded. */
  step(name: string): void {
    const { result } = this;
    const s = this.steps.get(name);
    if (!s) assert.fail(`guest step ${name} did not run (guest rc ${result.rc}${result.timedOut ? ', timed out' : ''}); console tail:\n${result.output.slice(-4000)}`);
    assert.ok(s.ok, `guest step ${name} failed: ${s.detail}\nconsole tail:\n${result.output.slice(-6000)}`);
  }
}

/** kernel/vm/scst.mjs's answer: the folder with the stock SCST modules built for the VM's kernel. */
export interface ScstBuild {
  dir: string;
  seconds: number;
  built: boolean;
}

/**
 * Builds (about two minutes, once) or finds in the cache the stock SCST for the VM's kernel and
 * returns the guest environment naming it: SCST_DIR, on the host root the guest sees over 9p.
 */
export async function scstForGuest(label: string): Promise<{ SCST_DIR: string }> {
  const vm = await loadVm();
  const kernel = vm.prepareKernel({ log: (m) => process.stderr.write(`[vm] ${m}\n`) });
  const { prepareScst } = (await import(join(REPO, 'kernel/vm/scst.mjs'))) as { prepareScst(k: Kernel, o: { log: (m: string) => void }): ScstBuild };
  const scst = prepareScst(kernel, { log: (m) => process.stderr.write(`[scst] ${m}\n`) });
  process.stderr.write(`# ${label} VM: SCST ${scst.built ? 'built' : 'found in the cache'} in ${scst.seconds.toFixed(1)} s: ${scst.dir}\n`);
  return { SCST_DIR: scst.dir };
}

/**
 * A VM test's boot: the kernel, an initramfs in `share`, then `script` with RESULTS = share,
 * REPO and `env` (values without blanks: they travel on the kernel command line) in its
 * environment. `onKernel` runs once the kernel is ready.
 */
export async function bootGuest(o: { script: string; share: string; timeoutMs: number; env?: Record<string, string>; onKernel?: (k: Kernel) => void }): Promise<GuestRun> {
  const vm = await loadVm();
  const kernel = vm.prepareKernel({ log: (m) => process.stderr.write(`[vm] ${m}\n`) });
  o.onKernel?.(kernel);
  vm.buildInitramfs(kernel, join(o.share, 'initramfs.cpio'));
  const result = await runGuest(vm, kernel, { script: o.script, share: o.share, timeoutMs: o.timeoutMs, env: { ...o.env, RESULTS: o.share, REPO } });
  return new GuestRun(kernel, result);
}

/**
 * One VM boot for the enclosing describe(): `prepare` fills a fresh share folder (and may return
 * more environment for the guest script), then the guest script runs; the share is removed
 * afterwards (kept with FILEIO_VM_KEEP=1). Registers the test that the script ran to the end;
 * each guest step is then one `step(name)` assertion.
 */
export function guestSuite(o: { label: string; script: string; prepare?: (share: string) => void | Record<string, string> | Promise<void | Record<string, string>>; timeoutMs?: number }): {
  step(name: string): void;
  readonly guest: GuestRun;
  readonly share: string;
} {
  let share = '';
  let guest: GuestRun | undefined;
  before(async () => {
    share = mkdtempSync(`/tmp/fileio-vm-${o.label.replace(/\W+/g, '-')}-`);
    const env = (await o.prepare?.(share)) || undefined;
    guest = await bootGuest({
      script: o.script,
      share,
      env,
      timeoutMs: o.timeoutMs ?? 10 * 60_000,
      onKernel: (k) => process.stderr.write(`# ${o.label} VM: kernel ${k.kver} ready in ${k.seconds.toFixed(1)} s\n`),
    });
    const up = /init: up ([\d.]+)s/.exec(guest.result.output)?.[1];
    process.stderr.write(`# ${o.label} VM: guest /init at ${up ?? '?'} s of uptime; qemu exited after ${guest.result.seconds.toFixed(1)} s wall (rc ${guest.result.rc})\n`);
  });
  after(() => {
    if (share && !process.env.FILEIO_VM_KEEP) rmSync(share, { recursive: true, force: true });
  });
  const suite = {
    step: (name: string) => {
      assert.ok(guest, 'the VM did not boot');
      guest.step(name);
    },
    get guest() {
      assert.ok(guest, 'the VM did not boot');
      return guest;
    },
    get share() {
      return share;
    },
  };
  test('the guest script ran to the end', () => {
    assert.equal(suite.guest.result.timedOut, false, 'VM timed out');
    suite.step('done');
  });
  return suite;
}
