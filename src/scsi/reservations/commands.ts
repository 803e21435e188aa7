// PERSISTENT RESERVE IN/OUT (SPC-4 §6.15/§6.16) and RESERVE/RELEASE(6)/(10) (SPC-2 §7.21-7.24):
// CDB and parameter list decoding over the Reservations state.
import type { ScsiResponse } from '../command.ts';
import { Asc, Op, SenseKey, Status } from '../constants.ts';
import { checkReserved, truncate, u16, u32 } from '../cdb.ts';
import { CheckCondition, invalidParamField, parameterListLength } from '../sense.ts';
import { requireDataOut, usage, type CommandContext, type CommandEntry } from '../table.ts';
import { ALLOW_COMMANDS } from './conflicts.ts';
import { ReservationConflict, type Reservations } from './state.ts';

export const PrIn = { READ_KEYS: 0, READ_RESERVATION: 1, REPORT_CAPABILITIES: 2, READ_FULL_STATUS: 3 } as const;
export const PrOut = {
  REGISTER: 0,
  RESERVE: 1,
  RELEASE: 2,
  CLEAR: 3,
  PREEMPT: 4,
  PREEMPT_AND_ABORT: 5,
  REGISTER_AND_IGNORE_EXISTING_KEY: 6,
  REGISTER_AND_MOVE: 7,
} as const;

/** What the commands need besides the state: persistence and task abort for PREEMPT AND ABORT. */
export interface ReservationServices {
  readonly state: Reservations;
  /** Makes the state durable when APTPL is (or was) active; resolves when done. */
  persist(wasAptpl: boolean): Promise<void>;
  /** PREEMPT AND ABORT: abort the tasks of these I_T nexuses on this LU. */
  abortTasks(nexusIds: readonly string[]): void;
}

const CONFLICT: ScsiResponse = Object.freeze({ status: Status.RESERVATION_CONFLICT });

// ---- PERSISTENT RESERVE IN

function header(generation: number, additional: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(generation >>> 0, 0);
  h.writeUInt32BE(additional, 4);
  return h;
}

function readKeys(s: Reservations): Buffer {
  const keys = Buffer.alloc(8 * s.registrations.length);
  s.registrations.forEach((r, i) => keys.writeBigUInt64BE(r.key, 8 * i));
  return Buffer.concat([header(s.generation, keys.length), keys]);
}

function readReservation(s: Reservations): Buffer {
  const res = s.reservation;
  if (!res) return header(s.generation, 0);
  const d = Buffer.alloc(16);
  // all-registrants reservations report key 0 (SPC-4 §6.15.3)
  d.writeBigUInt64BE(res.holder === null ? 0n : res.holder.key, 0);
  d[13] = res.type & 0x0f; // scope LU_SCOPE (0) in the high nibble
  return Buffer.concat([header(s.generation, 16), d]);
}

function reportCapabilities(s: Reservations): Buffer {
  const d = Buffer.alloc(8);
  d.writeUInt16BE(8, 0);
  // CRH (SPC-4 §5.9.3 exceptions honoured), SIP_C 0, ATP_C 1, PTPL_C per backing file
  d[2] = 0x10 | 0x04 | (s.persistCapable ? 0x01 : 0);
  d[3] = 0x80 | (ALLOW_COMMANDS << 4) | (s.aptpl ? 0x01 : 0); // TMV, ALLOW COMMANDS, PTPL_A
  // type mask: WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX | EX_AC_AR
  d[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;
  d[5] = 0x01;
  return d;
}

function readFullStatus(s: Reservations): Buffer {
  const res = s.reservation;
  const parts = s.registrations.map((r) => {
    const tid = r.transportId;
    const d = Buffer.alloc(24 + tid.length);
    d.writeBigUInt64BE(r.key, 0);
    const holder = !!res && (res.holder === null || res.holder === r);
    d[12] = (r.targetPort === null ? 0x02 : 0) | (holder ? 0x01 : 0);
    if (holder) d[13] = res!.type & 0x0f;
    d.writeUInt16BE(r.relativeTargetPort & 0xffff, 18);
    d.writeUInt32BE(tid.length, 20);
    tid.copy(d, 24);
    return d;
  });
  const body = Buffer.concat(parts);
  return Buffer.concat([header(s.generation, body.length), body]);
}

function prIn(svc: ReservationServices, sa: number) {
  return (ctx: CommandContext): Buffer => {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xe0);
    for (let i = 2; i <= 6; i++) checkReserved(cdb, i, 0xff);
    const alloc = u16(cdb, 7);
    const s = svc.state;
    let data: Buffer;
    switch (sa) {
      case PrIn.READ_KEYS:
        data = readKeys(s);
        break;
      case PrIn.READ_RESERVATION:
        data = readReservation(s);
        break;
      case PrIn.REPORT_CAPABILITIES:
        data = reportCapabilities(s);
        break;
      default:
        data = readFullStatus(s);
    }
    return truncate(data, alloc);
  };
}

