// Per-I_T-nexus unit attention queues (SAM-5 §5.14, SPC-5 §5.14).
import { Asc, type AscPair } from './constants.ts';
import type { Nexus } from './command.ts';

const MAX_QUEUE = 16;
const MAX_LOST = 1024;

function portKey(n: Nexus): string {
  return `${n.initiatorPort}\u0000${n.targetPort}`;
}

/** Says whether a UA is established and delivered by someone else (a kernel target core). */
export type ExternalUa = (code: AscPair) => boolean;

export class UnitAttentions {
  private readonly queues = new Map<string, AscPair[]>();
  /** Initiator/target port pairs whose nexus was lost: they get 29/07 when they come back. */
  private readonly lost = new Map<string, true>();
  private external: ExternalUa = () => false;

  /**
   * Hands the UAs `external` matches to the transport: they are never queued here, the power-on
   * and nexus-loss UAs of a new nexus included. A link whose kernel core keeps its own UA lists
   * and acts on the UAs a device returns (SCST) sets this.
   */
  delegate(external: ExternalUa): void {
    this.external = external;
    for (const q of this.queues.values()) {
      const kept = q.filter((c) => !external(c));
      q.length = 0;
      q.push(...kept);
    }
  }

  /** First command on a nexus: POWER ON (29/00), or I_T NEXUS LOSS OCCURRED (29/07) on a return. */
  touch(nexus: Nexus): void {
    if (this.queues.has(nexus.id)) return;
    const k = portKey(nexus);
    const first = this.lost.delete(k) ? Asc.I_T_NEXUS_LOSS_OCCURRED : Asc.POWER_ON_RESET_OR_BUS_DEVICE_RESET;
    this.queues.set(nexus.id, this.external(first) ? [] : [first]);
  }

  known(nexusId: string): boolean {
    return this.queues.has(nexusId);
  }

  /** Queues a UA for one nexus. Reset-class UAs (29/xx) replace everything else pending. */
  add(nexusId: string, code: AscPair): void {
    const q = this.queues.get(nexusId);
    if (!q || this.external(code)) return; // not yet seen: it will get its power-on UA anyway
    if (code.asc === 0x29) {
      q.length = 0;
      q.push(code);
      return;
    }
    if (q.some((c) => c.asc === code.asc && c.ascq === code.ascq)) return;
    if (q.length >= MAX_QUEUE) return;
    q.push(code);
  }

  /** Queues a UA for every known nexus except `exceptId`. */
  addOthers(exceptId: string | undefined, code: AscPair): void {
    for (const id of this.queues.keys()) if (id !== exceptId) this.add(id, code);
  }

  addAll(code: AscPair): void {
    this.addOthers(undefined, code);
  }

  peek(nexusId: string): AscPair | undefined {
    return this.queues.get(nexusId)?.[0];
  }

  /** Removes and returns the oldest pending UA of a nexus. */
  take(nexusId: string): AscPair | undefined {
    return this.queues.get(nexusId)?.shift();
  }

  /** Clears UAs of one kind for a nexus (REPORT LUNS clears 3F/0E). */
  clear(nexusId: string, code: AscPair): void {
    const q = this.queues.get(nexusId);
    if (!q) return;
    const kept = q.filter((c) => !(c.asc === code.asc && c.ascq === code.ascq));
    q.length = 0;
    q.push(...kept);
  }

  /** Clears UAs of one kind for every nexus but `keepId` (a transport reported it to them). */
  clearOthers(keepId: string, code: AscPair): void {
    for (const id of this.queues.keys()) if (id !== keepId) this.clear(id, code);
  }

  /** The nexus is gone: drop its queue; remember the port pair for 29/07. */
  drop(nexus: Nexus): void {
    if (!this.queues.delete(nexus.id)) return;
    if (this.lost.size >= MAX_LOST) this.lost.delete(this.lost.keys().next().value!);
    this.lost.set(portKey(nexus), true);
  }

  pending(nexusId: string): readonly AscPair[] {
    return this.queues.get(nexusId) ?? [];
  }

  nexusCount(): number {
    return this.queues.size;
  }
}
