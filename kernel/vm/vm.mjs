// The VM harness: boots Debian's own kernel (linux-image-amd64's real package, unpacked, never
// installed) under qemu-system-x86_64 with TCG, shares the host root read-only over virtio-9p
// (a tmpfs overlay on top makes it writable in the guest) plus one writable host directory, runs
// one script in the guest and returns its exit status and console output. Timings: README.md.
//
//   prepareKernel()  download + unpack + depmod + vmlinux extraction, cached outside the repo
//   buildInitramfs() busybox-static + the four modules 9p/overlay need, built at test time
//   runVm()          boot, run, collect; bounded by a timeout that SIGKILLs qemu
//   prepareDebs()    Debian packages unpacked into the cache for the guest (tcmu-runner for the bench)
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, rmSync, renameSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Debian package -> a file that proves it is installed (host side). */
export const VM_PACKAGES = {
  'qemu-system-x86': '/usr/bin/qemu-system-x86_64',
  'busybox-static': '/usr/share/doc/busybox-static',
  kmod: '/usr/sbin/depmod',
  'xz-utils': '/usr/bin/xz',
  // used inside the guest through the 9p share
  e2fsprogs: '/sbin/mkfs.ext4',
  'libiscsi-bin': '/usr/bin/iscsi-inq',
  'qemu-utils': '/usr/bin/qemu-img',
  'qemu-block-extra': '/usr/lib/x86_64-linux-gnu/qemu/block-iscsi.so',
};

/** Where the unpacked kernel lives: $FILEIO_TGT_VM_CACHE, else /var/cache (root) or $XDG_CACHE_HOME. */
export function cacheDir() {
  if (process.env.FILEIO_TGT_VM_CACHE) return process.env.FILEIO_TGT_VM_CACHE;
  if (process.getuid?.() === 0) return '/var/cache/fileio_tgt-vm';
  const xdg = process.env.XDG_CACHE_HOME || join(process.env.HOME || '/tmp', '.cache');
  return join(xdg, 'fileio_tgt-vm');
}

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...opts });
}

/** The real package behind linux-image-amd64 (e.g. linux-image-6.1.0-56-amd64). */
function resolveKernelPackage() {
  const parse = () => {
    try {
      const m = /Depends:\s*(linux-image-\S+)/.exec(sh('apt-cache', ['depends', 'linux-image-amd64']));
      return m?.[1];
    } catch {
      return undefined;
    }
  };
  let pkg = parse();
  if (!pkg && process.getuid?.() === 0) {
    sh('apt-get', ['update', '-qq']);
    pkg = parse();
  }
  if (!pkg) throw new Error('cannot resolve linux-image-amd64 with apt-cache (run apt-get update)');
  return pkg;
}

/**
 * Makes sure an unpacked kernel with modules.*.bin and an ELF vmlinux is in the cache.
 * Reuses whatever the cache already holds unless `refresh` is set (offline reruns work).
 * Returns { kver, root, modulesDir, vmlinux, pkg, seconds }.
 */
