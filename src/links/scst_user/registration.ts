// REGISTER_DEVICE: what we tell SCST about each logical unit, and the registration itself.
//
// Parse type per device type: disks use the kernel's generic SBC parser (STANDARD: a READ or
// WRITE costs one EXEC). CD/DVD drives and changers use EXCEPTION: the kernel parses what it
// knows and asks us (PARSE) only about the rest. Tapes use CALL: scst_user leaves a tape's
// block_shift at -1, so the kernel's generic tape parser mis-sizes fixed-block READ/WRITE(6)
// (scst_lib.c scst_tape_generic_parse); we size every tape command ourselves.
//
// Memory: REUSE_ALL (the kernel keeps our buffers in its SGV cache and gives them back with
// ON_CACHED_MEM_FREE) with ON_FREE_CMD ignored, the cheapest mode; or NO_REUSE, where each
// buffer belongs to one command and ON_FREE_CMD must be asked for (else they would leak).
import {
  DEV_USER_NAME,
  MEMORY_REUSE_TYPE,
  ON_FREE_CMD_TYPE,
  PARSE_TYPE,
  SCST_USER_IOCTLS,
  SIZES,
  encodeDevDesc,
  type UserOpt,
} from '../../ffi/scst-user-abi.ts';
import type { LogicalUnit } from '../../scsi/command.ts';
import { DeviceType } from '../../scsi/constants.ts';
import { errnoName } from '../../ffi/libc.ts';
import type { ControlBlock } from './control-block.ts';
import type { ScstUserPort } from './port.ts';
import type { VersionChoice } from './version-source.ts';
import { readKernelLog } from './kernel-log.ts';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';

export type MemoryReuse = 'all' | 'none';

export interface DeviceRegistration {
  readonly name: string;
  readonly type: number;
  readonly blockSize: number;
  readonly parseType: number;
  readonly memoryReuse: MemoryReuse;
}

const EINVAL = 22;
const EPERM = 1;
const EEXIST = 17;
const ENOMEM = 12;
const ENOENT = 2;

/** Where SCST keeps persistent reservation state (scst_pr_init_dev needs the directory). */
export const SCST_PR_DIR = '/var/lib/scst/pr';

export function registrationFor(lu: LogicalUnit, memoryReuse: MemoryReuse = 'all'): DeviceRegistration {
  if (Buffer.byteLength(lu.name) >= SIZES.SCST_MAX_NAME) throw new Error(`${lu.name}: SCST device names are at most ${SIZES.SCST_MAX_NAME - 1} bytes`);
  const d = lu.describe();
  const t = lu.peripheralType;
  const blockSize = t === DeviceType.CDROM ? 2048 : t === DeviceType.DISK && typeof d.blockSize === 'number' ? d.blockSize : 512;
  const parseType =
    t === DeviceType.DISK
      ? PARSE_TYPE.SCST_USER_PARSE_STANDARD
      : t === DeviceType.CDROM || t === DeviceType.CHANGER
        ? PARSE_TYPE.SCST_USER_PARSE_EXCEPTION
        : PARSE_TYPE.SCST_USER_PARSE_CALL;
  return { name: lu.name, type: t, blockSize, parseType, memoryReuse };
}

export function optionsOf(r: DeviceRegistration): UserOpt {
  const reuse = r.memoryReuse === 'all';
  return {
    parse_type: r.parseType,
    on_free_cmd_type: reuse ? ON_FREE_CMD_TYPE.SCST_USER_ON_FREE_CMD_IGNORE : ON_FREE_CMD_TYPE.SCST_USER_ON_FREE_CMD_CALL,
    memory_reuse_type: reuse ? MEMORY_REUSE_TYPE.SCST_USER_MEM_REUSE_ALL : MEMORY_REUSE_TYPE.SCST_USER_MEM_NO_REUSE,
    partial_transfers_type: 0,
    partial_len: 0,
    tst: 0, // one task set per LU, as our control mode page says
    tmf_only: 0,
    queue_alg: 1, // unrestricted reordering (QAM = 1)
    qerr: 0,
    tas: 0,
    swp: 0,
    d_sense: 0,
    has_own_order_mgmt: 0, // the SCST core keeps SAM ordering
    ext_copy_remap_supported: 0,
  };
}

