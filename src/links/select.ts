// Chooses the link that carries SCSI commands to our devices. Only the embedded iSCSI target is
// implemented so far; the kernel links explain what is missing instead of failing obscurely.
import { existsSync } from 'node:fs';
import type { LinkName } from '../host/config.ts';
import { StartupError } from '../host/errors.ts';

export interface LinkProbe {
  /** target_core_user is loaded (LIO's userspace backstore). */
  tcmu: boolean;
  /** /dev/scst_user exists (SCST's userspace handler interface). */
  scstUser: boolean;
}

export function probeKernel(): LinkProbe {
  return {
    tcmu: existsSync('/sys/module/target_core_user'),
    scstUser: existsSync('/dev/scst_user'),
  };
}

export interface LinkChoice {
  link: 'iscsi';
  /** Why auto did not pick a kernel link, when one was present. */
  note?: string;
}

export function chooseLink(requested: LinkName, probe: LinkProbe): LinkChoice {
  switch (requested) {
    case 'iscsi':
      return { link: 'iscsi' };
    case 'tcmu':
      if (!probe.tcmu) {
        throw new StartupError('--link tcmu needs the target_core_user kernel module, which is not loaded (modprobe target_core_user, with configfs mounted at /sys/kernel/config)');
      }
      throw new StartupError('--link tcmu is not available in this version yet (target_core_user is loaded); use --link iscsi');
    case 'scst_user':
      if (!probe.scstUser) {
        throw new StartupError("--link scst_user needs SCST's scst_user kernel module: /dev/scst_user does not exist (modprobe scst_user)");
      }
      throw new StartupError('--link scst_user is not available in this version yet (/dev/scst_user exists); use --link iscsi');
    case 'auto': {
      const present = [probe.scstUser && 'scst_user', probe.tcmu && 'tcmu'].filter(Boolean);
      return present.length === 0
        ? { link: 'iscsi' }
        : { link: 'iscsi', note: `kernel link ${present.join(' and ')} detected but not available in this version yet; using the embedded iSCSI target` };
    }
  }
}
