// Serves one logical unit as one SCST user-space device: one /dev/scst_user fd, registered once,
// driven entirely from the event loop. uv_poll says the fd is readable -> REPLY_AND_GET_MULTI
// (non-blocking: it returns at once) carrying every reply ready so far and fetching up to
// CMDS_PER_CALL subcommands -> each is handled at once (sessions, PARSE, ALLOC_MEM, frees, TM)
// or started on the LU (EXEC) -> replies produced in the same turn go out together in the next
// call. No thread ever blocks in the kernel; the kernel's own SCST work for the device runs inside
// these short ioctls, which is why a readable fd is always served promptly.
//
// A fatal error on the fd (poll failure, ENODEV, EFAULT...) closes it and registers the device
// again, then puts its LUN mappings back (closing makes the kernel delete them).
import {
  DEV_USER_NAME,
  SCST_USER_IOCTLS,
  decodeGetCmd,
  decodeGetMultiResult,
  encodeGetExtCdb,
  encodeGetMulti,
  encodePreallocBuffer,
  decodePreallocBufferCmdH,
  SIZES,
  type UserCmd,
} from '../../ffi/scst-user-abi.ts';
import { errnoName } from '../../ffi/libc.ts';
import type { LogicalUnit } from '../../scsi/command.ts';
import { BufferPool, PAGE_SIZE } from './buffer-pool.ts';
import { CMDS_PER_CALL, ControlBlock } from './control-block.ts';
import { Executor } from './exec.ts';
import { parseCommand } from './parse.ts';
import type { OpenPort, ScstUserPort } from './port.ts';
import { registerDevice, registrationFor, type DeviceRegistration, type MemoryReuse } from './registration.ts';
import { ReplyQueue } from './replies.ts';
import { SessionTable } from './sessions.ts';
import { ScstSysfs, type LunMapping } from './sysfs.ts';
import { abortScope, doneStatus, luFunction, tmName } from './task-mgmt.ts';
import type { VersionChoice } from './version-source.ts';

type Log = (level: 'error' | 'warn' | 'info' | 'debug', message: string) => void;

export interface DeviceServerOptions {
  readonly lu: LogicalUnit;
  readonly openPort: OpenPort;
  readonly versions: VersionChoice;
  readonly log: Log;
  readonly memoryReuse?: MemoryReuse;
  /** Buffers donated to the kernel's SGV cache at registration (PREALLOC_BUFFER), per pool. */
  readonly prealloc?: { readonly count: number; readonly bytes: number };
  /** Stop fetching commands while this many are in flight (the kernel queues the rest). */
  readonly maxInFlight?: number;
  readonly sysfs?: ScstSysfs;
  /** Re-registration after a fatal fd error: attempts and the first delay (doubled each time). */
  readonly restart?: { readonly attempts: number; readonly delayMs: number };
}

/** Calls per event-loop turn before yielding to other work (a busy device must not starve the loop). */
const MAX_CALLS_PER_TURN = 16;

export class DeviceServer {
  readonly lu: LogicalUnit;
  readonly registration: DeviceRegistration;
  readonly #o: DeviceServerOptions;
  readonly #sysfs: ScstSysfs;
  #port: ScstUserPort | undefined;
  #cb: ControlBlock | undefined;
  #pool = new BufferPool();
  readonly #sessions: SessionTable;
  readonly #replies = new ReplyQueue();
  #exec: Executor;
  #state: 'new' | 'serving' | 'draining' | 'restarting' | 'failed' | 'closed' = 'new';
  #watching = false;
  #pumping = false;
  #flushScheduled = false;
  #pendingTm = 0;
  #mappings: LunMapping[] = [];
  #restartTimer: NodeJS.Timeout | undefined;
  /** The version string the kernel accepted. */
  version = '';
  readonly stats = {
    ioctls: 0, wakeups: 0, replies: 0, replyErrors: 0, parses: 0, allocs: 0, onFree: 0, cachedFree: 0,
    attaches: 0, detaches: 0, tmReceived: 0, tmDone: 0, unknown: 0, registrations: 0, restarts: 0, preallocated: 0,
  };

