// A SCSI target device as the embedded iSCSI link sees it: routes by LUN, answers REPORT LUNS and
// commands to absent LUNs itself (SPC-5 §6.33, SAM-5 §5.11), fans task management out to the LUs,
// and takes new LUNs at run time (UNIT ATTENTION 3F/0E REPORTED LUNS DATA HAS CHANGED).
import type {
  LogicalUnit,
  Nexus,
  ScsiCommand,
  ScsiResponse,
  ScsiTargetPort,
  TaskManagementFunction,
  TaskManagementOutcome,
} from './command.ts';
import { Asc, DeviceType, Op, SenseKey, Status } from './constants.ts';
import { checkControlByte, checkReserved, truncate, u16, u32 } from './cdb.ts';
import { deriveIdentity, standardInquiry } from './inquiry.ts';
import { ScsiLogicalUnit } from './logical-unit.ts';
import { CheckCondition, descriptorSense, fixedSense, invalidCdbField, senseFor } from './sense.ts';

const NOT_SUPPORTED = Asc.LOGICAL_UNIT_NOT_SUPPORTED;

/** Encodes a LUN for REPORT LUNS: peripheral addressing below 256, flat space addressing above. */
export function encodeLun(lun: number): Buffer {
  const b = Buffer.alloc(8);
  if (lun < 256) b[1] = lun;
  else {
    b[0] = 0x40 | ((lun >> 8) & 0x3f);
    b[1] = lun & 0xff;
  }
  return b;
}

export interface ScsiTargetOptions {
  /** Vendor shown in INQUIRY data for absent LUNs. */
  vendor?: string;
  /** LUNs this target (an initiator's view of it) maps read-only: their commands carry writeProtected. */
  readOnly?: ReadonlySet<number>;
}

/** The command with more fields (the original stays untouched, its getters included). */
function extend(cmd: ScsiCommand, fields: Pick<ScsiCommand, 'writeProtected' | 'copyScope'>): ScsiCommand {
  const props: PropertyDescriptorMap = {};
  for (const [k, value] of Object.entries(fields)) props[k] = { value };
  return Object.create(cmd, props) as ScsiCommand;
}

export class ScsiTarget implements ScsiTargetPort {
  private readonly luns: Map<number, LogicalUnit>;
  private readonly vendor: string;
  private readonly readOnly: ReadonlySet<number> | undefined;

  constructor(luns: Map<number, LogicalUnit>, options: ScsiTargetOptions = {}) {
    for (const lun of luns.keys()) {
      if (!Number.isInteger(lun) || lun < 0 || lun > 16383) throw new RangeError(`LUN ${lun} is outside 0..16383`);
    }
    this.luns = luns;
    this.vendor = options.vendor ?? 'FILEIO';
    this.readOnly = options.readOnly?.size ? options.readOnly : undefined;
  }

  hasLun(lun: number): boolean {
    return this.luns.has(lun);
  }

  unitAt(lun: number): LogicalUnit | undefined {
    return this.luns.get(lun);
  }

  units(): Iterable<LogicalUnit> {
    return this.luns.values();
  }

  /**
   * Adds a logical unit while the target runs. Every I_T nexus that has talked to a logical unit
   * of this target gets UNIT ATTENTION 3F/0E REPORTED LUNS DATA HAS CHANGED there (SPC-5 §6.33);
   * a nexus that has not will see the power-on UA first anyway.
   */
  addLun(lun: number, lu: LogicalUnit): void {
    if (!Number.isInteger(lun) || lun < 0 || lun > 16383) throw new RangeError(`LUN ${lun} is outside 0..16383`);
    if (this.luns.has(lun)) throw new Error(`LUN ${lun} is already in use`);
    for (const other of this.luns.values()) {
      if (other instanceof ScsiLogicalUnit) other.ua.addAll(Asc.REPORTED_LUNS_DATA_HAS_CHANGED);
    }
    this.luns.set(lun, lu);
  }

  async execute(cmd: ScsiCommand): Promise<ScsiResponse> {
    const op = cmd.cdb[0];
    try {
      if (op === Op.REPORT_LUNS) return this.reportLuns(cmd);
      const lu = this.luns.get(cmd.lun);
      if (lu) return await lu.execute(this.scoped(cmd));
      return this.absentLun(cmd);
    } catch (e) {
      if (e instanceof CheckCondition) return { status: Status.CHECK_CONDITION, sense: this.senseFor(cmd, e) };
      return {
        status: Status.CHECK_CONDITION,
        sense: fixedSense(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE),
      };
    }
  }

