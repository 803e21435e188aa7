// The logical-unit core shared by every device type: UA queues, dispatch through composed opcode
// tables, task-set ordering, the reservation hook point, sense format, never throwing out of execute.
import type { LogicalUnit, Nexus, ResizeOptions, ScsiCommand, ScsiResponse, TaskManagementFunction } from './command.ts';
import { Asc, SenseKey, Status, type AscPair } from './constants.ts';
import { cdbLengthForOpcode, checkControlByte, cdbTooShort } from './cdb.ts';
import { PinnedData } from './data-in.ts';
import type { InquiryProfile, LuIdentity } from './inquiry.ts';
import { ModePages, type ModePageDef } from './mode-pages.ts';
import type { BlockDescriptorSource } from './mode.ts';
import { CheckCondition, senseFor } from './sense.ts';
import { descriptorSenseEnabled } from './spc-pages.ts';
import { spcCommands } from './spc.ts';
import { CommandTable, type CommandContext, type CommandEntry, type CommandResult } from './table.ts';
import { TaskSet } from './task-set.ts';
import { UnitAttentions } from './unit-attention.ts';

export type LuLogger = (level: 'error' | 'warn' | 'info' | 'debug', message: string) => void;

/**
 * Runs before a command that passed UA checks (the reservation checks are one).
 * Throw a CheckCondition, or return a response (e.g. RESERVATION CONFLICT) to stop the command.
 */
export type CommandHook = (ctx: CommandContext) => ScsiResponse | void | Promise<ScsiResponse | void>;

/** Told about task management functions and I_T nexus loss before the core acts on them. */
export interface LuObserver {
  taskManagement?(fn: TaskManagementFunction, nexus: Nexus): void;
  nexusLost?(nexus: Nexus): void;
}

/** The device-specific half of a logical unit: what a handler (disk, cdrom, ...) supplies. */
export interface LogicalUnitSpec {
  readonly name: string;
  readonly type: string;
  readonly peripheralType: number;
  readonly removable: boolean;
  readonly identity: LuIdentity;
  readonly versionDescriptors: readonly number[];
  /** The handler's commands; they are composed after (and may override) the SPC table. */
  readonly commands: readonly CommandEntry[];
  readonly modePages: readonly ModePageDef[];
  /** Handler VPD pages (code -> payload after the 4-byte header), e.g. B0h/B1h/B2h for disks. */
  readonly vpd?: ReadonlyMap<number, (ctx: CommandContext) => Buffer>;
  /** Extended INQUIRY V_SUP / NV_SUP. */
  readonly volatileCache?: () => boolean;
  readonly nonVolatileCache?: () => boolean;
  /** Block descriptor and device-specific parameter for MODE SENSE/SELECT (block devices). */
  readonly blockDescriptors?: BlockDescriptorSource;
  /** Throws NOT READY (e.g. no medium) for commands marked `medium`. */
  readonly checkReady?: (ctx: CommandContext) => void;
  /** Logical unit reset side effects beyond mode pages and UAs (e.g. release PREVENT). */
  readonly onReset?: () => void;
  /** An I_T nexus went away: drop handler state kept per nexus (e.g. PREVENT, held copy results). */
  readonly onNexusLost?: (nexus: Nexus) => void;
  /** NO SENSE ASC/ASCQ REQUEST SENSE reports when nothing is pending (low power condition, ...). */
  readonly idleSense?: () => AscPair | undefined;
  readonly describe: () => Record<string, unknown>;
  /** Adopts a changed backing size; resolves true when the capacity changed; refuses a shrink unless allowed. */
  readonly resize?: (o: ResizeOptions) => Promise<boolean>;
  readonly flush: () => Promise<void>;
  readonly close: () => Promise<void>;
  readonly log: LuLogger;
}

export class ScsiLogicalUnit implements LogicalUnit {
  readonly name: string;
  readonly type: string;
  readonly peripheralType: number;
  readonly table: CommandTable;
  readonly modePages: ModePages;
  readonly ua = new UnitAttentions();
  readonly tasks = new TaskSet();
  readonly blockDescriptors: BlockDescriptorSource | undefined;
  readonly inquiryProfile: InquiryProfile;
  readonly spec: LogicalUnitSpec;
  private readonly hooks: CommandHook[] = [];
  private readonly observers: LuObserver[] = [];
  private closed = false;
  private readonly capacityListeners = new Set<() => void>();
  /** Commands answered, by outcome (for describe()). */
  readonly counters = { commands: 0, checkConditions: 0, internalErrors: 0 };