  constructor(o: DeviceServerOptions) {
    this.#o = o;
    this.lu = o.lu;
    this.registration = registrationFor(o.lu, o.memoryReuse);
    this.#sysfs = o.sysfs ?? new ScstSysfs();
    this.#sessions = new SessionTable(o.lu.name, (t) => this.#sysfs.relativeTargetPort(t));
    this.#exec = this.#newExecutor();
  }

  get state(): string {
    return this.#state;
  }

  /** Opens the fd, registers the device and starts serving. Throws with the reason. */
  start(): void {
    if (this.#state !== 'new') throw new Error(`${this.lu.name}: already started`);
    this.#register();
  }

  #newExecutor(): Executor {
    return new Executor({ lu: this.lu, pool: this.#pool, sessions: this.#sessions, reply: (r) => this.#reply(r), log: this.#o.log });
  }

  #register(): void {
    const port = this.#o.openPort();
    const cb = new ControlBlock();
    try {
      this.version = registerDevice(port, cb, this.registration, this.#o.versions);
    } catch (e) {
      port.close();
      cb.dispose();
      throw e;
    }
    this.#port = port;
    this.#cb = cb;
    this.stats.registrations++;
    this.#state = 'serving';
    this.#preallocate();
    this.#updateWatch();
    this.#pump();
  }

  /** PREALLOC_BUFFER: page-aligned buffers handed to the kernel's SGV cache before any command. */
  #preallocate(): void {
    const p = this.#o.prealloc;
    if (!p || p.count <= 0) return;
    const cb = this.#cb!;
    const bytes = Math.max(PAGE_SIZE, 2 ** Math.ceil(Math.log2(p.bytes)));
    for (let i = 0; i < p.count * 2; i++) {
      const buf = this.#pool.lend(bytes);
      if (!buf) break;
      encodePreallocBuffer(cb.dv, cb.argOffset, buf.address, bytes, i % 2);
      const rc = this.#port!.ioctl(SCST_USER_IOCTLS.SCST_USER_PREALLOC_BUFFER, cb.argAddress);
      if (rc < 0) {
        this.#pool.release(buf.address);
        this.#o.log('warn', `${this.lu.name}: PREALLOC_BUFFER of ${bytes} bytes: ${errnoName(-rc)}`);
        break;
      }
      this.stats.preallocated++;
      this.#o.log('debug', `${this.lu.name}: preallocated ${bytes} bytes as cmd_h ${decodePreallocBufferCmdH(cb.dv, cb.argOffset)}`);
    }
  }

  // ---- the loop --------------------------------------------------------------------------

  #wantCommands(): boolean {
    return this.#state === 'serving' && this.#exec.inFlight < (this.#o.maxInFlight ?? 512);
  }

  /** Watch the fd only while we fetch commands: a level-triggered poll we ignore would spin. */
  #updateWatch(): void {
    const want = this.#wantCommands() && this.#port !== undefined;
    if (want === this.#watching) return;
    if (want) {
      this.#port!.watch((status) => this.#onWake(status));
    } else {
      this.#port?.unwatch();
    }
    this.#watching = want;
  }

