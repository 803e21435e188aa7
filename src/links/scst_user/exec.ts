// EXEC: one SCSI command run on the logical unit with its data in place in the pinned buffer.
// Data-out is a view of the buffer the target driver already filled; data-in is written into the
// buffer the kernel named (a cache hit) or one we lend it in the reply (EXEC with pbuf 0). Every
// EXEC gets exactly one reply, also when it was aborted: the kernel waits for it, then discards
// the result of an aborted command itself.
import { DATA_DIRECTION, type ExecCmd } from '../../ffi/scst-user-abi.ts';
import type { LogicalUnit, ScsiCommand, ScsiResponse, TaskAttribute } from '../../scsi/command.ts';
import { Asc, DeviceType, SenseKey, Status } from '../../scsi/constants.ts';
import { fixedSense } from '../../scsi/sense.ts';
import { transferOf } from '../../scsi/transfer.ts';
import type { BufferPool, NativeBuffer } from './buffer-pool.ts';
import type { PendingReply } from './replies.ts';
import type { Session, SessionTable } from './sessions.ts';
import type { AbortScope } from './task-mgmt.ts';
import { IdleWaiters } from '../idle-waiters.ts';
import { copyDataIn, releaseData } from '../../scsi/data-in.ts';
import { scstCoreUas, unitAttentionOf } from './unit-attentions.ts';
import type { ExternalUa } from '../../scsi/unit-attention.ts';

const INTERNAL_FAILURE = fixedSense(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE);
const WRITE_PROTECTED = fixedSense(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);

const hex = (n: number): string => n.toString(16).padStart(2, '0');

const ATTRIBUTES: readonly TaskAttribute[] = ['untagged', 'simple', 'ordered', 'head-of-queue', 'aca'];
export const attributeOf = (queueType: number): TaskAttribute => ATTRIBUTES[queueType] ?? 'simple';

/**
 * A read-only LUN (per session) reports WP in the mode parameter header, as SCST's vdisk does:
 * byte 2 of MODE SENSE(6) data, byte 3 of MODE SENSE(10) (SBC and SSC device-specific parameter).
 */
export function markWriteProtected(cdb: Buffer, data: Buffer, peripheralType: number): void {
  if (peripheralType !== DeviceType.DISK && peripheralType !== DeviceType.TAPE) return;
  const at = cdb[0] === 0x1a ? 2 : cdb[0] === 0x5a ? 3 : -1;
  if (at >= 0 && data.length > at) data[at]! |= 0x80;
}

interface Running {
  readonly c: ExecCmd;
  readonly session: Session;
  readonly ac: AbortController;
  readonly buffer: NativeBuffer | undefined;
  readonly cdb: Buffer;
}

export interface ExecutorOptions {
  readonly lu: LogicalUnit;
  readonly pool: BufferPool;
  readonly sessions: SessionTable;
  readonly reply: (r: PendingReply) => void;
  readonly log: (level: 'error' | 'warn' | 'info' | 'debug', message: string) => void;
}

export class Executor {
  readonly #o: ExecutorOptions;
  readonly #running = new Map<number, Running>();
  readonly #idle = new IdleWaiters();
  readonly #coreUa: ExternalUa;
  readonly stats = { commands: 0, aborted: 0, failed: 0, busy: 0, dropped: 0, dataIn: 0, dataOut: 0, coreUasWithheld: 0 };

  constructor(o: ExecutorOptions) {
    this.#o = o;
    this.#coreUa = scstCoreUas(o.lu.peripheralType);
  }

  get inFlight(): number {
    return this.#running.size;
  }

  /** Starts an EXEC; cdb is the whole CDB (inline bytes plus GET_EXTENDED_CDB), or undefined if lost. */
  start(c: ExecCmd, cdb: Buffer | undefined): void {
    this.stats.commands++;
    const o = this.#o;
    const session = o.sessions.get(c.sess_h);
    if (!session || !cdb) {
      o.log('error', `${o.lu.name}: EXEC cmd_h ${c.cmd_h}: ${!session ? `unknown session ${c.sess_h.toString(16)}` : 'extended CDB unavailable'}`);
      return this.#fail(c, INTERNAL_FAILURE);
    }
    let buffer: NativeBuffer | undefined;
    if (c.pbuf !== 0n) {
      buffer = o.pool.lentAt(c.pbuf);
      if (!buffer) {
        o.log('error', `${o.lu.name}: EXEC cmd_h ${c.cmd_h}: buffer 0x${c.pbuf.toString(16)} is not one we lent the kernel`);
        return this.#fail(c, INTERNAL_FAILURE);
      }
    }
    const dir = c.data_direction;
    let dataOut: Buffer | undefined;
    if (dir === DATA_DIRECTION.SCST_DATA_WRITE || dir === DATA_DIRECTION.SCST_DATA_BIDI) {
      const off = dir === DATA_DIRECTION.SCST_DATA_BIDI ? Number(c.p_out_buf - c.pbuf) : 0;
      const len = dir === DATA_DIRECTION.SCST_DATA_BIDI ? c.out_bufflen : c.bufflen;
      if (!buffer || off < 0 || off + len > buffer.length) {
        o.log('error', `${o.lu.name}: EXEC cmd_h ${c.cmd_h}: data-out of ${len} bytes does not fit the buffer`);
        return this.#fail(c, INTERNAL_FAILURE);
      }
      dataOut = buffer.bytes.subarray(off, off + len);
      this.stats.dataOut += len;
    }
    // The core refuses medium writes on a read-only LUN already; this covers what it did not
    // classify (commands we sized in PARSE are flagged WRITE_MEDIUM there too).
    if (session.readOnly && transferOf(cdb, o.lu.peripheralType, { blockSize: 512 })?.mediumWrite) {
      return this.#fail(c, WRITE_PROTECTED);
    }
    const ac = new AbortController();
    const running: Running = { c, session, ac, buffer, cdb };
    this.#running.set(c.cmd_h, running);
    const sc: ScsiCommand = {
      cdb,
      nexus: session.nexus,
      lun: session.lun,
      tag: c.cmd_h,
      attribute: attributeOf(c.queue_type),
      expectedLength: dir === DATA_DIRECTION.SCST_DATA_NONE ? 0 : c.bufflen,
      dataOut,
      signal: ac.signal,
    };
    let p: Promise<ScsiResponse>;
    try {
      p = o.lu.execute(sc);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (r) => this.#finish(running, r),
      (e: unknown) => {
        o.log('error', `${o.lu.name}: execute threw for opcode ${cdb[0]!.toString(16)}h: ${(e as Error)?.message ?? String(e)}`);
        this.#finish(running, { status: Status.CHECK_CONDITION, sense: INTERNAL_FAILURE });
      },
    );
  }