  constructor(spec: LogicalUnitSpec) {
    this.spec = spec;
    this.name = spec.name;
    this.type = spec.type;
    this.peripheralType = spec.peripheralType;
    this.table = new CommandTable(spcCommands, spec.commands);
    this.modePages = new ModePages(spec.modePages);
    this.blockDescriptors = spec.blockDescriptors;
    this.inquiryProfile = {
      peripheralType: spec.peripheralType,
      removable: spec.removable,
      identity: spec.identity,
      versionDescriptors: spec.versionDescriptors,
      get volatileCache() {
        return spec.volatileCache?.() ?? false;
      },
      get nonVolatileCache() {
        return spec.nonVolatileCache?.() ?? false;
      },
      vpd: spec.vpd ?? new Map(),
    };
  }

  /** Adds a hook run before every command that got past the UA check (reservations, ...). */
  addHook(h: CommandHook): void {
    this.hooks.push(h);
  }

  /** Adds an observer told about task management and nexus loss (reservations, ...). */
  addObserver(o: LuObserver): void {
    this.observers.push(o);
  }

  /** Sense data in the LU's current format (D_SENSE). */
  senseOf(cc: CheckCondition): Buffer {
    return senseFor(cc, descriptorSenseEnabled(this.modePages));
  }

  checkCondition(cc: CheckCondition): ScsiResponse {
    this.counters.checkConditions++;
    return { status: Status.CHECK_CONDITION, sense: this.senseOf(cc) };
  }

  // Hot path: no async functions between the link and the handler. A command whose hooks and
  // handler answer synchronously costs no microtask hop here; otherwise one .then per stage.
  execute(cmd: ScsiCommand): Promise<ScsiResponse> {
    this.counters.commands++;
    const transfer: CommandContext['transfer'] = {};
    let r: ScsiResponse | Promise<ScsiResponse>;
    try {
      r = this.dispatch(cmd, transfer);
    } catch (e) {
      return Promise.resolve(withTransfer(this.failed(cmd, e), transfer));
    }
    if (r instanceof Promise) {
      return r.then(
        (x) => withTransfer(x, transfer),
        (e: unknown) => withTransfer(this.failed(cmd, e), transfer),
      );
    }
    return Promise.resolve(withTransfer(r, transfer));
  }

