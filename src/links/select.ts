// Chooses the link that carries SCSI commands to our devices: the embedded iSCSI target, LIO's
// target_core_user (tcmu) or SCST's scst_user. A kernel link that is asked for but cannot work
// explains what is missing instead of failing obscurely.
import { accessSync, constants, existsSync } from 'node:fs';
import { release } from 'node:os';
import type { LinkName } from '../host/config.ts';
import { StartupError } from '../host/errors.ts';

export interface LinkProbe {
  /** target_core_user is loaded (LIO's userspace backstore). */
  tcmu: boolean;
  /** /dev/scst_user exists (SCST's userspace handler interface). */
  scstUser: boolean;
  /** We may open /dev/scst_user read-write (root by default). Absent means: if we are root. */
  scstUserUsable?: boolean;
  /** target_core_user is not loaded but its module file exists (modprobe would load it). */
  tcmuLoadable?: boolean;
  /** We can write configfs (root). Absent means yes. */
  root?: boolean;
}

export function probeKernel(): LinkProbe {
  const dir = `/lib/modules/${release()}/kernel/drivers/target`;
  return {
    tcmu: existsSync('/sys/module/target_core_user'),
    tcmuLoadable: ['', '.xz', '.zst', '.gz'].some((x) => existsSync(`${dir}/target_core_user.ko${x}`)),
    scstUser: existsSync('/dev/scst_user'),
    scstUserUsable: canReadWrite('/dev/scst_user'),
    root: process.getuid?.() === 0,
  };
}

function canReadWrite(path: string): boolean {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export interface LinkChoice {
  link: 'iscsi' | 'tcmu' | 'scst_user';
  /** Why auto did not pick a kernel link, when one was present. */
  note?: string;
}

export function chooseLink(requested: LinkName, probe: LinkProbe): LinkChoice {
  const root = probe.root ?? true;
  const scstUsable = probe.scstUser && (probe.scstUserUsable ?? root);
  switch (requested) {
    case 'iscsi':
      return { link: 'iscsi' };
    case 'tcmu':
      if (!probe.tcmu && !(probe.tcmuLoadable && root)) {
        throw new StartupError('--link tcmu needs the target_core_user kernel module, which is not loaded (modprobe target_core_user, with configfs mounted at /sys/kernel/config)');
      }
      if (!root) throw new StartupError('--link tcmu needs root (it writes LIO configfs under /sys/kernel/config and opens /dev/uio*)');
      return { link: 'tcmu' };
    case 'scst_user':
      if (!probe.scstUser) {
        throw new StartupError("--link scst_user needs SCST's scst_user kernel module: /dev/scst_user does not exist (modprobe scst_user)");
      }
      if (!scstUsable) throw new StartupError('--link scst_user needs read and write access to /dev/scst_user (root, or a udev rule granting it)');
      return { link: 'scst_user' };
    case 'auto': {
      const notes: string[] = [];
      if (scstUsable) return { link: 'scst_user' };
      if (probe.scstUser) notes.push('/dev/scst_user exists but we cannot open it read-write (root needed)');
      if (probe.tcmu && root) {
        return notes.length ? { link: 'tcmu', note: `${notes.join('; ')}; using tcmu` } : { link: 'tcmu' };
      }
      if (probe.tcmu) notes.push('target_core_user is loaded but tcmu needs root');
      return notes.length ? { link: 'iscsi', note: `${notes.join('; ')}; using the embedded iSCSI target` } : { link: 'iscsi' };
    }
  }
}
