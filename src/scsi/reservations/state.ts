// Reservation state of one logical unit: SPC-4 persistent reservations (§5.9, PERSISTENT RESERVE
// IN/OUT) and SPC-2 RESERVE/RELEASE, in one place, with transitions that need no transport.
// Command decoding lives in commands.ts, the access table in conflicts.ts, APTPL files in persist.ts.
import type { Nexus, TaskManagementFunction } from '../command.ts';
import { Asc, SenseKey, type AscPair } from '../constants.ts';
import { CheckCondition, invalidCdbField, invalidParamField } from '../sense.ts';
import type { AccessKind } from './conflicts.ts';

/** PERSISTENT RESERVATION TYPE codes (SPC-4 Table 'Persistent reservation type codes'). */
export const PrType = {
  WRITE_EXCLUSIVE: 0x1,
  EXCLUSIVE_ACCESS: 0x3,
  WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 0x5,
  EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 0x6,
  WRITE_EXCLUSIVE_ALL_REGISTRANTS: 0x7,
  EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 0x8,
} as const;

const VALID_TYPES: ReadonlySet<number> = new Set(Object.values(PrType));
/** The only scope SPC-4 keeps: LU_SCOPE. */
export const LU_SCOPE = 0;

export const isAllRegistrants = (t: number): boolean => t === 0x7 || t === 0x8;
export const isRegistrantsOnly = (t: number): boolean => t === 0x5 || t === 0x6;

/** 05/26/04 INVALID RELEASE OF PERSISTENT RESERVATION. */
export const INVALID_RELEASE: AscPair = Object.freeze({ asc: 0x26, ascq: 0x04 });

/** One registration: an I_T nexus (or, with ALL_TG_PT, an initiator port on every target port). */
export interface Registration {
  key: bigint;
  readonly initiatorPort: string;
  /** null: registered through every target port (ALL_TG_PT = 1). */
  readonly targetPort: string | null;
  readonly relativeTargetPort: number;
  /** SPC TransportID of the initiator port, for READ FULL STATUS. */
  readonly transportId: Buffer;
}

export interface PersistentReservation {
  readonly type: number;
  /** The holder; null for the all-registrants types, where every registrant holds it. */
  holder: Registration | null;
}

/** RESERVATION CONFLICT status; thrown by transitions, turned into status 18h by the commands. */
export class ReservationConflict extends Error {
  constructor(why: string) {
    super(`reservation conflict: ${why}`);
    this.name = 'ReservationConflict';
  }
}

/** What the state tells the LU about: unit attentions to queue. */
export interface ReservationSink {
  unitAttention(nexusId: string, code: AscPair): void;
}

export interface RegisterArgs {
  readonly reservationKey: bigint;
  readonly serviceActionKey: bigint;
  readonly ignoreExisting: boolean;
  readonly allTargetPorts: boolean;
  readonly aptpl: boolean;
}

export interface MoveArgs {
  readonly reservationKey: bigint;
  readonly serviceActionKey: bigint;
  readonly destInitiatorPort: string;
  readonly destTransportId: Buffer;
  readonly relativeTargetPort: number;
  readonly unregister: boolean;
  readonly aptpl: boolean;
}

/** Serializable form (APTPL file). */
export interface ReservationSnapshot {
  readonly version: 1;
  readonly generation: number;
  readonly registrations: ReadonlyArray<{
    key: string;
    initiatorPort: string;
    targetPort: string | null;
    relativeTargetPort: number;
    transportId: string;
  }>;
  readonly reservation: { type: number; holder: number | null } | null;
}

function portsMatch(r: Registration, n: Pick<Nexus, 'initiatorPort' | 'targetPort'>): boolean {
  return r.initiatorPort === n.initiatorPort && (r.targetPort === null || r.targetPort === n.targetPort);
}

