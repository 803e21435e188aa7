// The drive's mechanical and event state in one place (MMC-6 §4.1.6 media change, §6.6 GET EVENT
// STATUS NOTIFICATION, §6.40 START STOP UNIT, §6.26 PREVENT ALLOW MEDIUM REMOVAL): the tray, the
// disc in it, who prevents removal, and the polled events each I_T nexus has not yet seen. It
// knows nothing about files or CDBs, so every transition is testable on its own; the logical unit
// wires its two outputs (per-nexus UNIT ATTENTION and the event queues) to the SCSI core.
//
// Choices, with the reasons:
// - A disc that becomes present (tray closed on it, host load/swap) raises 28/00 NOT READY TO READY
//   CHANGE, MEDIUM MAY HAVE CHANGED on every I_T nexus, and a NewMedia event on every nexus. When an
//   initiator closed the tray itself with START STOP UNIT, its own nexus gets the event but no UA:
//   it knows (the same rule SPC uses for mode parameter changes).
// - Removing the disc (tray opened by an initiator or the host) queues MediaRemoval; no UA: the
//   next medium command answers NOT READY 3A/02 (tray open) or 3A/01 (tray closed, empty), which
//   is how initiators see removal (Linux sr polls TEST UNIT READY / GESN).
// - A host-side eject while any nexus prevents removal does not eject: it queues EjectRequest
//   (once per request) so the initiator can unlock and eject, as a drive does when its button is
//   pressed while locked. `force` overrides (the operator's last resort).
// - PREVENT is per I_T nexus (SPC-5 §6.17): removal is prevented while any nexus prevents; a nexus
//   loss or a logical unit reset releases it. The Persistent Prevent bit (MMC-6 PREVENT field 1xb)
//   is kept per nexus too and reported in the operational change event descriptor.
import { PreventTracker } from '../../scsi/prevent.ts';

export type TrayState = 'open' | 'closed';

/** Media class event codes (MMC-6 Table 'Media Event Format'). */
export const MediaEvent = { NO_CHANGE: 0, EJECT_REQUEST: 1, NEW_MEDIA: 2, MEDIA_REMOVAL: 3, MEDIA_CHANGED: 4 } as const;
/** Power management class event codes and power status values. */
export const PowerEvent = { NO_CHANGE: 0, PWR_CHG_SUCCESSFUL: 1, PWR_CHG_FAILED: 2 } as const;
export const PowerStatus = { ACTIVE: 1, IDLE: 2, STANDBY: 3, SLEEP: 4 } as const;
/**
 * Operational change class: event code (0 NoChg, 2 OpChgNotification) and the OPERATIONAL CHANGE
 * field (1: the current state of features changed, e.g. a new current profile: re-read GET
 * CONFIGURATION).
 */
export const OperationalEvent = { NO_CHANGE: 0, CHANGE: 2 } as const;
export const OperationalChange = { NO_CHANGE: 0, FEATURE_CHANGE: 1 } as const;

export interface PendingEvents {
  /** Operational change (class 1): OPERATIONAL CHANGE field value of the oldest unreported one. */
  operational: number[];
  /** Power management (class 2): the power status each change reached. */
  power: number[];
  /** Media (class 4): event codes, oldest first. */
  media: number[];
}

/** What a disc in the drive must offer the state machine: an identity and a way to let go. */
export interface Disc {
  readonly id: string;
  close(): Promise<void>;
}

export interface DriveStateHooks {
  /** Queue UNIT ATTENTION 28/00 on every nexus except `exceptNexus` (undefined: all). */
  mediumChanged(exceptNexus: string | undefined): void;
}

const MAX_EVENTS = 8;

export class DriveState<D extends Disc = Disc> {
  tray: TrayState = 'closed';
  /** The disc in the tray (present to initiators only with the tray closed). */
  disc: D | undefined;
  /** Power condition set by START STOP UNIT (status values of the power event class). */
  power: number = PowerStatus.ACTIVE;
  private readonly preventers = new PreventTracker();
  private readonly persistent = new PreventTracker();
  private readonly events = new Map<string, PendingEvents>();
  private readonly hooks: DriveStateHooks;

  constructor(disc: D | undefined, hooks: DriveStateHooks) {
    this.disc = disc;
    this.hooks = hooks;
  }

  /** A disc is in the tray and the tray is closed: medium commands can run. */
  get ready(): boolean {
    return this.tray === 'closed' && this.disc !== undefined;
  }

  /** The disc initiators can read, if any. */
  get medium(): D | undefined {
    return this.ready ? this.disc : undefined;
  }

  /** Removal is prevented (the tray is locked) while any nexus prevents, persistently or not. */
  get prevented(): boolean {
    return this.preventers.prevented || this.persistent.prevented;
  }