  /**
   * What a LU needs to know about this target's view: a read-only mapping, and for EXTENDED COPY
   * the units the initiator may name (this target's, as it maps them), never another target's.
   */
  private scoped(cmd: ScsiCommand): ScsiCommand {
    const readOnly = this.readOnly?.has(cmd.lun) === true;
    if (cmd.cdb[0] === Op.EXTENDED_COPY) return extend(cmd, { writeProtected: readOnly, copyScope: (naa) => this.copyScope(naa) });
    return readOnly ? extend(cmd, { writeProtected: true }) : cmd;
  }

  private copyScope(naa: Buffer): 'read-write' | 'read-only' | undefined {
    let found: 'read-write' | 'read-only' | undefined;
    for (const [lun, lu] of this.luns) {
      if (!(lu instanceof ScsiLogicalUnit) || !lu.spec.identity.naa.equals(naa)) continue;
      if (!this.readOnly?.has(lun)) return 'read-write';
      found = 'read-only';
    }
    return found;
  }

  private senseFor(cmd: ScsiCommand, cc: CheckCondition): Buffer {
    const lu = this.luns.get(cmd.lun);
    return lu instanceof ScsiLogicalUnit ? lu.senseOf(cc) : senseFor(cc, false);
  }

  private reportLuns(cmd: ScsiCommand): ScsiResponse {
    const cdb = cmd.cdb;
    if (cdb.length < 12) throw invalidCdbField(0);
    checkControlByte(cdb, 12);
    const select = cdb[2]!;
    let luns: number[];
    switch (select) {
      case 0x00:
      case 0x02:
        luns = [...this.luns.keys()].sort((a, b) => a - b);
        break;
      case 0x01: // well known logical units only: we have none
      case 0x10: // administrative LUs
      case 0x11:
        luns = [];
        break;
      case 0x12: // subsidiary LUs of an administrative LU
        luns = [];
        break;
      default:
        throw invalidCdbField(2);
    }
    const alloc = u32(cdb, 6);
    const body = Buffer.concat(luns.map(encodeLun));
    const h = Buffer.alloc(8);
    h.writeUInt32BE(body.length, 0);
    // the nexus now knows the inventory: 3F/0E is cleared on every logical unit it reaches
    for (const lu of this.luns.values()) if (lu instanceof ScsiLogicalUnit) lu.ua.clear(cmd.nexus.id, Asc.REPORTED_LUNS_DATA_HAS_CHANGED);
    return { status: Status.GOOD, data: truncate(Buffer.concat([h, body]), alloc) };
  }

  private absentLun(cmd: ScsiCommand): ScsiResponse {
    const cdb = cmd.cdb;
    if (cdb[0] === Op.INQUIRY && cdb.length >= 6) {
      checkReserved(cdb, 1, 0xfe);
      const alloc = u16(cdb, 3);
      const evpd = (cdb[1]! & 1) !== 0;
      if (!evpd) {
        if (cdb[2] !== 0) throw invalidCdbField(2);
        const identity = deriveIdentity({ name: 'NO LUN', vendor: this.vendor, product: 'NO LUN' });
        const data = standardInquiry({ qualifier: 3, peripheralType: DeviceType.UNKNOWN, removable: false, identity, versionDescriptors: [] });
        return { status: Status.GOOD, data: truncate(data, alloc) };
      }
      if (cdb[2] !== 0) throw invalidCdbField(2);
      const page = Buffer.from([0x7f, 0x00, 0x00, 0x01, 0x00]); // only page 00h
      return { status: Status.GOOD, data: truncate(page, alloc) };
    }
    if (cdb[0] === Op.REQUEST_SENSE && cdb.length >= 6) {
      const desc = (cdb[1]! & 1) !== 0;
      const data = desc ? descriptorSense(SenseKey.ILLEGAL_REQUEST, NOT_SUPPORTED) : fixedSense(SenseKey.ILLEGAL_REQUEST, NOT_SUPPORTED);
      return { status: Status.GOOD, data: truncate(data, cdb[4]!) };
    }
    return { status: Status.CHECK_CONDITION, sense: fixedSense(SenseKey.ILLEGAL_REQUEST, NOT_SUPPORTED) };
  }

  async taskManagement(fn: TaskManagementFunction, nexus: Nexus, lun: number): Promise<TaskManagementOutcome> {
    if (fn === 'target-warm-reset' || fn === 'target-cold-reset') {
      await Promise.all([...this.luns.values()].map((lu) => lu.taskManagement(fn, nexus)));
      return 'complete';
    }
    const lu = this.luns.get(lun);
    if (!lu) return 'no-such-lun';
    await lu.taskManagement(fn, nexus);
    return 'complete';
  }

  nexusLost(nexus: Nexus): void {
    for (const lu of this.luns.values()) lu.nexusLost(nexus);
  }
}
