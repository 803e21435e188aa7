// The real SCST for the VM: builds the stock, unpatched SCST source (a `git archive` tarball,
// GPL-2.0) out of tree against the headers of the kernel the VM boots, and caches the result
// outside the repository, keyed by kernel version and tarball hash. Nothing is installed on the
// host: the guest insmods the modules from the cache over 9p.
//
//   prepareScst(kernel)  -> { dir, kver, modules: {scst, scst_user, scst_local, iscsi_scst},
//                             iscsiScstd, fileioTgt, seconds, built }
//
// Built: scst.ko and dev_handlers/scst_user.ko (make -C scst), scst_local.ko, iscsi-scst.ko with
// its iscsi-scstd daemon, and SCST's own C fileio_tgt (usr/fileio, the bench's peer). About
// 100 s on two cores; a cache hit costs nothing.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from './vm.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The tarball: $FILEIO_SCST_TARBALL, else the newest scst-*.tar.xz in ../shared/scst beside the repo. */
export function scstTarball() {
  if (process.env.FILEIO_SCST_TARBALL) return resolve(process.env.FILEIO_SCST_TARBALL);
  const dir = resolve(HERE, '../../../shared/scst');
  const found = existsSync(dir) ? readdirSync(dir).filter((f) => /^scst-.*\.tar\.xz$/.test(f)).sort() : [];
  if (found.length === 0) throw new Error(`no SCST source tarball (scst-*.tar.xz) in ${dir}; set FILEIO_SCST_TARBALL`);
  return join(dir, found[found.length - 1]);
}

/** Outputs of the build, relative to the build tree, and where they go in the cache. */
const OUTPUTS = {
  scst: ['scst/src/scst.ko', 'scst.ko'],
  scst_user: ['scst/src/dev_handlers/scst_user.ko', 'scst_user.ko'],
  scst_local: ['scst_local/scst_local.ko', 'scst_local.ko'],
  iscsi_scst: ['iscsi-scst/kernel/iscsi-scst.ko', 'iscsi-scst.ko'],
  iscsiScstd: ['iscsi-scst/usr/iscsi-scstd', 'iscsi-scstd'],
  fileioTgt: ['usr/fileio/fileio_tgt', 'fileio_tgt'],
};

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20, ...opts });
}

/** Installs linux-headers-KVER with apt-get when missing (as root), else says which package to install. */
export function ensureHeaders(kver, log = () => {}) {
  const kdir = `/usr/src/linux-headers-${kver}`;
  if (existsSync(join(kdir, 'Makefile'))) return kdir;
  const pkg = `linux-headers-${kver}`;
  if (process.getuid?.() !== 0) throw new Error(`building SCST needs the kernel headers the VM boots: apt-get install ${pkg} make gcc`);
  log(`installing ${pkg} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg, 'make', 'gcc', 'libc6-dev'], { env });
  } catch {
    run('apt-get', ['update', '-qq'], { env });
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg, 'make', 'gcc', 'libc6-dev'], { env });
  }
  if (!existsSync(join(kdir, 'Makefile'))) throw new Error(`apt-get installed ${pkg} but ${kdir} has no Makefile`);
  return kdir;
}

/**
 * Builds (or finds in the cache) SCST for `kernel` (from vm.mjs prepareKernel). Throws with the
 * failing make's last lines.
 */
export function prepareScst(kernel, { log = () => {}, tarball = scstTarball() } = {}) {
  const t0 = Date.now();
  const kver = kernel.kver;
  const hash = createHash('sha256').update(readFileSync(tarball)).digest('hex');
  const dir = join(cacheDir(), `scst-${kver}-${hash.slice(0, 16)}`);
  const result = (built) => ({
    dir,
    kver,
    tarball,
    sha256: hash,
    modules: { scst: join(dir, 'scst.ko'), scst_user: join(dir, 'scst_user.ko'), scst_local: join(dir, 'scst_local.ko'), iscsi_scst: join(dir, 'iscsi-scst.ko') },
    iscsiScstd: join(dir, 'iscsi-scstd'),
    fileioTgt: join(dir, 'fileio_tgt'),
    seconds: (Date.now() - t0) / 1000,
    built,
  });
  if (existsSync(join(dir, 'complete'))) return result(false);

  const kdir = ensureHeaders(kver, log);
  const work = `${dir}.build-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    log(`unpacking ${tarball}`);
    run('tar', ['-xJf', tarball, '-C', work, '--strip-components=1']);
    const jobs = `-j${Math.max(2, Math.min(8, (globalThis.navigator?.hardwareConcurrency ?? 2)))}`;
    const kargs = [`KDIR=${kdir}`, `KVER=${kver}`];
    const steps = [
      ['release build flags', ['2release']],
      ['scst.ko, scst_user.ko', ['-C', 'scst', ...kargs, jobs, 'all']],
      ['scst_local.ko', ['-C', 'scst_local', ...kargs, jobs]],
      ['iscsi-scst.ko, iscsi-scstd', ['-C', 'iscsi-scst', ...kargs, jobs, 'all']],
      ['usr/fileio (C fileio_tgt)', ['-C', 'usr/fileio', jobs]],
    ];
    for (const [what, args] of steps) {
      const s0 = Date.now();
      try {
        run('make', args, { cwd: work });
      } catch (e) {
        const out = `${e.stdout ?? ''}${e.stderr ?? ''}`.split('\n').slice(-30).join('\n');
        throw new Error(`building SCST (${what}) failed: make ${args.join(' ')}\n${out}`);
      }
      log(`built ${what} in ${((Date.now() - s0) / 1000).toFixed(0)} s`);
    }
    const stage = `${dir}.stage-${process.pid}`;
    rmSync(stage, { recursive: true, force: true });
    mkdirSync(stage, { recursive: true });
    for (const [from, to] of Object.values(OUTPUTS)) {
      if (!existsSync(join(work, from))) throw new Error(`building SCST left no ${from}`);
      copyFileSync(join(work, from), join(stage, to));
    }
    writeFileSync(join(stage, 'complete'), JSON.stringify({ kver, tarball, sha256: hash, seconds: (Date.now() - t0) / 1000 }, null, 2));
    rmSync(dir, { recursive: true, force: true });
    renameSync(stage, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return result(true);
}

// `node kernel/vm/scst.mjs`: build (or find) SCST for the VM's kernel and print where it is.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { prepareKernel } = await import('./vm.mjs');
  const kernel = prepareKernel({ log: (m) => console.error(`[vm] ${m}`) });
  const r = prepareScst(kernel, { log: (m) => console.error(`[scst] ${m}`) });
  console.log(JSON.stringify(r, null, 2));
}
