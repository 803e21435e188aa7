// The Link contract: how SCSI commands reach our logical units. The host creates the units,
// hands them to one link, prints what the link says it serves, and closes the link before the
// units (so in-flight commands finish or fail first).
import type { LogicalUnit } from '../scsi/command.ts';
import type { Portal, TargetConfig } from '../host/config.ts';
import type { Logger } from '../host/log.ts';
import type { Acls, ChapCredentials } from '../host/acl.ts';

/** One LUN as a link serves it: where an initiator (or the local system) finds it. */
export interface LinkLun {
  device: string;
  target: string;
  lun: number;
  /** iscsi://host:port/iqn/lun, or the local device node (/dev/sdX) for tcmu's local export. */
  url: string;
  /** Link-specific facts for the status line (uio device, backstore path, ...). */
  link?: Record<string, unknown>;
  /** The ACL entry (initiator name or pattern) whose own LUN map this is; absent: the target's map. */
  acl?: string;
}

/** One ACL entry's own LUN map (initiators it admits see these LUNs instead of the target's). */
export interface LinkView {
  readonly acl: string;
  readonly luns: ReadonlyMap<number, LogicalUnit>;
  readonly readOnly: ReadonlySet<number>;
}

export interface LinkTarget {
  readonly iqn: string;
  readonly alias?: string;
  /** LUN number -> unit. */
  readonly luns: ReadonlyMap<number, LogicalUnit>;
  /** LUNs of `luns` mapped read-only. */
  readonly readOnly?: ReadonlySet<number>;
  /** Who may log in, with which CHAP (absent: anyone). */
  readonly acls?: Acls | undefined;
  readonly chap?: ChapCredentials | undefined;
  /** ACL entries with LUN maps of their own. */
  readonly views?: readonly LinkView[];
}

export interface LinkContext {
  readonly targets: readonly LinkTarget[];
  readonly portal: Portal;
  readonly log: Logger;
  /** CHAP for discovery sessions (links that answer discovery). */
  readonly discoveryChap?: ChapCredentials | undefined;
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
  /**
   * Optional: new access rules for its targets (a reloaded config). New logins follow them; live
   * sessions they no longer admit are closed. Resolves with one line per closed session.
   */
  updateAccess?(targets: readonly LinkTarget[], discoveryChap: ChapCredentials | undefined): Promise<string[]>;
  /** Finishes or fails in-flight commands and removes what the link created. Idempotent. */
  close(timeoutMs: number): Promise<void>;
}

export type { TargetConfig };
