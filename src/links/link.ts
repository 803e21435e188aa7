// The Link contract: how SCSI commands reach our logical units. The host creates the units,
// hands them to one link, prints what the link says it serves, and closes the link before the
// units (so in-flight commands finish or fail first).
import type { LogicalUnit } from '../scsi/command.ts';
import type { Portal, TargetConfig } from '../host/config.ts';
import type { Logger } from '../host/log.ts';

/** One LUN as a link serves it: where an initiator (or the local system) finds it. */
export interface LinkLun {
  device: string;
  target: string;
  lun: number;
  /** iscsi://host:port/iqn/lun, or the local device node (/dev/sdX) for tcmu's local export. */
  url: string;
  /** Link-specific facts for the status line (uio device, backstore path, ...). */
  link?: Record<string, unknown>;
}

export interface LinkTarget {
  readonly iqn: string;
  readonly alias?: string;
  /** LUN number -> unit. */
  readonly luns: ReadonlyMap<number, LogicalUnit>;
}

export interface LinkContext {
  readonly targets: readonly LinkTarget[];
  readonly portal: Portal;
  readonly log: Logger;
}

export interface Link {
  /** 'iscsi' (embedded target) or 'tcmu' (LIO target_core_user). */
  readonly name: string;
  /** Starts serving; resolves with every LUN served. Rejects (and cleans up) on failure. */
  start(): Promise<LinkLun[]>;
  stats(): Record<string, unknown>;
  /**
   * Optional: serves one more LUN on a running target (a new image in a folder of ISOs). Rejects
   * when the target is unknown or the LUN taken. A link without it cannot grow at run time.
   */
  addLun?(target: string, lun: number, lu: LogicalUnit): Promise<LinkLun>;
  /** Finishes or fails in-flight commands and removes what the link created. Idempotent. */
  close(timeoutMs: number): Promise<void>;
}

export type { TargetConfig };