// ---- PERSISTENT RESERVE OUT

/** Parses an iSCSI TransportID with an ISID (format 01b): the initiator port name it names. */
export function parseIscsiTransportId(b: Buffer, at: number): { initiatorPort: string; transportId: Buffer } {
  if (b.length < 4) throw invalidParamField(at);
  if ((b[0]! & 0x0f) !== 5) throw invalidParamField(at, 3); // protocol identifier: iSCSI only
  if (b[0]! >> 6 !== 1) throw invalidParamField(at, 7); // an I_T nexus needs the ISID form
  const addl = u16(b, 2);
  if (addl < 20 || addl % 4 !== 0 || 4 + addl > b.length) throw invalidParamField(at + 2);
  const raw = b.subarray(4, 4 + addl);
  const nul = raw.indexOf(0);
  const name = raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8');
  const m = /^(.+),i,0x([0-9a-f]{12})$/i.exec(name);
  if (!m) throw invalidParamField(at + 4);
  return { initiatorPort: `${m[1]},i,0x${m[2]!.toLowerCase()}`, transportId: Buffer.from(b.subarray(0, 4 + addl)) };
}

function prOut(svc: ReservationServices, sa: number) {
  return async (ctx: CommandContext): Promise<ScsiResponse | void> => {
    const cdb = ctx.cdb;
    checkReserved(cdb, 1, 0xe0);
    checkReserved(cdb, 3, 0xff);
    checkReserved(cdb, 4, 0xff);
    const scope = cdb[2]! >> 4;
    const type = cdb[2]! & 0x0f;
    const len = u32(cdb, 5);
    if (len < 24) throw parameterListLength(5);
    const s = svc.state;
    const n = ctx.cmd.nexus;
    const wasAptpl = s.aptpl;
    const p = requireDataOut(ctx, len);
    const rk = p.readBigUInt64BE(0);
    const sark = p.readBigUInt64BE(8);
    try {
      if (sa === PrOut.REGISTER_AND_MOVE) {
        if (p[16] !== 0) throw invalidParamField(16, 31 - Math.clz32(p[16]!));
        if ((p[17]! & 0xfc) !== 0) throw invalidParamField(17, 31 - Math.clz32(p[17]! & 0xfc));
        const tidLen = u32(p, 20);
        if (24 + tidLen > len) throw parameterListLength(5);
        const tid = parseIscsiTransportId(p.subarray(24, 24 + tidLen), 24);
        s.registerAndMove(n, {
          reservationKey: rk,
          serviceActionKey: sark,
          destInitiatorPort: tid.initiatorPort,
          destTransportId: tid.transportId,
          relativeTargetPort: u16(p, 18),
          unregister: (p[17]! & 0x02) !== 0,
          aptpl: (p[17]! & 0x01) !== 0,
        });
      } else {
        const flags = p[20]!;
        if ((flags & 0xf2) !== 0) throw invalidParamField(20, 31 - Math.clz32(flags & 0xf2));
        if (p[21] !== 0) throw invalidParamField(21, 31 - Math.clz32(p[21]!));
        // SPEC_I_PT is not supported (REPORT CAPABILITIES SIP_C = 0)
        if (flags & 0x08) throw invalidParamField(20, 3);
        if (len !== 24) throw parameterListLength(5);
        switch (sa) {
          case PrOut.REGISTER:
          case PrOut.REGISTER_AND_IGNORE_EXISTING_KEY:
            s.register(n, {
              reservationKey: rk,
              serviceActionKey: sark,
              ignoreExisting: sa === PrOut.REGISTER_AND_IGNORE_EXISTING_KEY,
              allTargetPorts: (flags & 0x04) !== 0,
              aptpl: (flags & 0x01) !== 0,
            });
            break;
          case PrOut.RESERVE:
            s.reserve(n, rk, scope, type);
            break;
          case PrOut.RELEASE:
            s.release(n, rk, scope, type);
            break;
          case PrOut.CLEAR:
            s.clear(n, rk);
            break;
          default: {
            const lost = s.preempt(n, rk, sark, scope, type);
            if (sa === PrOut.PREEMPT_AND_ABORT && lost.length > 0) svc.abortTasks(lost);
          }
        }
      }
    } catch (e) {
      if (e instanceof ReservationConflict) return { ...CONFLICT };
      throw e;
    }
    if (s.aptpl || wasAptpl) await svc.persist(wasAptpl);
  };
}