  /** The response to a command that threw: its CHECK CONDITION, or an internal error. */
  private failed(cmd: ScsiCommand, e: unknown): ScsiResponse {
    if (e instanceof CheckCondition) return this.checkCondition(e);
    this.counters.internalErrors++;
    const op = cmd.cdb.length > 0 ? cmd.cdb[0]!.toString(16).padStart(2, '0') : '--';
    this.spec.log('error', `internal error in opcode ${op}h: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return this.checkCondition(new CheckCondition(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE));
  }

  private dispatch(cmd: ScsiCommand, transfer: CommandContext['transfer']): ScsiResponse | Promise<ScsiResponse> {
    const cdb = cmd.cdb;
    if (cdb.length === 0) throw cdbTooShort();
    if (this.closed) throw new CheckCondition(SenseKey.NOT_READY, Asc.LUN_NOT_READY_CAUSE_NOT_REPORTABLE);
    this.ua.touch(cmd.nexus);
    const found = this.table.lookup(cdb);
    const entry = found instanceof CheckCondition ? undefined : found;
    const policy = entry?.ua ?? 'normal';
    if (policy === 'normal') {
      const pending = this.ua.take(cmd.nexus.id);
      if (pending) throw new CheckCondition(SenseKey.UNIT_ATTENTION, pending);
    }
    if (!entry) throw found as CheckCondition;
    const len = entry.usage.length || cdbLengthForOpcode(cdb[0]!);
    if (cdb.length < len) throw cdbTooShort();
    checkControlByte(cdb, len);
    const ctx: CommandContext = { cmd, cdb, lu: this, entry, transfer };
    const hooks = this.hooks;
    for (let i = 0; i < hooks.length; i++) {
      const r = hooks[i]!(ctx);
      if (r instanceof Promise) return this.hooksAsync(ctx, r, i);
      if (r) return r;
    }
    return this.runEntry(ctx, false);
  }

  /** The rest of the hooks once one of them returned a promise. */
  private async hooksAsync(ctx: CommandContext, pending: Promise<ScsiResponse | void>, index: number): Promise<ScsiResponse> {
    const first = await pending;
    if (first) return first;
    for (let i = index + 1; i < this.hooks.length; i++) {
      const r = await this.hooks[i]!(ctx);
      if (r) return r;
    }
    return this.runEntry(ctx, true);
  }

  private runEntry(ctx: CommandContext, waited: boolean): Promise<ScsiResponse> {
    const entry = ctx.entry;
    if (entry.medium && this.spec.checkReady) this.spec.checkReady(ctx);
    // a read-only mapping: the same 07/27/00 a write-protected LU answers, for every writing command
    if (ctx.cmd.writeProtected && entry.access === 'write') throw new CheckCondition(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
    // Only a wait (async hook) leaves room for an abort before the task set sees the command.
    if (waited && ctx.cmd.signal?.aborted) return Promise.resolve({ status: Status.TASK_ABORTED });
    return this.tasks.run(ctx.cmd.attribute, entry.exclusive === true, () => callEntry(entry, ctx)).then(normalize);
  }

  async taskManagement(fn: TaskManagementFunction, nexus: Nexus): Promise<void> {
    for (const o of this.observers) o.taskManagement?.(fn, nexus);
    switch (fn) {
      case 'lun-reset':
        this.reset();
        // SAM-5 §6.3.3: every I_T nexus, the one that asked for the reset included
        this.ua.addAll(Asc.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
        return;
      case 'target-warm-reset':
        this.reset();
        this.ua.addAll(Asc.SCSI_BUS_RESET_OCCURRED);
        return;
      case 'target-cold-reset':
        this.reset();
        this.ua.addAll(Asc.POWER_ON_OCCURRED);
        return;
      default:
        // abort/clear task set and clear ACA: the link aborts the tasks; no LU state to change
        return;
    }
  }

  /** Logical unit reset: mode parameters back to defaults (no saved pages), handler state. */
  private reset(): void {
    this.modePages.reset();
    this.spec.onReset?.();
  }

  /**
   * Re-reads the backing size (SIGUSR2 after an image was grown); when the capacity changed,
   * raises CAPACITY DATA HAS CHANGED. Resolves false for devices without a resizable backing.
   */
  async resize(o: ResizeOptions = {}): Promise<boolean> {
    if (!this.spec.resize || !(await this.spec.resize(o))) return false;
    this.capacityChanged();
    return true;
  }

  onCapacityChanged(listener: () => void): () => void {
    this.capacityListeners.add(listener);
    return () => this.capacityListeners.delete(listener);
  }

  /**
   * The handler changed the capacity: every I_T nexus gets CAPACITY DATA HAS CHANGED (SBC-4
   * §4.10) and links that must tell their kernel are called.
   */
  capacityChanged(): void {
    this.ua.addAll(Asc.CAPACITY_DATA_HAS_CHANGED);
    for (const l of this.capacityListeners) l();
  }

  nexusLost(nexus: Nexus): void {
    this.ua.drop(nexus);
    this.spec.onNexusLost?.(nexus);
    for (const o of this.observers) o.nexusLost?.(nexus);
  }

  describe(): Record<string, unknown> {
    return { name: this.name, type: this.type, ...this.spec.describe(), ...this.counters };
  }

  flush(): Promise<void> {
    return this.spec.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.spec.close();
  }
}

/** The handler's result as a promise (a synchronous throw becomes a rejection). */
function callEntry(entry: CommandEntry, ctx: CommandContext): Promise<CommandResult> {
  try {
    const r = entry.run(ctx);
    return r instanceof Promise ? r : Promise.resolve(r);
  } catch (e) {
    return Promise.reject(e);
  }
}

function withTransfer(response: ScsiResponse, transfer: CommandContext['transfer']): ScsiResponse {
  if (transfer.dataOutLength !== undefined) response.dataOutLength = transfer.dataOutLength;
  return response;
}

function normalize(r: CommandResult): ScsiResponse {
  if (r === undefined) return { status: Status.GOOD };
  if (Buffer.isBuffer(r) || r instanceof PinnedData) return { status: Status.GOOD, data: r };
  return { ...r };
}
