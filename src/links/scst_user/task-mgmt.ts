// Task management as scst_user delivers it. The kernel never aborts a command user space holds:
// it fails the ones not yet handed over itself, sends TASK_MGMT_RECEIVED so we make the affected
// in-flight commands finish early (their AbortSignals), waits until all of them are answered,
// then sends TASK_MGMT_DONE, after which the logical unit performs the function itself (a LUN
// reset restores mode pages and raises unit attentions) and we reply the TM status.
import { TM_FN, TM_STATUS } from '../../ffi/scst-user-abi.ts';
import type { TaskManagementFunction } from '../../scsi/command.ts';

/** Which in-flight commands a function aborts (with one task set for the LU: TST = 0). */
export type AbortScope =
  | { readonly kind: 'task'; readonly cmdH: number }
  | { readonly kind: 'session' }
  | { readonly kind: 'all' }
  | { readonly kind: 'none' };

export function abortScope(fn: number, cmdHToAbort: number): AbortScope {
  switch (fn) {
    case TM_FN.SCST_ABORT_TASK:
      return { kind: 'task', cmdH: cmdHToAbort };
    case TM_FN.SCST_ABORT_TASK_SET: // the task set's tasks from this I_T nexus (SAM-5 §7.3)
    case TM_FN.SCST_NEXUS_LOSS_SESS:
    case TM_FN.SCST_ABORT_ALL_TASKS_SESS:
    case TM_FN.SCST_UNREG_SESS_TM:
      return { kind: 'session' };
    case TM_FN.SCST_CLEAR_TASK_SET:
    case TM_FN.SCST_LUN_RESET:
    case TM_FN.SCST_TARGET_RESET:
    case TM_FN.SCST_NEXUS_LOSS:
    case TM_FN.SCST_ABORT_ALL_TASKS:
      return { kind: 'all' };
    default:
      // CLEAR ACA aborts nothing; PR_ABORT_ALL concerns the preempted nexuses, which only the
      // kernel knows: their commands finish normally and the kernel discards the results.
      return { kind: 'none' };
  }
}

/** What the logical unit itself does at TASK_MGMT_DONE, if anything. */
export function luFunction(fn: number): TaskManagementFunction | undefined {
  switch (fn) {
    case TM_FN.SCST_ABORT_TASK_SET:
      return 'abort-task-set';
    case TM_FN.SCST_CLEAR_TASK_SET:
      return 'clear-task-set';
    case TM_FN.SCST_CLEAR_ACA:
      return 'clear-aca';
    case TM_FN.SCST_LUN_RESET:
      return 'lun-reset';
    case TM_FN.SCST_TARGET_RESET:
      return 'target-warm-reset';
    default:
      return undefined;
  }
}

const KNOWN = new Set<number>(Object.values(TM_FN));

/** The TASK_MGMT_DONE reply status for a function once the LU is done with it. */
export function doneStatus(fn: number, failed: boolean): number {
  if (!KNOWN.has(fn)) return TM_STATUS.SCST_MGMT_STATUS_FN_NOT_SUPPORTED;
  return failed ? TM_STATUS.SCST_MGMT_STATUS_FAILED : TM_STATUS.SCST_MGMT_STATUS_SUCCESS;
}

export function tmName(fn: number): string {
  return Object.entries(TM_FN).find(([, v]) => v === fn)?.[0].replace(/^SCST_/, '') ?? `fn ${fn}`;
}