// ---- RESERVE / RELEASE (6) and (10)

function reserveRelease(svc: ReservationServices, reserve: boolean, ten: boolean) {
  return (ctx: CommandContext): ScsiResponse | void => {
    const cdb = ctx.cdb;
    // third-party reservations (3RDPTY, LONGID) and extents are not supported
    checkReserved(cdb, 1, ten ? 0x13 : 0x1f);
    try {
      if (reserve) svc.state.spc2Reserve(ctx.cmd.nexus);
      else svc.state.spc2Release(ctx.cmd.nexus);
    } catch (e) {
      if (e instanceof ReservationConflict) return { ...CONFLICT };
      throw e;
    }
  };
}

export function reservationCommands(svc: ReservationServices): CommandEntry[] {
  const prInUsage = usage(Op.PERSISTENT_RESERVE_IN, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07);
  const prOutUsage = usage(Op.PERSISTENT_RESERVE_OUT, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x07);
  const inNames = ['READ KEYS', 'READ RESERVATION', 'REPORT CAPABILITIES', 'READ FULL STATUS'];
  const outNames = ['REGISTER', 'RESERVE', 'RELEASE', 'CLEAR', 'PREEMPT', 'PREEMPT AND ABORT', 'REGISTER AND IGNORE EXISTING KEY', 'REGISTER AND MOVE'];
  const entries: CommandEntry[] = [];
  inNames.forEach((name, sa) =>
    entries.push({ opcode: Op.PERSISTENT_RESERVE_IN, serviceAction: sa, name: `PERSISTENT RESERVE IN (${name})`, usage: prInUsage, run: prIn(svc, sa) }),
  );
  outNames.forEach((name, sa) =>
    entries.push({ opcode: Op.PERSISTENT_RESERVE_OUT, serviceAction: sa, name: `PERSISTENT RESERVE OUT (${name})`, usage: prOutUsage, run: prOut(svc, sa) }),
  );
  entries.push(
    { opcode: Op.RESERVE_6, name: 'RESERVE(6)', usage: usage(Op.RESERVE_6, 0x1f, 0, 0, 0, 0x07), run: reserveRelease(svc, true, false) },
    { opcode: Op.RELEASE_6, name: 'RELEASE(6)', usage: usage(Op.RELEASE_6, 0x1f, 0, 0, 0, 0x07), run: reserveRelease(svc, false, false) },
    {
      opcode: Op.RESERVE_10,
      name: 'RESERVE(10)',
      usage: usage(Op.RESERVE_10, 0x13, 0, 0, 0, 0, 0, 0, 0, 0x07),
      run: reserveRelease(svc, true, true),
    },
    {
      opcode: Op.RELEASE_10,
      name: 'RELEASE(10)',
      usage: usage(Op.RELEASE_10, 0x13, 0, 0, 0, 0, 0, 0, 0, 0x07),
      run: reserveRelease(svc, false, true),
    },
  );
  return entries;
}

/** 05/44/00 for an APTPL file that could not be written. */
export function persistFailure(): CheckCondition {
  return new CheckCondition(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE);
}

