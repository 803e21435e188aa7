// Medium and power control of a disk (SBC-4 §5.31 START STOP UNIT, §5.14 PREVENT ALLOW MEDIUM
// REMOVAL, §4.20 power conditions): eject/load of a removable medium, per-I_T-nexus PREVENT state,
// the power condition REQUEST SENSE reports.
//
// Deliberate choices, all three shared by tgt, QEMU and SCST and expected by libiscsi:
// - START = 0 without LOEJ writes the cache back (unless NO_FLUSH) but does not leave the LU in a
//   stopped state: there is no spindle, and a LU that answers NOT READY until START only breaks
//   initiators (libiscsi StartStopUnit.NoLoej expects TEST UNIT READY to stay GOOD).
// - A POWER CONDITION value that SBC-4 marks reserved/obsolete is accepted without effect
//   (libiscsi StartStopUnit.PwrCnd sends every value 1..15 and expects GOOD).
// - Loading the same backing file again raises no 28/00 UA: the medium did not change.
import type { Nexus } from '../../scsi/command.ts';
import { Asc, Op, SenseKey, type AscPair } from '../../scsi/constants.ts';
import { checkReserved } from '../../scsi/cdb.ts';
import { CheckCondition, invalidCdbField } from '../../scsi/sense.ts';
import { PreventTracker, preventAllowCommand } from '../../scsi/prevent.ts';
import { usage, type CommandContext, type CommandEntry } from '../../scsi/table.ts';
import type { DiskDevice } from './device.ts';

export type PowerCondition = 'active' | 'idle' | 'standby';

const IDLE_BY_COMMAND: AscPair = Object.freeze({ asc: 0x5e, ascq: 0x03 });
const STANDBY_BY_COMMAND: AscPair = Object.freeze({ asc: 0x5e, ascq: 0x04 });

/** Power condition field values (SBC-4 Table 'POWER CONDITION field'). */
const PC = { START_VALID: 0x0, ACTIVE: 0x1, IDLE: 0x2, STANDBY: 0x3, LU_CONTROL: 0x7, FORCE_IDLE_0: 0xa, FORCE_STANDBY_0: 0xb } as const;

export class MediumControl {
  private readonly dev: DiskDevice;
  /** I_T nexuses with PREVENT = 01b in effect (removal is prevented while any is here). */
  readonly preventers = new PreventTracker();
  power: PowerCondition = 'active';

  constructor(dev: DiskDevice) {
    this.dev = dev;
  }

  get removable(): boolean {
    return this.dev.settings.removable;
  }

  get prevented(): boolean {
    return this.preventers.prevented;
  }

  /** Logical unit reset (and power on): PREVENT released everywhere, active power condition. */
  reset(): void {
    this.preventers.clear();
    this.power = 'active';
  }

  /** SPC-5 §6.17: the prevention of a nexus ends with the nexus. */
  nexusLost(nexus: Nexus): void {
    this.preventers.release(nexus.id);
  }

  /** A command that needs the active power condition (medium access) wakes the LU up. */
  activate(): void {
    this.power = 'active';
  }

  /** ASC/ASCQ REQUEST SENSE reports with NO SENSE while in a low power condition. */
  powerSense(): AscPair | undefined {
    if (this.power === 'idle') return IDLE_BY_COMMAND;
    if (this.power === 'standby') return STANDBY_BY_COMMAND;
    return undefined;
  }

  /** LOEJ = 1: eject (START = 0) or load (START = 1); refused while PREVENT is in effect. */
  async loadEject(start: boolean, noFlush: boolean): Promise<void> {
    if (this.prevented) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.MEDIUM_REMOVAL_PREVENTED);
    if (start) {
      this.dev.ejected = false;
      return;
    }
    if (this.dev.ejected) return;
    if (!noFlush) await this.dev.flush();
    this.dev.ejected = true;
  }
}

export function mediumCommands(dev: DiskDevice, medium: MediumControl, o: { log: (m: string) => void }): CommandEntry[] {
  async function writeBack(immed: boolean): Promise<void> {
    if (dev.ejected) return; // nothing cached for an absent medium
    if (immed) {
      dev.flush().catch((e: unknown) => o.log(`START STOP UNIT (IMMED) cache write-back failed: ${(e as Error).message}`));
      return;
    }
    await dev.flush();
  }

  async function startStopUnit(ctx: CommandContext): Promise<void> {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xfe);
    checkReserved(cdb, 2, 0xff);
    checkReserved(cdb, 3, 0xf0);
    checkReserved(cdb, 4, 0x08);
    const immed = (cdb[1]! & 0x01) !== 0;
    const modifier = cdb[3]! & 0x0f;
    const pc = cdb[4]! >> 4;
    const noFlush = (cdb[4]! & 0x04) !== 0;
    const loej = (cdb[4]! & 0x02) !== 0;
    const start = (cdb[4]! & 0x01) !== 0;
    if (pc !== PC.START_VALID) {
      // START and LOEJ are ignored; the power condition is what the initiator asked for
      switch (pc) {
        case PC.ACTIVE:
        case PC.LU_CONTROL:
          medium.power = 'active';
          break;
        case PC.IDLE:
        case PC.FORCE_IDLE_0:
          if (!noFlush) await writeBack(immed);
          medium.power = 'idle';
          break;
        case PC.STANDBY:
        case PC.FORCE_STANDBY_0:
          if (!noFlush) await writeBack(immed);
          medium.power = 'standby';
          break;
        default:
          break; // reserved/obsolete: accepted, no effect (see the header)
      }
      return;
    }
    if (modifier !== 0) throw invalidCdbField(3, 3);
    if (loej) {
      if (!medium.removable) throw invalidCdbField(4, 1);
      await medium.loadEject(start, noFlush);
      if (start) medium.power = 'active';
      return;
    }
    if (start) {
      medium.power = 'active';
      return;
    }
    // STOP: the cache goes to the medium; the LU stays ready (see the header)
    if (!noFlush) await writeBack(immed);
  }

  const entries: CommandEntry[] = [
    {
      opcode: Op.START_STOP_UNIT,
      name: 'START STOP UNIT',
      usage: usage(Op.START_STOP_UNIT, 0x01, 0, 0x0f, medium.removable ? 0xf7 : 0xf5, 0x07),
      run: startStopUnit,
      timeout: { nominal: 1, recommended: 60 },
    },
  ];
  if (medium.removable) {
    entries.push({
      opcode: Op.PREVENT_ALLOW_MEDIUM_REMOVAL,
      name: 'PREVENT ALLOW MEDIUM REMOVAL',
      usage: usage(Op.PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0x03, 0x07),
      run: preventAllowCommand(medium.preventers),
    });
  }
  return entries;
}
