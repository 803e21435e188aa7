// System packages the test suites need, and a check that installs them (as root) or says exactly
// what is missing. Shared by scripts/test.mjs and the conformance and bench scripts.
import { existsSync } from 'node:fs';
import { $ } from 'zx';
import { VM_PACKAGES } from '../kernel/vm/vm.mjs';

/** Debian package → a file whose presence proves it is installed. */
export const TEST_PACKAGES = {
  'libiscsi-bin': '/usr/bin/iscsi-test-cu',
  'qemu-utils': '/usr/bin/qemu-io',
  // qemu's iSCSI block driver (libiscsi initiator inside qemu-img/qemu-io).
  'qemu-block-extra': '/usr/lib/x86_64-linux-gnu/qemu/block-iscsi.so',
  // tools/iscsi-raw.c (a raw-CDB client) is built against libiscsi at test time; ISOs for the cdrom suites
  'libiscsi-dev': '/usr/include/iscsi/iscsi.h',
  gcc: '/usr/bin/gcc',
  genisoimage: '/usr/bin/genisoimage',
};

/**
 * The VM suite (test/vm): qemu, busybox-static and kmod on the host, plus the tools the guest
 * runs from the host's root over 9p (e2fsprogs, sg3-utils, iproute2, libiscsi, qemu-img).
 * The Debian kernel itself is fetched by kernel/vm/vm.mjs into its cache.
 */
export const VM_TEST_PACKAGES = {
  ...VM_PACKAGES,
  'sg3-utils': '/usr/bin/sg_raw',
  // the kernel initiator's tools (iscsid, iscsiadm) for the embedded target in the VM
  'open-iscsi': '/usr/sbin/iscsiadm',
  iproute2: '/usr/sbin/ip',
  // the tape library suite (test/vm/tape.test.ts): mt, mtx and tar against st and sg in the guest
  'mt-st': '/bin/mt-st',
  mtx: '/usr/sbin/mtx',
  tar: '/usr/bin/tar',
  // the CD/DVD suite (test/vm/cdrom.test.ts): util-linux's eject against sr in the guest
  eject: '/usr/bin/eject',
  // the scst_user disk suite (test/vm/scst.test.ts): a concurrent libaio workload with crc32c
  // verification against the /dev/sdX SCST's scst_local makes of our disk
  fio: '/usr/bin/fio',
  // ... and a device-mapper device over a loop device, suspended so that a read blocks inside
  // the LU while SCST aborts it (ABORT TASK)
  dmsetup: '/sbin/dmsetup',
  mount: '/sbin/losetup',
};

export function missingPackages(packages) {
  return Object.entries(packages).filter(([, file]) => !existsSync(file)).map(([pkg]) => pkg);
}

export async function ensurePackages(packages = TEST_PACKAGES) {
  const missing = missingPackages(packages);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(`missing system packages: ${missing.join(' ')}\ninstall them with: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`);
    process.exit(1);
  }
  console.log(`installing ${missing.join(' ')} with apt-get`);
  $.verbose = false;
  await $`apt-get update -qq`;
  await $({ env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })`apt-get install -y -qq --no-install-recommends ${missing}`;
  const still = missingPackages(packages);
  if (still.length) {
    console.error(`apt-get install finished but these are still missing: ${still.join(' ')}`);
    process.exit(1);
  }
}
