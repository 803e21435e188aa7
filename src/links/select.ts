// Chooses the link that carries SCSI commands to our devices: the embedded iSCSI target, or LIO's
// target_core_user (tcmu). scst_user explains what is missing instead of failing obscurely.
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import type { LinkName } from '../host/config.ts';
import { StartupError } from '../host/errors.ts';

export interface LinkProbe {
  /** target_core_user is loaded (LIO's userspace backstore). */
  tcmu: boolean;
  /** /dev/scst_user exists (SCST's userspace handler interface). */
  scstUser: boolean;
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
    root: process.getuid?.() === 0,
  };
}

export interface LinkChoice {
  link: 'iscsi' | 'tcmu';
  /** Why auto did not pick a kernel link, when one was present. */
  note?: string;
}

export function chooseLink(requested: LinkName, probe: LinkProbe): LinkChoice {
  const root = probe.root ?? true;
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
      throw new StartupError('--link scst_user is not available in this version yet (/dev/scst_user exists); use --link iscsi or --link tcmu');
    case 'auto': {
      const notes: string[] = [];
      if (probe.scstUser) notes.push('kernel link scst_user detected but not available in this version yet');
      if (probe.tcmu && root) {
        return notes.length ? { link: 'tcmu', note: `${notes.join('; ')}; using tcmu` } : { link: 'tcmu' };
      }
      if (probe.tcmu) notes.push('target_core_user is loaded but tcmu needs root');
      return notes.length ? { link: 'iscsi', note: `${notes.join('; ')}; using the embedded iSCSI target` } : { link: 'iscsi' };
    }
  }
}
