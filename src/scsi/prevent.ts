// PREVENT ALLOW MEDIUM REMOVAL (SPC-5 §6.17, SBC-4 §5.14, SSC-5, SMC-3, MMC-6 §6.26): the CDB and
// the per-I_T-nexus prevention state. Removal is prevented while any nexus prevents; a nexus
// loss or a logical unit reset releases it.
import { checkReserved } from './cdb.ts';
import { invalidCdbField } from './sense.ts';
import type { CommandContext } from './table.ts';

/** The I_T nexuses with a prevention in effect. */
export class PreventTracker {
  private readonly nexuses = new Set<string>();

  /** Removal is prevented: some nexus prevents. */
  get prevented(): boolean {
    return this.nexuses.size > 0;
  }

  set(nexusId: string, on: boolean): void {
    if (on) this.nexuses.add(nexusId);
    else this.nexuses.delete(nexusId);
  }

  /** The nexus is gone: its prevention ends with it. */
  release(nexusId: string): void {
    this.nexuses.delete(nexusId);
  }

  /** Logical unit reset (and power on): prevention released everywhere. */
  clear(): void {
    this.nexuses.clear();
  }
}

/** Checks the reserved bits of a PREVENT ALLOW MEDIUM REMOVAL CDB; returns its PREVENT field (0..3). */
export function preventField(cdb: Buffer): number {
  checkReserved(cdb, 1, 0xff);
  checkReserved(cdb, 2, 0xff);
  checkReserved(cdb, 3, 0xff);
  checkReserved(cdb, 4, 0xfc);
  return cdb[4]! & 0x03;
}

/** PREVENT ALLOW MEDIUM REMOVAL where PREVENT 10b/11b are obsolete (MMC persistent prevent): 00b allow, 01b prevent. */
export function preventAllowCommand(tracker: PreventTracker): (ctx: CommandContext) => void {
  return (ctx) => {
    const prevent = preventField(ctx.cdb);
    if (prevent > 1) throw invalidCdbField(4, 1);
    tracker.set(ctx.cmd.nexus.id, prevent === 1);
  };
}
