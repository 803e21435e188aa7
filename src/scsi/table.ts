// Opcode tables: every command set is a list of CommandEntry (opcode -> small function). The LU core
// composes the SPC table with a handler's table; REPORT SUPPORTED OPERATION CODES is generated from it.
import type { ScsiCommand, ScsiResponse } from './command.ts';
import type { PinnedData } from './data-in.ts';
import { Asc, SenseKey, SERVICE_ACTION_OPCODES } from './constants.ts';
import { cdbLengthForOpcode } from './cdb.ts';
import { CheckCondition, invalidCdbField, invalidOpcode } from './sense.ts';
import type { ScsiLogicalUnit } from './logical-unit.ts';

/** What a command function sees. */
export interface CommandContext {
  readonly cmd: ScsiCommand;
  readonly cdb: Buffer;
  readonly lu: ScsiLogicalUnit;
  readonly entry: CommandEntry;
  /** Filled in by requireDataOut/blockDataOut: what the CDB asks to transfer, for residuals. */
  readonly transfer: { dataOutLength?: number };
}

/** A Buffer (or pinned pages) result means GOOD with that data-in; void means GOOD without data. */
export type CommandResult = ScsiResponse | Buffer | PinnedData | void;
export type CommandRunner = (ctx: CommandContext) => CommandResult | Promise<CommandResult>;

/**
 * How a pending unit attention affects a command (SPC-5 §5.14):
 * 'normal' — the UA is reported instead of running the command, and cleared;
 * 'pass' — the command runs and the UA stays (INQUIRY, REPORT LUNS);
 * 'request-sense' — the command itself reports the UA as parameter data (REQUEST SENSE).
 */
export type UaPolicy = 'normal' | 'pass' | 'request-sense';

/** Medium access class, used by the reservation hook and the read-only checks. */
export type AccessClass = 'none' | 'read' | 'write';

export interface CommandEntry {
  readonly opcode: number;
  /** For service-action opcodes (9Eh, A3h, 5Eh, ...): the service action this entry implements. */
  readonly serviceAction?: number;
  readonly name: string;
  /**
   * CDB USAGE DATA for REPORT SUPPORTED OPERATION CODES: byte 0 is the opcode, then one mask per
   * CDB byte with a 1 for every bit the device server looks at. Its length is the CDB length.
   */
  readonly usage: readonly number[];
  readonly run: CommandRunner;
  readonly ua?: UaPolicy;
  readonly access?: AccessClass;
  /** Runs alone in the task set (as if ORDERED), e.g. MODE SELECT, FORMAT UNIT. */
  readonly exclusive?: boolean;
  /** Needs the medium (NOT READY when a removable medium is absent; handler decides). */
  readonly medium?: boolean;
  /** Nominal and recommended command timeouts in seconds (RSOC RCTD). */
  readonly timeout?: { readonly nominal: number; readonly recommended: number };
}

function key(opcode: number, sa: number | undefined): number {
  return opcode * 0x10000 + (sa ?? 0xffff);
}

/** An immutable, composed opcode table. */
export class CommandTable {
  private readonly byKey = new Map<number, CommandEntry>();
  private readonly saOpcodes = new Set<number>();

  constructor(...sets: ReadonlyArray<readonly CommandEntry[]>) {
    for (const set of sets) {
      for (const e of set) {
        if (e.usage[0] !== e.opcode) throw new Error(`${e.name}: usage[0] must be the opcode`);
        if (e.serviceAction !== undefined) this.saOpcodes.add(e.opcode);
        // later sets override earlier ones: a handler may replace an SPC default
        this.byKey.set(key(e.opcode, e.serviceAction), e);
      }
    }
  }

  /** Service action of a CDB (byte 1 bits 4..0, or bytes 8..9 for 7Fh). */
  static serviceActionOf(cdb: Buffer): number | undefined {
    const op = cdb[0]!;
    if (op === 0x7f) return cdb.length >= 10 ? cdb.readUInt16BE(8) : undefined;
    return SERVICE_ACTION_OPCODES.has(op) ? (cdb[1] ?? 0) & 0x1f : undefined;
  }

  hasServiceActions(opcode: number): boolean {
    return this.saOpcodes.has(opcode);
  }

  /** The entry for a CDB, or the CheckCondition to report (20/00 unknown opcode, 24/00 unknown SA). */
  lookup(cdb: Buffer): CommandEntry | CheckCondition {
    const op = cdb[0]!;
    if (this.saOpcodes.has(op)) {
      const sa = CommandTable.serviceActionOf(cdb);
      const e = sa === undefined ? undefined : this.byKey.get(key(op, sa));
      if (e) return e;
      return op === 0x7f ? invalidCdbField(8) : invalidCdbField(1, 4);
    }
    return this.byKey.get(key(op, undefined)) ?? invalidOpcode();
  }

  /** Exact lookup by opcode and service action (for RSOC one-command form). */
  find(opcode: number, sa?: number): CommandEntry | undefined {
    return this.byKey.get(key(opcode, sa));
  }

  /** All entries ordered by opcode, then service action. */
  entries(): CommandEntry[] {
    return [...this.byKey.values()].sort((a, b) => key(a.opcode, a.serviceAction) - key(b.opcode, b.serviceAction));
  }
}

/** Convenience: usage mask for a CDB: opcode followed by masks; checks the length matches the group. */
export function usage(opcode: number, ...masks: number[]): number[] {
  const u = [opcode, ...masks];
  const expected = cdbLengthForOpcode(opcode);
  if (expected !== 0 && u.length !== expected) throw new Error(`usage for ${opcode.toString(16)}: ${u.length} bytes, want ${expected}`);
  return u;
}

/**
 * The first `length` bytes of the data-out. Less data than the CDB asks for (the initiator's
 * expected transfer length was short) is reported as 05/0E/03 INVALID FIELD IN COMMAND
 * INFORMATION UNIT without touching the medium; extra data is ignored (the link reports residuals).
 */
export function requireDataOut(ctx: CommandContext, length: number): Buffer {
  const d = ctx.cmd.dataOut;
  ctx.transfer.dataOutLength = length;
  if (length === 0) return Buffer.alloc(0);
  if (!d || d.length < length) {
    throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_COMMAND_IU);
  }
  return d.length === length ? d : d.subarray(0, length);
}

/**
 * Data-out for a medium write of `blocks` blocks. When the initiator sent less than the CDB asks
 * (its expected transfer length was short), only the whole blocks it did send are written and the
 * link reports the overflow residual, as SAM-5 and iSCSI allow; a partial block cannot be written,
 * so that case is 05/0E/03. Extra data is ignored (underflow residual).
 */
export function blockDataOut(ctx: CommandContext, blocks: number, blockSize: number): Buffer {
  const want = blocks * blockSize;
  ctx.transfer.dataOutLength = want;
  const d = ctx.cmd.dataOut ?? Buffer.alloc(0);
  if (d.length >= want) return d.length === want ? d : d.subarray(0, want);
  if (d.length % blockSize !== 0) throw new CheckCondition(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_COMMAND_IU);
  return d;
}