  #fail(c: ExecCmd, sense: Buffer): void {
    this.stats.failed++;
    this.#o.reply({ kind: 'exec', cmd_h: c.cmd_h, status: Status.CHECK_CONDITION, resp_data_len: 0, pbuf: 0n, sense });
  }

  #finish(running: Running, r: ScsiResponse): void {
    const { c } = running;
    if (this.#running.get(c.cmd_h) !== running) {
      releaseData(r.data); // dropped: the fd went away meanwhile
      return;
    }
    this.#running.delete(c.cmd_h);
    try {
      this.#reply(running, r);
    } finally {
      releaseData(r.data); // pinned cache pages: copied into the kernel's buffer by now
    }
  }

  #reply(running: Running, r: ScsiResponse): void {
    const { c } = running;
    let status = r.status;
    let sense = r.sense;
    let resp = 0;
    let pbuf = 0n;
    const data = r.data;
    // Data-in only for READ: the kernel refuses resp_data_len on any other direction.
    if (c.data_direction === DATA_DIRECTION.SCST_DATA_READ && data && data.length > 0 && c.bufflen > 0) {
      let buffer = running.buffer;
      if (!buffer) {
        buffer = this.#o.pool.lend(c.alloc_len > 0 ? c.alloc_len : c.bufflen);
        if (buffer) pbuf = buffer.address;
      }
      if (buffer) {
        resp = copyDataIn(data, buffer.bytes, Math.min(c.bufflen, buffer.length));
        if (running.session.readOnly && status === Status.GOOD) markWriteProtected(running.cdb, buffer.bytes.subarray(0, resp), this.#o.lu.peripheralType);
        this.stats.dataIn += resp;
      } else {
        this.stats.busy++;
        status = Status.BUSY;
        sense = undefined;
      }
    }
    if (running.ac.signal.aborted) this.stats.aborted++;
    const ua = status === Status.CHECK_CONDITION ? unitAttentionOf(sense) : undefined;
    if (ua && this.#coreUa(ua)) {
      // A UA the core owns would crash it (29h) or be doubled (unit-attentions.ts). The LU did not
      // run the command; BUSY makes the initiator send it again.
      this.stats.coreUasWithheld++;
      this.#o.log('error', `${this.#o.lu.name}: withheld UNIT ATTENTION ${hex(ua.asc)}/${hex(ua.ascq)} from SCST's core (it keeps that one itself); answered BUSY`);
      status = Status.BUSY;
      sense = undefined;
    } else if (ua) {
      // The core copies it to the device's other sessions: they must not get ours as well.
      this.#o.lu.ua?.clearOthers(running.session.nexus.id, ua);
    }
    this.#o.reply({ kind: 'exec', cmd_h: c.cmd_h, status, resp_data_len: resp, pbuf, sense });
    if (this.#running.size === 0) this.#idle.wake();
  }

  /** TASK_MGMT_RECEIVED: signal the commands the function aborts; they still get their replies. */
  abort(scope: AbortScope, session: Session | undefined, why: string): number {
    let n = 0;
    for (const r of this.#running.values()) {
      const hit =
        scope.kind === 'all' ||
        (scope.kind === 'task' && r.c.cmd_h === scope.cmdH) ||
        (scope.kind === 'session' && session !== undefined && r.session === session);
      if (hit && !r.ac.signal.aborted) {
        r.ac.abort(new Error(why));
        n++;
      }
    }
    return n;
  }

  /** Resolves when nothing is in flight, or false after timeoutMs. */
  idle(timeoutMs: number): Promise<boolean> {
    return this.#idle.wait(this.#running.size > 0, timeoutMs);
  }


  /** The fd is gone: forget every running command (their late answers are ignored). */
  dropAll(why: string): number {
    const n = this.#running.size;
    for (const r of this.#running.values()) r.ac.abort(new Error(why));
    this.#running.clear();
    this.stats.dropped += n;
    this.#idle.wake();
    return n;
  }

}