export function prepareKernel({ refresh = false, log = () => {} } = {}) {
  const t0 = Date.now();
  const cache = cacheDir();
  mkdirSync(cache, { recursive: true });
  const currentFile = join(cache, 'current.json');
  if (!refresh && existsSync(currentFile)) {
    const cur = JSON.parse(readFileSync(currentFile, 'utf8'));
    if (existsSync(cur.vmlinux) && existsSync(join(cur.modulesDir, 'modules.dep.bin'))) return { ...cur, seconds: (Date.now() - t0) / 1000 };
  }
  const pkg = resolveKernelPackage();
  const pkgDir = join(cache, pkg);
  const root = join(pkgDir, 'root');
  if (!existsSync(join(pkgDir, 'unpacked'))) {
    rmSync(pkgDir, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    log(`downloading ${pkg}`);
    sh('apt-get', ['download', '-q', pkg], { cwd: pkgDir });
    const deb = readdirSync(pkgDir).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${pkgDir}`);
    log(`unpacking ${deb}`);
    sh('dpkg-deb', ['-x', join(pkgDir, deb), root]);
    rmSync(join(pkgDir, deb));
    writeFileSync(join(pkgDir, 'unpacked'), '');
  }
  const kver = readdirSync(join(root, 'lib/modules'))[0];
  const modulesDir = join(root, 'lib/modules', kver);
  if (!existsSync(join(modulesDir, 'modules.dep.bin'))) {
    log(`depmod ${kver}`);
    sh('depmod', ['-b', root, kver]);
  }
  const vmlinux = join(pkgDir, 'vmlinux');
  if (!existsSync(vmlinux)) {
    log('extracting vmlinux from the XZ bzImage');
    const bz = readFileSync(join(root, 'boot', `vmlinuz-${kver}`));
    const at = bz.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
    if (at < 0) throw new Error('no XZ stream in the bzImage');
    const elf = execFileSync('xz', ['-dc', '--single-stream'], { input: bz.subarray(at), maxBuffer: 512 << 20 });
    if (elf.readUInt32BE(0) !== 0x7f454c46) throw new Error('the XZ stream in the bzImage is not an ELF vmlinux');
    writeFileSync(`${vmlinux}.tmp`, elf);
    renameSync(`${vmlinux}.tmp`, vmlinux);
  }
  const cur = { pkg, kver, root, modulesDir, vmlinux };
  writeFileSync(currentFile, JSON.stringify(cur, null, 2));
  return { ...cur, seconds: (Date.now() - t0) / 1000 };
}

/**
 * Debian packages unpacked (never installed) into the cache for use inside the guest, e.g.
 * tcmu-runner: `apt-get download` + `dpkg-deb -x` of each package into one tree under
 * `<cache>/debs-<set>/root`, cached by the package list. Returns { root, libPath, seconds }:
 * libPath is an LD_LIBRARY_PATH covering the tree's library directories.
 */
export function prepareDebs(set, packages, { refresh = false, log = () => {} } = {}) {
  const t0 = Date.now();
  if (!/^[\w.-]+$/.test(set)) throw new Error(`bad deb set name ${set}`);
  const dir = join(cacheDir(), `debs-${set}`);
  const root = join(dir, 'root');
  const marker = join(dir, 'unpacked');
  const want = [...packages].sort().join(' ');
  if (refresh || !existsSync(marker) || readFileSync(marker, 'utf8') !== want) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    log(`downloading ${want}`);
    try {
      sh('apt-get', ['download', '-q', ...packages], { cwd: dir });
    } catch (e) {
      if (process.getuid?.() !== 0) throw e;
      sh('apt-get', ['update', '-qq']);
      sh('apt-get', ['download', '-q', ...packages], { cwd: dir });
    }
    for (const deb of readdirSync(dir).filter((f) => f.endsWith('.deb'))) {
      sh('dpkg-deb', ['-x', join(dir, deb), root]);
      rmSync(join(dir, deb));
    }
    writeFileSync(marker, want);
  }
  const libPath = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu', 'usr/lib', 'lib']
    .map((d) => join(root, d))
    .filter((d) => existsSync(d))
    .join(':');
  return { root, libPath, seconds: (Date.now() - t0) / 1000 };
}

// ---- initramfs ------------------------------------------------------------------------------

/** Modules /init loads, in dependency order (resolved from modules.dep). */
const INITRAMFS_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

function moduleDeps(modulesDir) {
  const dep = new Map();
  for (const line of readFileSync(join(modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const name = m[1].split('/').pop().replace(/\.ko(\.xz|\.zst|\.gz)?$/, '').replace(/-/g, '_');
    dep.set(name, { path: m[1], deps: m[2].split(/\s+/).filter(Boolean) });
  }
  return dep;
}

function orderedModules(modulesDir, wanted) {
  const dep = moduleDeps(modulesDir);
  const byPath = new Map([...dep.values()].map((d) => [d.path, d]));
  const out = [];
  const seen = new Set();
  const visit = (path) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const d of byPath.get(path)?.deps ?? []) visit(d);
    out.push(path);
  };
  for (const w of wanted) {
    const d = dep.get(w);
    if (d) visit(d.path); // absent = built in
  }
  return out;
}

/** A newc cpio archive writer (enough for an initramfs: dirs, files, symlinks). */
class Cpio {
  parts = [];
  ino = 1;
  #hdr(name, mode, size, nlink = 1) {
    const f = (n) => n.toString(16).padStart(8, '0');
    const nameBuf = Buffer.from(`${name}\0`);
    const h = `070701${f(this.ino++)}${f(mode)}${f(0)}${f(0)}${f(nlink)}${f(0)}${f(size)}${f(0)}${f(0)}${f(0)}${f(0)}${f(nameBuf.length)}${f(0)}`;
    this.#push(Buffer.concat([Buffer.from(h), nameBuf]));
  }
  #push(b) {
    this.parts.push(b);
    const pad = (4 - (b.length % 4)) % 4;
    if (pad) this.parts.push(Buffer.alloc(pad));
  }
  dir(name) {
    this.#hdr(name, 0o40755, 0, 2);
  }
  file(name, data, mode = 0o644) {
    this.#hdr(name, 0o100000 | mode, data.length);
    this.#push(data);
  }
  symlink(name, target) {
    const t = Buffer.from(target);
    this.#hdr(name, 0o120777, t.length);
    this.#push(t);
  }
  finish() {
    this.#hdr('TRAILER!!!', 0, 0);
    return Buffer.concat(this.parts);
  }
}

function readModule(path) {
  const b = readFileSync(path);
  if (path.endsWith('.xz')) return execFileSync('xz', ['-dc'], { input: b, maxBuffer: 64 << 20 });
  if (path.endsWith('.gz')) return gunzipSync(b);
  if (path.endsWith('.zst')) return execFileSync('zstd', ['-dc'], { input: b, maxBuffer: 64 << 20 });
  return b;
}

/** Builds the initramfs (uncompressed newc cpio) into `out`; returns its size. */
export function buildInitramfs(kernel, out) {
  const busybox = '/bin/busybox';
  if (!/statically linked|static-pie/.test(sh('file', ['-L', busybox]))) {
    throw new Error(`${busybox} is not statically linked (apt-get install busybox-static)`);
  }
  const c = new Cpio();
  for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'lib', 'lib/modules', 'mods', 'lower', 'upper', 'newroot', 'etc']) c.dir(d);
  c.file('bin/busybox', readFileSync(busybox), 0o755);
  c.symlink('bin/sh', 'busybox');
  c.symlink('sbin/modprobe', '../bin/busybox');
  const mods = orderedModules(kernel.modulesDir, INITRAMFS_MODULES);
  const names = [];
  for (const [i, m] of mods.entries()) {
    const name = `${String(i).padStart(2, '0')}-${m.split('/').pop().replace(/\.(xz|gz|zst)$/, '')}`;
    c.file(`mods/${name}`, readModule(join(kernel.modulesDir, m)));
    names.push(name);
  }
  c.file('init', readFileSync(join(HERE, 'init.sh')), 0o755);
  const data = c.finish();
  writeFileSync(out, data);
  return { size: data.length, modules: names };
}

// ---- run ------------------------------------------------------------------------------------

/**
 * Boots the VM and runs `script` (a host path, executed by /bin/sh in the guest with `cwd` as
 * working directory). `share` is a host directory mounted read-write at the same path in the
 * guest. Resolves { rc, status, output, seconds, timedOut }; rc is the guest script's exit
 * status, or null when the guest never reported one (panic, timeout, qemu failure).
 */
export function runVm({ kernel, initramfs, script, share, cwd = process.cwd(), timeoutMs = 600_000, memory = '1G', env = {}, onOutput }) {
  const t0 = Date.now();
  const envArg = Object.entries(env)
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || /[\s"]/.test(String(v))) throw new Error(`env ${k}=${v} cannot pass the kernel command line`);
      return `vm.env.${k}=${v}`;
    })
    .join(' ');
  for (const [what, p] of [['script', script], ['share', share], ['cwd', cwd]]) {
    if (/[\s"]/.test(p)) throw new Error(`${what} path "${p}" must not contain blanks`);
  }
  const append = [
    'console=ttyS0 quiet loglevel=3 panic=-1 lpj=4000000 mitigations=off clocksource=tsc tsc=reliable',
    `vm.kver=${kernel.kver} vm.moddir=${kernel.modulesDir} vm.script=${resolve(script)} vm.share=${resolve(share)} vm.cwd=${resolve(cwd)}`,
    envArg,
  ].join(' ');
  const args = [
    '-nodefaults', '-no-user-config', '-display', 'none', '-machine', 'pc', '-cpu', 'max',
    '-m', memory, '-smp', '1',
    '-kernel', kernel.vmlinux, '-initrd', initramfs, '-append', append,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${resolve(share)},mount_tag=share,security_model=none,multidevs=remap`,
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    '-no-reboot', '-serial', 'stdio', '-monitor', 'none',
  ];
  return new Promise((res) => {
    const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let timedOut = false;
    const take = (d) => {
      const s = d.toString('utf8');
      output += s;
      onOutput?.(s);
    };
    q.stdout.on('data', take);
    q.stderr.on('data', take);
    const timer = setTimeout(() => {
      timedOut = true;
      q.kill('SIGKILL');
    }, timeoutMs);
    q.on('error', (e) => {
      output += `\n[harness] cannot start qemu: ${e.message}\n`;
    });
    q.on('close', (status) => {
      clearTimeout(timer);
      // isa-debug-exit: qemu exits with (value << 1) | 1; /init writes min(rc + 1, 127), so rc 126 means 126 or more.
      const rc = typeof status === 'number' && status >= 3 && status % 2 === 1 ? (status - 3) / 2 : null;
      res({ rc, status, output: output.replace(/\r\n/g, '\n'), seconds: (Date.now() - t0) / 1000, timedOut });
    });
  });
}

/** prepareKernel + buildInitramfs into `workDir`, then runVm. */
export async function bootAndRun(opts) {
  const kernel = opts.kernel ?? prepareKernel({ log: opts.log });
  const initramfs = join(opts.workDir ?? opts.share, 'initramfs.cpio');
  buildInitramfs(kernel, initramfs);
  return runVm({ ...opts, kernel, initramfs });
}