export const parseTypeName = (t: number): string => (['standard', 'call', 'exception'] as const)[t] ?? String(t);

/**
 * REGISTER_DEVICE on a freshly opened fd, trying each candidate version string until the kernel
 * accepts one. Returns the string it accepted; throws with what to do otherwise.
 */
export function registerDevice(port: ScstUserPort, cb: ControlBlock, reg: DeviceRegistration, versions: VersionChoice): string {
  const tried: string[] = [];
  for (const version of versions.candidates) {
    const s = cb.putStrings(version, 'GPL');
    encodeDevDesc(cb.dv, cb.descOffset, {
      version_str: s.version,
      license_str: s.license,
      type: reg.type,
      opt: optionsOf(reg),
      block_size: reg.blockSize,
      name: reg.name,
    });
    const rc = port.ioctl(SCST_USER_IOCTLS.SCST_USER_REGISTER_DEVICE, cb.descAddress);
    if (rc >= 0) return version;
    const errno = -rc;
    if (errno === EINVAL) {
      tried.push(version);
      continue;
    }
    throw new Error(refusal(errno, reg.name, port));
  }
  const expected = lastMatch(port, new RegExp(`Incorrect version of user device ${escape(reg.name)} \\(.*\\)\\. Expected: (\\S+)`));
  // DEV_USER_VERSION is the release name followed by two sha1s in hex: the names tell them apart.
  const release = (v: string): string => v.replace(/[0-9a-f]{80}$/, '');
  const ours = tried.length === 1 ? `"${tried[0]}"` : `the versions of SCST ${tried.map(release).join(', ')}`;
  throw new Error(
    `${DEV_USER_NAME} refused device "${reg.name}": module/ABI version mismatch (EINVAL): we presented ${ours} from ${versions.origin}; ` +
      (expected
        ? `the scst_user module expects "${expected}" (SCST ${release(expected)}). If that SCST is 3.8 to 3.11, pass it with --scst-version ${expected}`
        : 'the kernel log (dmesg) names the version the module expects after "Expected:"; pass it with --scst-version') +
      ', or install the scst-dev headers matching the module',
  );
}

/** What to tell the user when the kernel refuses REGISTER_DEVICE with `errno` (not EINVAL). */
function refusal(errno: number, name: string, port: ScstUserPort): string {
  switch (errno) {
    case ENOMEM: {
      // dev_user_register_dev creates an SGV pool named after the device before it checks the
      // name, so a name in use fails there ("SGV pool NAME already exists").
      const seen = lastMatch(port, new RegExp(`SGV pool ${escape(name)} already exists`)) !== undefined;
      return `SCST refused ${name}: the name is ${seen ? '' : 'probably '}registered by another process (ENOMEM): see /sys/kernel/scst_tgt/devices/${name}; stop that process or choose another name`;
    }
    case ENOENT: {
      // scst_pr_init_dev: "PR file name FILE parent directory doesn't exist"
      const file = lastMatch(port, /PR file name (\S+) parent directory doesn't exist/);
      const dir = file !== undefined ? dirname(file) : existsSync(SCST_PR_DIR) ? undefined : SCST_PR_DIR;
      if (dir === undefined) return `SCST refused ${name} (ENOENT): see the kernel log (dmesg)`;
      return `SCST refused ${name} (ENOENT): ${dir} does not exist; SCST keeps persistent reservation state there (its "make install" creates it): mkdir -p ${dir}`;
    }
    case EEXIST:
      return `SCST already has a device named "${name}" (another fileio_tgt, or an in-kernel handler's device: see /sys/kernel/scst_tgt/devices)`;
    case EPERM:
      return `${DEV_USER_NAME} refused the license string (EPERM)`;
    default:
      return `REGISTER_DEVICE "${name}" failed: ${errnoName(errno)}`;
  }
}

/** The first capture group of the newest kernel log line matching `re`. */
function lastMatch(port: ScstUserPort, re: RegExp): string | undefined {
  const lines = port.kernelLog ? port.kernelLog() : readKernelLog();
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = re.exec(lines[i]!);
    if (m) return m[1] ?? m[0];
  }
  return undefined;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
