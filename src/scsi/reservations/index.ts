// Reservations for a logical unit: the state, its commands, the conflict hook, APTPL persistence.
//
//   const pr = await LuReservations.open({ image: config.file, log });   // restores APTPL state
//   const lu = new ScsiLogicalUnit({ ..., commands: [...handlerCommands, ...pr.commands()] });
//   pr.attach(lu);                                                        // hook + UAs + resets
import type { Nexus, ScsiResponse, TaskManagementFunction } from '../command.ts';
import { Status } from '../constants.ts';
import type { LuLogger, ScsiLogicalUnit } from '../logical-unit.ts';
import type { CommandContext, CommandEntry } from '../table.ts';
import { reservationCommands, persistFailure, type ReservationServices } from './commands.ts';
import { accessKind, allowedUnderSpc2 } from './conflicts.ts';
import { ReservationFile, reservationFileFor } from './persist.ts';
import { Reservations } from './state.ts';

export { Reservations, PrType, ReservationConflict, type Registration } from './state.ts';
export { accessKind, allowedUnderSpc2, type AccessKind } from './conflicts.ts';
export { reservationFileFor } from './persist.ts';
export { PrIn, PrOut, parseIscsiTransportId } from './commands.ts';

export interface LuReservationOptions {
  /** Backing image: APTPL state lives in "<image>.pr.json". Without it APTPL is not offered. */
  readonly image?: string;
  readonly log: LuLogger;
}

/** Aborts the tasks of some I_T nexuses on one LU (PREEMPT AND ABORT); supplied by the link. */
export type TaskAborter = (nexusIds: readonly string[]) => void;

export class LuReservations implements ReservationServices {
  readonly state: Reservations;
  readonly file: ReservationFile | undefined;
  private readonly log: LuLogger;
  private lu: ScsiLogicalUnit | undefined;
  /**
   * PREEMPT AND ABORT: the LU core cannot abort tasks that already run (the link owns them), so
   * a link that can should set this; the preempted nexuses are unregistered either way, so any
   * of their commands that reach the hook afterwards get RESERVATION CONFLICT.
   */
  taskAborter: TaskAborter | undefined;

  constructor(o: LuReservationOptions) {
    this.file = o.image !== undefined ? new ReservationFile(reservationFileFor(o.image)) : undefined;
    this.state = new Reservations({ persistCapable: this.file !== undefined });
    this.log = o.log;
  }

  /** Creates the reservations of an LU and restores APTPL state saved next to the image. */
  static async open(o: LuReservationOptions): Promise<LuReservations> {
    const r = new LuReservations(o);
    if (!r.file) return r;
    try {
      const snap = await r.file.load();
      if (snap) {
        r.state.restore(snap);
        o.log('info', `restored ${r.state.registrations.length} persistent reservation registration(s) from ${r.file.path}`);
      }
    } catch (e) {
      o.log('error', `ignoring unreadable reservation file ${r.file.path}: ${(e as Error).message}`);
    }
    return r;
  }

  commands(): CommandEntry[] {
    return reservationCommands(this);
  }

  /** Hooks the reservation checks into the LU and routes unit attentions and resets here. */
  attach(lu: ScsiLogicalUnit): void {
    this.lu = lu;
    this.state.setSink({ unitAttention: (id, code) => lu.ua.add(id, code) });
    lu.addHook((ctx) => this.check(ctx));
    lu.addObserver({
      taskManagement: (fn: TaskManagementFunction) => this.state.taskManagement(fn),
      nexusLost: (n: Nexus) => this.state.nexusLost(n),
    });
  }

  /** The conflict check run before every command that passed the UA check. */
  check(ctx: CommandContext): ScsiResponse | void {
    const n = ctx.cmd.nexus;
    this.state.touch(n);
    if (this.state.spc2ReservedByOther(n) && !allowedUnderSpc2(ctx.cdb)) return { status: Status.RESERVATION_CONFLICT };
    if (!this.state.allows(n, accessKind(ctx.cdb, ctx.entry))) return { status: Status.RESERVATION_CONFLICT };
  }

  async persist(wasAptpl: boolean): Promise<void> {
    if (!this.file) return;
    const s = this.state;
    try {
      if (s.aptpl) await this.file.save(s.snapshot());
      else if (wasAptpl) await this.file.save(undefined);
    } catch (e) {
      this.log('error', `${this.lu?.name ?? 'LU'}: cannot save reservations to ${this.file.path}: ${(e as Error).message}`);
      throw persistFailure();
    }
  }

  abortTasks(nexusIds: readonly string[]): void {
    if (this.taskAborter) this.taskAborter(nexusIds);
    else this.log('debug', `${this.lu?.name ?? 'LU'}: PREEMPT AND ABORT: no task aborter; preempted nexuses ${nexusIds.join(', ')}`);
  }
}