  get persistentPrevented(): boolean {
    return this.persistent.prevented;
  }

  /** A nexus sent a command: from now on it gets events. */
  touch(nexusId: string): void {
    if (!this.events.has(nexusId)) this.events.set(nexusId, { operational: [], power: [], media: [] });
  }

  nexusLost(nexusId: string): void {
    this.events.delete(nexusId);
    this.preventers.release(nexusId);
    this.persistent.release(nexusId);
  }

  /** Logical unit reset: prevention released everywhere, active power condition. Events stay. */
  reset(): void {
    this.preventers.clear();
    this.persistent.clear();
    this.power = PowerStatus.ACTIVE;
  }

  /** PREVENT ALLOW MEDIUM REMOVAL: field 00b allow, 01b prevent, 10b persistent allow, 11b persistent prevent. */
  setPrevent(nexusId: string, field: number): void {
    (field & 2 ? this.persistent : this.preventers).set(nexusId, (field & 1) !== 0);
  }

  pending(nexusId: string): PendingEvents | undefined {
    return this.events.get(nexusId);
  }

  private queue(kind: keyof PendingEvents, value: number, only?: string): void {
    for (const [id, q] of this.events) {
      if (only !== undefined && id !== only) continue;
      const list = q[kind];
      if (list.length >= MAX_EVENTS) list.shift();
      list.push(value);
    }
  }

  private became(wasReady: boolean, byNexus: string | undefined, profileChanged: boolean): void {
    if (wasReady === this.ready) return;
    if (this.ready) {
      this.queue('media', MediaEvent.NEW_MEDIA);
      this.hooks.mediumChanged(byNexus);
    } else {
      this.queue('media', MediaEvent.MEDIA_REMOVAL);
    }
    if (profileChanged) this.queue('operational', OperationalChange.FEATURE_CHANGE);
  }

  /**
   * START STOP UNIT with LOEJ: open (eject) or close (load) the tray for `nexusId`. Returns
   * 'prevented' when removal is prevented (the caller reports 05/53/02).
   */
  initiatorLoadEject(nexusId: string, load: boolean): 'ok' | 'prevented' {
    const was = this.ready;
    if (load) {
      if (this.tray === 'closed') return 'ok';
      this.tray = 'closed';
      this.became(was, nexusId, this.disc !== undefined);
      return 'ok';
    }
    if (this.prevented) return 'prevented';
    if (this.tray === 'open') return 'ok';
    this.tray = 'open';
    this.became(was, nexusId, was);
    return 'ok';
  }

  /**
   * The operator asks to eject (the drive's button). Removal prevented and not forced: an
   * EjectRequest event is queued and the tray stays shut. Otherwise the tray opens and the disc is
   * taken out (its file closed); the tray stays open until something closes it.
   */
  async hostEject(force = false): Promise<'ejected' | 'requested' | 'empty'> {
    if (this.prevented && !force) {
      this.queue('media', MediaEvent.EJECT_REQUEST);
      return 'requested';
    }
    if (force) this.reset();
    const was = this.ready;
    const old = this.disc;
    this.tray = 'open';
    this.disc = undefined;
    this.became(was, undefined, was);
    if (!old) return 'empty';
    await old.close();
    return 'ejected';
  }

  /**
   * The operator puts `disc` in and closes the tray (`disc` undefined: just close the tray on
   * what is in it). A disc already present is refused unless `swap` (the drive must be empty to
   * load). Swap while prevented is refused unless forced.
   */
  async hostLoad(disc: D | undefined, o: { swap?: boolean; force?: boolean } = {}): Promise<'loaded' | 'closed' | 'prevented' | 'occupied'> {
    if (disc === undefined) {
      const was = this.ready;
      this.tray = 'closed';
      this.became(was, undefined, this.disc !== undefined);
      return 'closed';
    }
    if (this.disc !== undefined && this.tray === 'closed' && !o.swap) return 'occupied';
    if (this.disc !== undefined && this.ready && this.prevented && !o.force) {
      this.queue('media', MediaEvent.EJECT_REQUEST);
      return 'prevented';
    }
    if (o.force) this.reset();
    const was = this.ready;
    const old = this.disc;
    if (was) {
      // the disc leaves before the new one arrives: pollers see removal, then new media
      this.tray = 'open';
      this.disc = undefined;
      this.became(true, undefined, true);
    }
    this.disc = disc;
    this.tray = 'closed';
    this.became(false, undefined, true);
    if (old && old !== disc) await old.close();
    return 'loaded';
  }

  /** START STOP UNIT power conditions: records the status and queues a power event. */
  setPower(status: number): void {
    if (status === this.power) return;
    this.power = status;
    this.queue('power', status);
  }
}