export class Reservations {
  /** PRGENERATION: bumped by every successful REGISTER(-ish), CLEAR, PREEMPT(-AND ABORT), REGISTER AND MOVE. */
  generation = 0;
  /** Activate Persist Through Power Loss: the last valid APTPL bit received. */
  aptpl = false;
  registrations: Registration[] = [];
  reservation: PersistentReservation | undefined;
  /** SPC-2 RESERVE(6)/(10): the I_T nexus holding the logical unit. */
  spc2Holder: string | undefined;
  /** Whether APTPL can be honoured (a place to persist to): REPORT CAPABILITIES PTPL_C. */
  readonly persistCapable: boolean;
  /** I_T nexuses seen on this LU (UAs for ALL_TG_PT registrations, target ports for REGISTER AND MOVE). */
  private readonly seen = new Map<string, Nexus>();
  private sink: ReservationSink;

  constructor(o: { persistCapable: boolean; sink?: ReservationSink }) {
    this.persistCapable = o.persistCapable;
    this.sink = o.sink ?? { unitAttention: () => undefined };
  }

  setSink(sink: ReservationSink): void {
    this.sink = sink;
  }

  /** Every command passes here (from the LU hook): remembers the nexus. */
  touch(n: Nexus): void {
    if (!this.seen.has(n.id)) this.seen.set(n.id, n);
  }

  registrationOf(n: Pick<Nexus, 'initiatorPort' | 'targetPort'>): Registration | undefined {
    return this.registrations.find((r) => portsMatch(r, n));
  }

  isHolder(n: Nexus): boolean {
    const res = this.reservation;
    if (!res) return false;
    const reg = this.registrationOf(n);
    if (!reg) return false;
    return res.holder === null || res.holder === reg;
  }

  private isHolderReg(reg: Registration): boolean {
    const res = this.reservation;
    return !!res && (res.holder === null || res.holder === reg);
  }

  // ---- access control (SPC-4 §5.9.1 tables, SBC-3 Table 'allowed in the presence of reservations')

  /** Persistent reservation check: may this nexus run a command of this kind now? */
  allows(n: Nexus, kind: AccessKind): boolean {
    const res = this.reservation;
    if (!res || kind === 'allowed') return true;
    const reg = this.registrationOf(n);
    if (reg && (res.holder === null || res.holder === reg)) return true;
    switch (res.type) {
      case PrType.WRITE_EXCLUSIVE:
        return kind === 'read';
      case PrType.EXCLUSIVE_ACCESS:
        return false;
      case PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY:
      case PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS:
        return kind === 'read' || reg !== undefined;
      default: // EA-RO, EA-AR
        return reg !== undefined;
    }
  }

  /** Registered at all (any I_T nexus): SPC-2 RESERVE/RELEASE conflict with registrations. */
  hasRegistrations(): boolean {
    return this.registrations.length > 0;
  }

  // ---- unit attentions

  /** Nexus ids a registration stands for (every seen nexus of its initiator port on its target port(s)). */
  private nexusIdsOf(reg: Registration): string[] {
    const out: string[] = [];
    // the Nexus contract: id = "<initiatorPort>|<targetPort>" (covers nexuses not seen since a re-login)
    if (reg.targetPort !== null) out.push(`${reg.initiatorPort}|${reg.targetPort}`);
    for (const n of this.seen.values()) if (portsMatch(reg, n) && !out.includes(n.id)) out.push(n.id);
    return out;
  }

  private uaTo(regs: Iterable<Registration>, except: string, code: AscPair): void {
    const done = new Set<string>([except]);
    for (const r of regs) {
      for (const id of this.nexusIdsOf(r)) {
        if (done.has(id)) continue;
        done.add(id);
        this.sink.unitAttention(id, code);
      }
    }
  }

  private checkKey(n: Nexus, key: bigint, what: string): Registration {
    const reg = this.registrationOf(n);
    if (!reg) throw new ReservationConflict(`${what} from an unregistered I_T nexus`);
    if (reg.key !== key) throw new ReservationConflict(`${what}: reservation key mismatch`);
    return reg;
  }

  private static checkScopeType(scope: number, type: number): void {
    if (scope !== LU_SCOPE) throw invalidCdbField(2, 7);
    if (!VALID_TYPES.has(type)) throw invalidCdbField(2, 3);
  }

