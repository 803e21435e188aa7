// The transport-neutral contract between links (iscsi, tcmu, scst_user) and the SCSI core.
// A link turns its wire format into ScsiCommand, hands it to a ScsiTarget (or straight to a
// LogicalUnit when the kernel already routes by LUN) and turns the ScsiResponse back.
import type { DataIn } from './data-in.ts';
import type { UnitAttentions } from './unit-attention.ts';

/** One I_T nexus: an initiator port talking to a target port (SAM-5 §4.7). */
export interface Nexus {
  /** Unique for the life of the process; also the key for per-nexus state (UAs, PR). */
  readonly id: string;
  /** Initiator port name, e.g. "iqn.1993-08.org.debian:01:abc,i,0x23d000000001". */
  readonly initiatorPort: string;
  /** Target port name, e.g. "iqn.2026-11.org.fileio-tgt:disk1,t,0x0001". */
  readonly targetPort: string;
  /** Relative target port identifier (VPD 83h, RTPG); 1-based. */
  readonly relativeTargetPort: number;
  /** SPC TransportID of the initiator port (for PERSISTENT RESERVE IN READ FULL STATUS). */
  readonly transportId: Buffer;
}

export type TaskAttribute = 'untagged' | 'simple' | 'ordered' | 'head-of-queue' | 'aca';

export interface ScsiCommand {
  /** The CDB, exactly as long as the transport delivered it (6..260 bytes). */
  readonly cdb: Buffer;
  readonly nexus: Nexus;
  /** LUN as a flat number (SAM-5 peripheral/flat addressing decoded by the link). */
  readonly lun: number;
  /** The transport's tag, for logs and ABORT TASK. */
  readonly tag: number;
  readonly attribute: TaskAttribute;
  /**
   * Bytes the initiator expects to move (iSCSI ExpectedDataTransferLength, TCMU iov total).
   * Data-in longer than this is truncated by the link, which reports the residual.
   */
  readonly expectedLength: number;
  /** All write data, when the command carries data-out; may be shorter than the CDB asks. */
  readonly dataOut?: Buffer;
  /** Aborted by task management (ABORT TASK, LUN RESET, ...) or by nexus loss. */
  readonly signal?: AbortSignal;
  /**
   * The initiator reaches this LU through a read-only mapping (an ACL's readOnly): every
   * medium-modifying command fails with DATA PROTECT / WRITE PROTECTED, MODE SENSE shows WP.
   */
  readonly writeProtected?: boolean;
  /**
   * For EXTENDED COPY through a target port: which logical units (by NAA designator, VPD 83h)
   * this nexus may name as copy sources ('read-only') or also destinations ('read-write'). Absent:
   * every LU of the process that takes part in copies (kernel links route by LU themselves).
   */
  readonly copyScope?: (naa: Buffer) => 'read-write' | 'read-only' | undefined;
}

export interface ScsiResponse {
  /** SAM status: see Status in constants.ts. */
  status: number;
  /**
   * Data-in (may be longer than expectedLength; the link truncates and reports overflow). Pinned
   * cache pages (PinnedData) must be released by the link once sent, or when it drops the response.
   */
  data?: DataIn;
  /** Sense data for CHECK CONDITION, fixed or descriptor format as the LU is configured. */
  sense?: Buffer;
  /**
   * Bytes of data-out the CDB called for, when the command takes data-out: the link reports the
   * residual of the initiator's expected length against it (even for CHECK CONDITION).
   */
  dataOutLength?: number;
}

/** Task management functions a link can ask for (SAM-5 §7). */
export type TaskManagementFunction =
  | 'abort-task-set'
  | 'clear-task-set'
  | 'clear-aca'
  | 'lun-reset'
  | 'target-warm-reset'
  | 'target-cold-reset';

/**
 * One logical unit: a device handler instance. Handlers implement this; links call it.
 * Implementations never throw for anything an initiator sends: bad CDBs become CHECK CONDITION.
 */
export interface LogicalUnit {
  /** Device name from the command line or config (e.g. "disk1"). */
  readonly name: string;
  /** Handler type name from handlers.json (e.g. "disk"). */
  readonly type: string;
  /** SPC peripheral device type (0 disk, 1 tape, 5 cdrom, 8 changer). */
  readonly peripheralType: number;
  execute(cmd: ScsiCommand): Promise<ScsiResponse>;
  /** Task management that concerns this LU (the link aborts its own in-flight tasks first). */
  taskManagement(fn: TaskManagementFunction, nexus: Nexus): Promise<void>;
  /** An I_T nexus went away (session closed or dropped): drop its state; it sees 29/07 if it returns. */
  nexusLost(nexus: Nexus): void;
  /** Status for the CLI's status line (size, block size, counters). */
  describe(): Record<string, unknown>;
  /**
   * Optional: the LU's unit attention queues, for links whose kernel core keeps UAs itself
   * (scst_user hands it the ones it owns and clears what it fans out).
   */
  readonly ua?: Pick<UnitAttentions, 'delegate' | 'clearOthers'>;
  /**
   * Optional: calls `listener` after the capacity READ CAPACITY reports changed (a resized
   * backing file), for links that must tell their kernel (scst_user DEVICE_CAPACITY_CHANGED).
   * Returns the function that unsubscribes.
   */
  onCapacityChanged?(listener: () => void): () => void;
  /**
   * Optional: re-read the backing size; resolves true when the capacity changed (then as above).
   * A smaller size is refused (rejects) unless `allowShrink`.
   */
  resize?(o?: ResizeOptions): Promise<boolean>;
  /** Make every acknowledged write durable (used at shutdown and by timers). */
  flush(): Promise<void>;
  /** Flush and release the backing store. */
  close(): Promise<void>;
}

/** How a resize treats a backing store that became smaller (initiators may lose data past its end). */
export interface ResizeOptions {
  readonly allowShrink?: boolean;
}

/** Outcome of a task management function, in transport-neutral terms. */
export type TaskManagementOutcome = 'complete' | 'no-such-lun' | 'not-supported' | 'rejected';

/**
 * A SCSI target device as a link sees it: a set of LUNs addressed by number. The embedded
 * iSCSI link talks to this; kernel links (tcmu, scst_user) call a LogicalUnit directly because
 * the kernel answers REPORT LUNS itself.
 */
export interface ScsiTargetPort {
  /** Routes by cmd.lun; answers REPORT LUNS and commands to absent LUNs itself. */
  execute(cmd: ScsiCommand): Promise<ScsiResponse>;
  /** LUN-scoped functions use lun; target-scoped ones (warm/cold reset) ignore it. */
  taskManagement(fn: TaskManagementFunction, nexus: Nexus, lun: number): Promise<TaskManagementOutcome>;
  nexusLost(nexus: Nexus): void;
  hasLun(lun: number): boolean;
  /**
   * Optional, for targets that show initiators different views of the same units: the unit at a
   * LUN and all units, so task management reaches the same unit under another LUN number.
   */
  unitAt?(lun: number): LogicalUnit | undefined;
  units?(): Iterable<LogicalUnit>;
}
