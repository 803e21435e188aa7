// One iSCSI session (we allow one connection per session): its I_T nexus, negotiated
// parameters, the CmdSN window and in-order delivery (RFC 7143 §4.2.2.1), and its tasks.

import type { Nexus, ScsiTargetPort } from '../../scsi/command.ts';
import { snAdd, snLess, snLessEq } from './constants.ts';
import type { SessionParams } from './keys.ts';
import type { SessionType } from './negotiation.ts';
import type { ScsiCommandPdu } from './pdu.ts';
import type { DataOutError, WriteCollector } from './write-data.ts';
import type { AccessRules } from './access.ts';
import type { ChapCredentials } from '../../host/acl.ts';

export interface TargetEntry {
  readonly iqn: string;
  readonly alias?: string | undefined;
  readonly port: ScsiTargetPort;
  /** Who may log in (absent: anyone) and with what CHAP; replaced when the config is reloaded. */
  access?: AccessRules | undefined;
  /** The LUN view of each ACL entry with a map of its own (by its initiator name or pattern); others use `port`. */
  views?: ReadonlyMap<string, ScsiTargetPort> | undefined;
}

/**
 * A SCSI task from receipt of its command until its response has been queued (or it is aborted).
 * One object per command on the hot path: the AbortController and the `done` promise are made
 * only when someone asks for them (most tasks finish without either being looked at).
 */
export class Task {
  readonly itt: number;
  readonly cmdSN: number;
  readonly immediate: boolean;
  readonly lun: number;
  readonly pdu: ScsiCommandPdu;
  readonly writer: WriteCollector | undefined;
  /** Why the command is failed without reaching the port (e.g. bidirectional), if so. */
  readonly failWith: 'bidi' | 'too-large' | undefined;
  aborted = false;
  delivered = false;
  /** A Data-Out came after the data phase had ended while the command ran: it fails with this. */
  dataPhaseError: DataOutError | undefined = undefined;
  state: 'collecting' | 'executing' | 'done' = 'collecting';
  private readonly release: () => void;
  private controller: AbortController | undefined;
  private abortReason: Error | undefined;
  private donePromise: Promise<void> | undefined;
  private resolveDone: (() => void) | undefined;

  constructor(fields: Pick<Task, 'itt' | 'cmdSN' | 'immediate' | 'lun' | 'pdu' | 'writer' | 'failWith'>, release: () => void) {
    this.itt = fields.itt;
    this.cmdSN = fields.cmdSN;
    this.immediate = fields.immediate;
    this.lun = fields.lun;
    this.pdu = fields.pdu;
    this.writer = fields.writer;
    this.failWith = fields.failWith;
    this.release = release;
  }

  /** Aborted (with the reason) when the task is aborted, also if asked for only afterwards. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Marks the task aborted and fires its signal. */
  abort(reason: Error): void {
    this.aborted = true;
    this.abortReason ??= reason;
    this.controller?.abort(reason);
  }

  /** Settles when the task is finished (response queued or dropped). */
  get done(): Promise<void> {
    if (!this.donePromise) {
      this.donePromise = this.state === 'done' ? Promise.resolve() : new Promise<void>((r) => (this.resolveDone = r));
    }
    return this.donePromise;
  }

  finish(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.release();
    this.resolveDone?.();
  }
}

/** A task; `release` runs once when it finishes (frees its CmdSN window slot). */
export function newTask(
  fields: Pick<Task, 'itt' | 'cmdSN' | 'immediate' | 'lun' | 'pdu' | 'writer' | 'failWith'>,
  release: () => void,
): Task {
  return new Task(fields, release);
}

export class IscsiSession {
  readonly tsih: number;
  readonly isid: Buffer;
  readonly initiatorName: string;
  readonly type: SessionType;
  readonly target: TargetEntry | undefined;
  readonly nexus: Nexus | undefined;
  /** The initiator's view of the target: its ACL entry's LUN map (normal sessions). */
  readonly port: ScsiTargetPort | undefined;
  /** The ACL entry that admitted it ('open', 'any', 'discovery', or an initiator name or pattern). */
  readonly acl: string;
  /** How it authenticated: 'None' or 'CHAP (SHA-256, mutual)'. */
  readonly auth: string;
  /** The CHAP credentials it proved, if any (compared when the config is reloaded; never shown). */
  readonly credentials: ChapCredentials | undefined;
  readonly params: SessionParams;
  /** Key for reinstatement: same initiator, ISID and target. */
  readonly key: string;
  readonly tasks = new Map<number, Task>();
  closed = false;