  private setAptpl(aptpl: boolean): void {
    if (aptpl && !this.persistCapable) throw invalidParamField(20, 0);
    this.aptpl = aptpl;
  }

  /**
   * Removes registrations; a removed holder of a non-all-registrants reservation releases it, and
   * the last registrant of an all-registrants one takes it along. Returns whether it released.
   */
  private removeRegistrations(victims: ReadonlySet<Registration>): boolean {
    if (victims.size === 0) return false;
    this.registrations = this.registrations.filter((r) => !victims.has(r));
    const res = this.reservation;
    if (!res) return false;
    if ((res.holder === null && this.registrations.length === 0) || (res.holder !== null && victims.has(res.holder))) {
      this.reservation = undefined;
      return true;
    }
    return false;
  }

  // ---- PERSISTENT RESERVE OUT service actions

  /** REGISTER (00h) and REGISTER AND IGNORE EXISTING KEY (06h), SPC-4 §5.9.7. */
  register(n: Nexus, a: RegisterArgs): void {
    const reg = this.registrationOf(n);
    if (!reg) {
      if (!a.ignoreExisting && a.reservationKey !== 0n) throw new ReservationConflict('REGISTER: unregistered nexus with a nonzero reservation key');
      if (a.serviceActionKey !== 0n) {
        this.setAptpl(a.aptpl);
        this.registrations.push({
          key: a.serviceActionKey,
          initiatorPort: n.initiatorPort,
          targetPort: a.allTargetPorts ? null : n.targetPort,
          relativeTargetPort: n.relativeTargetPort,
          transportId: Buffer.from(n.transportId),
        });
      }
      this.generation = (this.generation + 1) >>> 0;
      return;
    }
    if (!a.ignoreExisting && a.reservationKey !== reg.key) throw new ReservationConflict('REGISTER: reservation key mismatch');
    if (a.serviceActionKey !== 0n) {
      this.setAptpl(a.aptpl);
      reg.key = a.serviceActionKey;
    } else {
      // Unregister (§5.9.11.3): a released registrants-only reservation tells the other registrants.
      const type = this.reservation?.type;
      const released = this.removeRegistrations(new Set([reg]));
      if (released && type !== undefined && isRegistrantsOnly(type)) this.uaTo(this.registrations, n.id, Asc.RESERVATIONS_RELEASED);
    }
    this.generation = (this.generation + 1) >>> 0;
  }

  /** RESERVE (01h), SPC-4 §5.9.9. */
  reserve(n: Nexus, key: bigint, scope: number, type: number): void {
    Reservations.checkScopeType(scope, type);
    const reg = this.checkKey(n, key, 'RESERVE');
    const res = this.reservation;
    if (res) {
      if (!this.isHolderReg(reg)) throw new ReservationConflict('RESERVE: another I_T nexus holds the reservation');
      if (res.type !== type) throw new ReservationConflict('RESERVE: holder asked for a different type');
      return; // same reservation again: no change
    }
    if (this.spc2Holder !== undefined && this.spc2Holder !== n.id) throw new ReservationConflict('RESERVE: SPC-2 reservation held');
    this.reservation = { type, holder: isAllRegistrants(type) ? null : reg };
  }