  #onWake(status: number): void {
    if (status < 0) {
      this.#fatal(`poll failed (status ${status})`);
      return;
    }
    this.stats.wakeups++;
    this.#pump();
  }

  #reply(r: Parameters<ReplyQueue['push']>[0]): void {
    this.#replies.push(r);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#pumping || !this.#port || (this.#state !== 'serving' && this.#state !== 'draining')) return;
    this.#pumping = true;
    try {
      for (let calls = 0; ; calls++) {
        const fetch = this.#wantCommands() ? CMDS_PER_CALL : 0;
        const cb = this.#cb!;
        const staged = this.#replies.stage(cb);
        if (staged === 0 && fetch === 0) break;
        if (calls >= MAX_CALLS_PER_TURN) {
          setImmediate(() => this.#pump());
          break;
        }
        encodeGetMulti(cb.dv, cb.multiOffset, cb.repliesAddress, staged, fetch);
        const rc = this.#port.ioctl(SCST_USER_IOCTLS.SCST_USER_REPLY_AND_GET_MULTI, cb.multiAddress);
        this.stats.ioctls++;
        const { replies_done, cmds_cnt } = decodeGetMultiResult(cb.dv, cb.multiOffset);
        const s = this.#replies.settle(staged, rc, replies_done);
        this.stats.replies += s.consumed;
        if (s.dropped) {
          this.stats.replyErrors++;
          const r = s.dropped.reply;
          this.#o.log('warn', `${this.lu.name}: the kernel refused the ${r.kind} reply for cmd_h ${r.cmd_h} (${errnoName(s.dropped.errno)}); sending the others again`);
        }
        if (s.fatal !== undefined) {
          this.#fatal(`REPLY_AND_GET_MULTI: ${errnoName(s.fatal)}`);
          return;
        }
        const got = rc >= 0 ? Math.max(0, Math.min(cmds_cnt, fetch)) : 0;
        for (let i = 0; i < got; i++) this.#dispatch(decodeGetCmd(cb.dv, cb.slotOffset(i)));
        if (this.#port === undefined) return; // a dispatch hit a fatal error
        const more = (got === fetch && fetch > 0) || s.again || this.#replies.length > 0;
        if (!more) break;
      }
    } finally {
      this.#pumping = false;
    }
    this.#updateWatch();
  }

  // ---- subcommands ----------------------------------------------------------------------

  #dispatch(c: UserCmd): void {
    const name = this.lu.name;
    switch (c.kind) {
      case 'exec':
        this.#exec.start(c, this.#fullCdb(c.cmd_h, c.cdb, c.cdb_len));
        return;
      case 'alloc_mem': {
        this.stats.allocs++;
        const buf = this.#pool.lend(c.alloc_len);
        if (!buf) this.#o.log('warn', `${name}: no memory for a ${c.alloc_len}-byte buffer; the command fails BUSY`);
        this.#reply({ kind: 'alloc', cmd_h: c.cmd_h, pbuf: buf?.address ?? 0n });
        return;
      }
      case 'on_free':
        this.stats.onFree++;
        // A cached buffer stays with the kernel until ON_CACHED_MEM_FREE.
        if (!c.buffer_cached && c.pbuf !== 0n) this.#pool.release(c.pbuf);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
        return;
      case 'on_cached_mem_free':
        this.stats.cachedFree++;
        if (!this.#pool.release(c.pbuf)) this.#o.log('warn', `${name}: ON_CACHED_MEM_FREE for 0x${c.pbuf.toString(16)}, which we did not lend`);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
        return;
      case 'parse': {
        this.stats.parses++;
        const cdb = this.#fullCdb(c.cmd_h, c.cdb, c.cdb_len) ?? Buffer.from(c.cdb);
        const d = parseCommand(c, cdb, this.lu.peripheralType, {
          blockSize: this.registration.blockSize,
          fixedBlockLength: () => {
            const v = this.lu.describe().blockLength;
            return typeof v === 'number' ? v : undefined;
          },
        });
        this.#reply({ kind: 'parse', cmd_h: c.cmd_h, reply: d.reply });
        return;
      }
      case 'attach_sess': {
        this.stats.attaches++;
        const { session, replaced } = this.#sessions.attach(c);
        if (replaced) this.lu.nexusLost(replaced.nexus);
        this.#o.log('info', `${name}: session ${session.initiator} -> ${session.target} LUN ${session.lun}${session.readOnly ? ' (read-only)' : ''}`);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
        void this.#sysfs.exportsOf(name).then((m) => {
          if (m.length > 0) this.#mappings = m;
        });
        return;
      }
      case 'detach_sess': {
        this.stats.detaches++;
        const s = this.#sessions.detach(c.sess_h);
        if (s) this.lu.nexusLost(s.nexus);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
        return;
      }
      case 'tm_received': {
        this.stats.tmReceived++;
        const n = this.#exec.abort(abortScope(c.fn, c.cmd_h_to_abort), this.#sessions.get(c.sess_h), `aborted by ${tmName(c.fn)}`);
        this.#o.log('info', `${name}: task management ${tmName(c.fn)}: ${n} command(s) in flight aborted`);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
        return;
      }
      case 'tm_done':
        this.stats.tmDone++;
        this.#tmDone(c.cmd_h, c.subcode, c.fn, c.sess_h);
        return;
      case 'ext_copy_remap':
        this.#reply({ kind: 'remap', cmd_h: c.cmd_h });
        return;
      default: {
        // Not a subcommand this ABI knows. Echo it with an empty payload so the kernel is not
        // left waiting for a reply; whatever it was, we did nothing.
        this.stats.unknown++;
        this.#o.log('warn', `${name}: unknown subcommand 0x${c.subcode.toString(16)} (cmd_h ${c.cmd_h}); answered with an empty reply`);
        this.#reply({ kind: 'result', cmd_h: c.cmd_h, subcode: c.subcode, result: 0 });
      }
    }
  }

  /** TASK_MGMT_DONE: the affected commands are answered; the LU now performs the function. */
  #tmDone(cmdH: number, subcode: number, fn: number, sessH: bigint): void {
    const f = luFunction(fn);
    const session = this.#sessions.get(sessH);
    const reply = (failed: boolean) => this.#reply({ kind: 'result', cmd_h: cmdH, subcode, result: doneStatus(fn, failed) });
    if (!f || !session) {
      reply(false);
      return;
    }
    this.#pendingTm++;
    this.lu.taskManagement(f, session.nexus).then(
      () => reply(false),
      (e: Error) => {
        this.#o.log('warn', `${this.lu.name}: ${tmName(fn)}: ${e.message}`);
        reply(true);
      },
    ).finally(() => this.#pendingTm--);
  }

  /** The whole CDB: the 16 inline bytes plus GET_EXTENDED_CDB for longer ones (undefined if that fails). */
  #fullCdb(cmdH: number, inline: Uint8Array, cdbLen: number): Buffer | undefined {
    if (cdbLen <= SIZES.SCST_MAX_CDB_SIZE) return Buffer.from(inline.buffer, inline.byteOffset, inline.byteLength);
    const cb = this.#cb!;
    encodeGetExtCdb(cb.dv, cb.argOffset, cmdH, cb.extCdbAddress);
    const rc = this.#port!.ioctl(SCST_USER_IOCTLS.SCST_USER_GET_EXTENDED_CDB, cb.argAddress);
    if (rc < 0) {
      this.#o.log('error', `${this.lu.name}: GET_EXTENDED_CDB cmd_h ${cmdH}: ${errnoName(-rc)}`);
      return undefined;
    }
    return Buffer.concat([inline, cb.extCdb(cdbLen - SIZES.SCST_MAX_CDB_SIZE)]);
  }

  /** The LU's capacity changed: the kernel raises CAPACITY DATA HAS CHANGED (disks only). */
  capacityChanged(): void {
    if (!this.#port || this.#state !== 'serving') return;
    const rc = this.#port.ioctl(SCST_USER_IOCTLS.SCST_USER_DEVICE_CAPACITY_CHANGED, 0n);
    if (rc < 0) this.#o.log('warn', `${this.lu.name}: DEVICE_CAPACITY_CHANGED: ${errnoName(-rc)}`);
  }

  // ---- failure, restart, shutdown -------------------------------------------------------

  /** Drops the fd and everything tied to it; the kernel fails what it still holds. */
  #teardown(why: string): void {
    this.#port?.unwatch();
    this.#watching = false;
    this.#port?.close();
    this.#port = undefined;
    this.#exec.dropAll(why);
    this.#replies.clear();
    for (const s of this.#sessions.clear()) this.lu.nexusLost(s.nexus);
    // Buffers the old registration had are never reused: the kernel may still hold pins on them.
    this.#pool.dispose();
    this.#pool = new BufferPool();
    this.#exec = this.#newExecutor();
    this.#cb?.dispose();
    this.#cb = undefined;
  }

  #fatal(why: string): void {
    if (this.#state !== 'serving' && this.#state !== 'draining') return;
    const draining = this.#state === 'draining';
    this.#o.log('error', `${this.lu.name}: ${DEV_USER_NAME} ${why}; ${draining ? 'closing' : 're-registering'}`);
    this.#state = draining ? 'closed' : 'restarting';
    // Mappings as they are now (the device may still be registered), else the last ones seen.
    const snapshot = this.#sysfs.exportsOf(this.lu.name);
    this.#teardown(why);
    if (draining) return;
    void snapshot.then((m) => {
      if (m.length > 0) this.#mappings = m;
      this.#scheduleRestart(0);
    });
  }

  #scheduleRestart(attempt: number): void {
    const r = this.#o.restart ?? { attempts: 5, delayMs: 1000 };
    if (this.#state !== 'restarting') return;
    if (attempt >= r.attempts) {
      this.#state = 'failed';
      this.#o.log('error', `${this.lu.name}: gave up re-registering after ${attempt} attempts`);
      return;
    }
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#state !== 'restarting') return;
      try {
        this.#register();
      } catch (e) {
        this.#o.log('warn', `${this.lu.name}: re-registration failed: ${(e as Error).message}`);
        this.#scheduleRestart(attempt + 1);
        return;
      }
      this.stats.restarts++;
      this.#o.log('warn', `${this.lu.name}: registered again with SCST`);
      if (this.#mappings.length > 0) {
        void this.#sysfs.restore(this.lu.name, this.#mappings).then((errors) => {
          for (const e of errors) this.#o.log('warn', `${this.lu.name}: LUN not restored: ${e}`);
          if (errors.length === 0) this.#o.log('info', `${this.lu.name}: ${this.#mappings.length} LUN mapping(s) restored`);
        });
      } else {
        this.#o.log('warn', `${this.lu.name}: no LUN mapping known; add the device to its targets again (scstadmin)`);
      }
    }, attempt === 0 ? 0 : r.delayMs * 2 ** (attempt - 1));
  }

  /**
   * Answers what is in flight (up to timeoutMs), sends the last replies without fetching more,
   * then closes the fd: the kernel unregisters the device and fails what it still queued (BUSY).
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    if (this.#state === 'closed') return;
    if (this.#state === 'serving') {
      this.#state = 'draining';
      this.#updateWatch();
      const done = await this.#exec.idle(timeoutMs);
      await this.#tmIdle(timeoutMs);
      this.#pump();
      if (!done) this.#o.log('warn', `${this.lu.name}: ${this.#exec.inFlight} command(s) still in flight at close`);
    }
    this.#state = 'closed';
    this.#teardown('link closing');
    this.#pool.dispose();
  }

  async #tmIdle(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.#pendingTm > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  }

  describe(): Record<string, unknown> {
    return {
      name: this.lu.name,
      state: this.#state,
      parse: this.registration.parseType,
      memoryReuse: this.registration.memoryReuse,
      sessions: this.#sessions.size,
      inFlight: this.#exec.inFlight,
      pendingReplies: this.#replies.length,
      ...this.stats,
      exec: { ...this.#exec.stats },
      buffers: this.#pool.stats(),
    };
  }

  /** For tests and the status line: the session table and buffer pool as they are. */
  get sessions(): SessionTable {
    return this.#sessions;
  }
  get pool(): BufferPool {
    return this.#pool;
  }
  get exec(): Executor {
    return this.#exec;
  }
}