  private expCmdSN: number;
  private maxCmdSNValue: number;
  private readonly queueDepth: number;
  /** Non-immediate commands received but not finished (they hold window slots). */
  private active = 0;
  private readonly pending = new Map<number, () => void>();

  constructor(init: {
    tsih: number;
    isid: Buffer;
    initiatorName: string;
    type: SessionType;
    target: TargetEntry | undefined;
    nexus: Nexus | undefined;
    port?: ScsiTargetPort | undefined;
    acl?: string;
    auth?: string;
    credentials?: ChapCredentials | undefined;
    params: SessionParams;
    key: string;
    cmdSN: number;
    queueDepth: number;
  }) {
    this.tsih = init.tsih;
    this.isid = Buffer.from(init.isid);
    this.initiatorName = init.initiatorName;
    this.type = init.type;
    this.target = init.target;
    this.nexus = init.nexus;
    this.port = init.port ?? init.target?.port;
    this.acl = init.acl ?? 'open';
    this.auth = init.auth ?? 'None';
    this.credentials = init.credentials;
    this.params = init.params;
    this.key = init.key;
    this.queueDepth = Math.max(1, init.queueDepth);
    this.expCmdSN = init.cmdSN >>> 0;
    this.maxCmdSNValue = snAdd(this.expCmdSN, this.queueDepth - 1);
  }

  get cmdSN(): { expCmdSN: number; maxCmdSN: number } {
    return { expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN };
  }

  get maxCmdSN(): number {
    const want = snAdd(this.expCmdSN, this.queueDepth - 1 - this.active);
    // Never shrink the window the initiator has already been given.
    if (snLess(this.maxCmdSNValue, want)) this.maxCmdSNValue = want;
    return this.maxCmdSNValue;
  }

  get expectedCmdSN(): number {
    return this.expCmdSN;
  }

  /** Immediate PDUs always pass; others only with ExpCmdSN <= CmdSN <= MaxCmdSN, not yet seen. */
  inWindow(cmdSN: number, immediate: boolean): boolean {
    if (immediate) return true;
    return snLessEq(this.expCmdSN, cmdSN) && snLessEq(cmdSN, this.maxCmdSN) && !this.pending.has(cmdSN);
  }

  /** Whether cmdSN lies in [ExpCmdSN, MaxCmdSN] (the TMF RefCmdSN rule). */
  cmdSNInWindow(cmdSN: number): boolean {
    return snLessEq(this.expCmdSN, cmdSN) && snLessEq(cmdSN, this.maxCmdSN);
  }

  /**
   * Runs fn in CmdSN order: now for immediate PDUs and for CmdSN == ExpCmdSN (then everything
   * queued behind it), later for CmdSNs ahead of a gap. The caller checked inWindow().
   */
  submit(cmdSN: number, immediate: boolean, fn: () => void, holdsSlot = false): void {
    if (holdsSlot) this.active++;
    if (immediate) {
      fn();
      return;
    }
    if (cmdSN !== this.expCmdSN) {
      this.pending.set(cmdSN, fn);
      return;
    }
    this.expCmdSN = snAdd(this.expCmdSN, 1);
    fn();
    this.drain();
  }

  /** A command slot was released (task finished). */
  release(): void {
    if (this.active > 0) this.active--;
  }

  /** Treats cmdSN as received without a command (TMF RefCmdSN rule, rejected commands). */
  skip(cmdSN: number): void {
    if (!this.cmdSNInWindow(cmdSN) || this.pending.has(cmdSN)) return;
    this.submit(cmdSN, false, () => {});
  }

  private drain(): void {
    for (let fn = this.pending.get(this.expCmdSN); fn; fn = this.pending.get(this.expCmdSN)) {
      this.pending.delete(this.expCmdSN);
      this.expCmdSN = snAdd(this.expCmdSN, 1);
      fn();
    }
  }

  /** Tasks on one LUN (or all, lun undefined). */
  tasksOn(lun?: number): Task[] {
    const out: Task[] = [];
    for (const t of this.tasks.values()) if (lun === undefined || t.lun === lun) out.push(t);
    return out;
  }

  /** Aborts tasks: no response will be sent for them. Returns their completion promises. */
  abortTasks(tasks: Iterable<Task>, reason: string): Promise<void>[] {
    const waits: Promise<void>[] = [];
    for (const t of tasks) {
      if (t.state === 'done') continue;
      t.abort(new Error(reason));
      this.tasks.delete(t.itt);
      if (t.state === 'collecting') {
        // Not at the port yet: nothing to wait for.
        t.finish();
      } else {
        waits.push(t.done);
      }
    }
    return waits;
  }
}