  /** RELEASE (02h), SPC-4 §5.9.11.2. */
  release(n: Nexus, key: bigint, scope: number, type: number): void {
    const reg = this.checkKey(n, key, 'RELEASE');
    const res = this.reservation;
    if (!res || !this.isHolderReg(reg)) return; // nothing to release for this nexus: GOOD
    if (scope !== LU_SCOPE || res.type !== type) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, INVALID_RELEASE);
    this.reservation = undefined;
    if (isRegistrantsOnly(res.type) || isAllRegistrants(res.type)) this.uaTo(this.registrations, n.id, Asc.RESERVATIONS_RELEASED);
  }

  /** CLEAR (03h), SPC-4 §5.9.11.6. */
  clear(n: Nexus, key: bigint): void {
    this.checkKey(n, key, 'CLEAR');
    const others = this.registrations;
    this.registrations = [];
    this.reservation = undefined;
    this.uaTo(others, n.id, Asc.RESERVATIONS_PREEMPTED);
    this.generation = (this.generation + 1) >>> 0;
  }

  /**
   * PREEMPT (04h) / PREEMPT AND ABORT (05h), SPC-4 §5.9.11.4-5. Returns the I_T nexus ids that lost
   * their registration (PREEMPT AND ABORT aborts their tasks).
   */
  preempt(n: Nexus, key: bigint, serviceActionKey: bigint, scope: number, type: number): string[] {
    const reg = this.checkKey(n, key, 'PREEMPT');
    const res = this.reservation;
    // SCOPE and TYPE only matter when a new reservation is made (ignored when removing registrations)
    const preempting = !!res && (res.holder === null ? serviceActionKey === 0n : serviceActionKey === res.holder.key);
    if (preempting) Reservations.checkScopeType(scope, type);
    const withKey = (k: bigint, keep?: Registration) => new Set(this.registrations.filter((r) => r.key === k && r !== keep));
    let victims: Set<Registration>;
    if (res && res.holder === null && serviceActionKey === 0n) {
      // all-registrants reservation, SARK 0: everybody else goes, the preemptor takes a new reservation
      victims = new Set(this.registrations.filter((r) => r !== reg));
      this.registrations = [reg];
      this.reservation = { type, holder: isAllRegistrants(type) ? null : reg };
    } else if (res && res.holder !== null && serviceActionKey === res.holder.key) {
      // preempting the holder: its key's registrations go (not the preemptor's), new reservation
      victims = withKey(serviceActionKey, reg);
      this.registrations = this.registrations.filter((r) => !victims.has(r));
      const changed = res.type !== type;
      this.reservation = { type, holder: isAllRegistrants(type) ? null : reg };
      if (changed) this.uaTo(this.registrations, n.id, Asc.RESERVATIONS_RELEASED);
    } else {
      // removing registrations only (no reservation, a non-holder key, or an all-registrants one)
      if (serviceActionKey === 0n) throw invalidParamField(8);
      victims = withKey(serviceActionKey);
      if (victims.size === 0) throw new ReservationConflict('PREEMPT: no registration with that key');
      this.removeRegistrations(victims);
    }
    const lost = new Set<string>();
    for (const v of victims) for (const id of this.nexusIdsOf(v)) lost.add(id);
    this.uaTo(victims, n.id, Asc.REGISTRATIONS_PREEMPTED);
    this.generation = (this.generation + 1) >>> 0;
    lost.delete(n.id);
    return [...lost];
  }

  /** REGISTER AND MOVE (07h), SPC-4 §5.9.8. */
  registerAndMove(n: Nexus, a: MoveArgs): void {
    const reg = this.checkKey(n, a.reservationKey, 'REGISTER AND MOVE');
    const res = this.reservation;
    if (!res || !this.isHolderReg(reg)) throw new ReservationConflict('REGISTER AND MOVE from a non-holder');
    if (res.holder === null) throw new ReservationConflict('REGISTER AND MOVE of an all-registrants reservation');
    if (a.serviceActionKey === 0n) throw invalidParamField(8);
    const destTarget = this.targetPortFor(a.relativeTargetPort, n);
    if (destTarget === undefined) throw invalidParamField(18);
    const dest = { initiatorPort: a.destInitiatorPort, targetPort: destTarget };
    if (dest.initiatorPort === n.initiatorPort && dest.targetPort === n.targetPort) throw invalidParamField(24);
    if (reg.targetPort === null && dest.initiatorPort === n.initiatorPort) throw invalidParamField(24);
    this.setAptpl(a.aptpl);
    let destReg = this.registrationOf(dest);
    if (!destReg) {
      destReg = {
        key: a.serviceActionKey,
        initiatorPort: dest.initiatorPort,
        targetPort: dest.targetPort,
        relativeTargetPort: a.relativeTargetPort,
        transportId: Buffer.from(a.destTransportId),
      };
      this.registrations.push(destReg);
    }
    res.holder = destReg;
    if (a.unregister) this.registrations = this.registrations.filter((r) => r !== reg);
    this.generation = (this.generation + 1) >>> 0;
  }

  /** The target port name of a relative target port identifier, from the nexuses seen. */
  private targetPortFor(rel: number, current: Nexus): string | undefined {
    if (rel === current.relativeTargetPort) return current.targetPort;
    for (const s of this.seen.values()) if (s.relativeTargetPort === rel) return s.targetPort;
    return undefined;
  }

  // ---- SPC-2 RESERVE / RELEASE with the SPC-3/4 exceptions (CRH = 1)

  /** RESERVE(6)/(10). */
  spc2Reserve(n: Nexus): void {
    if (this.hasRegistrations()) {
      // §5.9.3 exceptions: a persistent reservation holder's RESERVE succeeds without effect
      if (this.isHolder(n)) return;
      throw new ReservationConflict('RESERVE(6/10) while persistent reservation registrations exist');
    }
    if (this.spc2Holder !== undefined && this.spc2Holder !== n.id) throw new ReservationConflict('RESERVE(6/10): reserved by another I_T nexus');
    this.spc2Holder = n.id;
  }

  /** RELEASE(6)/(10). */
  spc2Release(n: Nexus): void {
    if (this.hasRegistrations()) {
      if (this.isHolder(n)) return;
      throw new ReservationConflict('RELEASE(6/10) while persistent reservation registrations exist');
    }
    if (this.spc2Holder === n.id) this.spc2Holder = undefined;
  }

  /** Whether an SPC-2 reservation of another I_T nexus stands in the way of this nexus. */
  spc2ReservedByOther(n: Nexus): boolean {
    return this.spc2Holder !== undefined && this.spc2Holder !== n.id;
  }

  // ---- events

  /** SPC-2 reservations end with any reset; persistent reservations survive all of them (§5.9.1). */
  taskManagement(fn: TaskManagementFunction): void {
    if (fn === 'lun-reset' || fn === 'target-warm-reset' || fn === 'target-cold-reset') this.spc2Holder = undefined;
  }

  /** I_T nexus loss releases its SPC-2 reservation; registrations stay (they belong to the ports). */
  nexusLost(n: Nexus): void {
    if (this.spc2Holder === n.id) this.spc2Holder = undefined;
    this.seen.delete(n.id);
  }

  // ---- APTPL snapshot

  snapshot(): ReservationSnapshot {
    const res = this.reservation;
    return {
      version: 1,
      generation: this.generation,
      registrations: this.registrations.map((r) => ({
        key: r.key.toString(16),
        initiatorPort: r.initiatorPort,
        targetPort: r.targetPort,
        relativeTargetPort: r.relativeTargetPort,
        transportId: r.transportId.toString('hex'),
      })),
      reservation: res ? { type: res.type, holder: res.holder === null ? null : this.registrations.indexOf(res.holder) } : null,
    };
  }

  /** Restores an APTPL snapshot (power on with APTPL active). Throws on malformed data. */
  restore(s: ReservationSnapshot): void {
    if (s.version !== 1 || !Array.isArray(s.registrations)) throw new Error('unknown reservation file version');
    const regs: Registration[] = s.registrations.map((r) => {
      if (typeof r.initiatorPort !== 'string' || !/^[0-9a-f]+$/i.test(r.key)) throw new Error('bad registration');
      return {
        key: BigInt(`0x${r.key}`),
        initiatorPort: r.initiatorPort,
        targetPort: typeof r.targetPort === 'string' ? r.targetPort : null,
        relativeTargetPort: Number(r.relativeTargetPort) || 1,
        transportId: Buffer.from(String(r.transportId), 'hex'),
      };
    });
    let reservation: PersistentReservation | undefined;
    if (s.reservation) {
      const { type, holder } = s.reservation;
      if (!VALID_TYPES.has(type)) throw new Error(`bad reservation type ${type}`);
      const h = holder === null ? null : regs[holder];
      if (h === undefined || (h === null) !== isAllRegistrants(type)) throw new Error('bad reservation holder');
      reservation = { type, holder: h };
    }
    this.registrations = regs;
    this.reservation = reservation;
    this.generation = s.generation >>> 0;
    this.aptpl = true;
  }
}
